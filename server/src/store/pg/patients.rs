//! Patient profiles, and care scope read from the appointments themselves
//! (plus links granted without one).

use async_trait::async_trait;
use tokio_postgres::types::Json;
use uuid::Uuid;

use super::{PgTx, doc, id_after, id_cursor, limit_of};
use crate::scope::CareScope;
use crate::store::backend::{Patients, Rows};
use crate::store::{Cursor, PatientRow, Result};

#[async_trait]
impl Patients for PgTx<'_> {
    async fn patient(&mut self, id: Uuid) -> Result<Option<PatientRow>> {
        let sql = format!("SELECT doc FROM patients WHERE id = $1{}", self.lock());
        self.query_opt(&sql, &[&id]).await?.map(|r| doc(&r, "doc")).transpose()
    }

    async fn patient_id_of_user(&mut self, user_id: Uuid) -> Result<Option<Uuid>> {
        Ok(self.query_opt("SELECT id FROM patients WHERE user_id = $1", &[&user_id]).await?.map(|r| r.get(0)))
    }

    async fn patients(&mut self, after: Option<&Cursor>, limit: usize) -> Result<Rows<PatientRow>> {
        let rows = self
            .query(
                "SELECT id, doc FROM patients WHERE ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2",
                &[&id_after(after)?, &limit_of(limit)],
            )
            .await?;
        rows.iter().map(|r| Ok((id_cursor(r.get(0)), doc(r, "doc")?))).collect()
    }

    async fn put_patient(&mut self, row: &PatientRow) -> Result<()> {
        self.execute(
            "INSERT INTO patients (id, user_id, doc) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET user_id = $2, doc = $3",
            &[&row.id, &row.user_id, &Json(row)],
        )
        .await?;
        self.done.accounts = true;
        Ok(())
    }

    async fn cares_for(&mut self, scope: &CareScope, patient: Uuid) -> Result<bool> {
        let row = match scope {
            CareScope::Doctor(d) => {
                self.query_opt(
                    "SELECT 1 WHERE EXISTS (SELECT 1 FROM appointments WHERE doctor_id = $1 AND patient_id = $2 AND status NOT IN ('cancelled', 'held'))
                        OR EXISTS (SELECT 1 FROM care_links WHERE doctor_id = $1 AND patient_id = $2)",
                    &[d, &patient],
                )
                .await?
            }
            CareScope::Department(code) => {
                self.query_opt(
                    "SELECT 1 WHERE EXISTS (SELECT 1 FROM appointments WHERE department = $1 AND patient_id = $2 AND status NOT IN ('cancelled', 'held'))
                        OR EXISTS (SELECT 1 FROM care_links WHERE department = $1 AND patient_id = $2)",
                    &[code, &patient],
                )
                .await?
            }
        };
        Ok(row.is_some())
    }

    async fn patients_in_care(&mut self, scope: &CareScope, after: Option<Uuid>, limit: usize) -> Result<Vec<Uuid>> {
        let (column, owner): (&str, &(dyn tokio_postgres::types::ToSql + Sync)) = match scope {
            CareScope::Doctor(d) => ("doctor_id", d),
            CareScope::Department(code) => ("department", code),
        };
        let sql = format!(
            "SELECT patient_id FROM (
                 SELECT patient_id FROM appointments WHERE {column} = $1 AND status NOT IN ('cancelled', 'held')
                 UNION SELECT patient_id FROM care_links WHERE {column} = $1
             ) care WHERE ($2::uuid IS NULL OR patient_id > $2) ORDER BY patient_id LIMIT $3"
        );
        let rows = self.query(&sql, &[owner, &after, &limit_of(limit)]).await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn link_care(&mut self, doctor: Uuid, dept: &str, patient: Uuid, link: Uuid) -> Result<()> {
        self.execute(
            "INSERT INTO care_links (link_id, doctor_id, department, patient_id) VALUES ($1, $2, $3, $4)",
            &[&link, &doctor, &dept, &patient],
        )
        .await?;
        Ok(())
    }
}
