//! Medical records: the newest version with the columns lists are read
//! by, and every version beside it.

use async_trait::async_trait;
use tokio_postgres::types::Json;
use uuid::Uuid;

use super::{PgTx, doc, id_after, id_cursor, limit_of, time_after, time_cursor};
use crate::store::backend::{Records, Rows};
use crate::store::{Cursor, RecordRow, Result};

impl PgTx<'_> {
    async fn put_version(&mut self, row: &RecordRow) -> Result<()> {
        let version = row.version as i64;
        self.execute(
            "INSERT INTO record_versions (id, version, doc) VALUES ($1, $2, $3)
             ON CONFLICT (id, version) DO UPDATE SET doc = $3",
            &[&row.id, &version, &Json(row)],
        )
        .await?;
        Ok(())
    }

    async fn put_current(&mut self, row: &RecordRow) -> Result<()> {
        self.execute(
            "INSERT INTO records (id, appointment_id, patient_id, created_at, doc) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET doc = $5",
            &[&row.id, &row.appointment_id, &row.patient_id, &row.created_at, &Json(row)],
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl Records for PgTx<'_> {
    async fn record(&mut self, id: Uuid) -> Result<Option<RecordRow>> {
        let sql = format!("SELECT doc FROM records WHERE id = $1{}", self.lock());
        self.query_opt(&sql, &[&id]).await?.map(|r| doc(&r, "doc")).transpose()
    }

    async fn record_versions(&mut self, id: Uuid) -> Result<Vec<RecordRow>> {
        let rows = self.query("SELECT doc FROM record_versions WHERE id = $1 ORDER BY version", &[&id]).await?;
        rows.iter().map(|r| doc(r, "doc")).collect()
    }

    async fn put_record(&mut self, row: &RecordRow, _is_new: bool) -> Result<()> {
        self.put_version(row).await?;
        self.put_current(row).await
    }

    async fn rewrite_record_versions(&mut self, current: &RecordRow, versions: &[RecordRow]) -> Result<()> {
        for v in versions {
            self.put_version(v).await?;
        }
        self.put_current(current).await
    }

    async fn records(&mut self, after: Option<&Cursor>, limit: usize) -> Result<Rows<RecordRow>> {
        let rows = self
            .query(
                "SELECT id, doc FROM records WHERE ($1::uuid IS NULL OR id > $1) ORDER BY id LIMIT $2",
                &[&id_after(after)?, &limit_of(limit)],
            )
            .await?;
        rows.iter().map(|r| Ok((id_cursor(r.get(0)), doc(r, "doc")?))).collect()
    }

    async fn records_of_patient(
        &mut self,
        patient: Uuid,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Rows<RecordRow>> {
        let after = time_after(after)?;
        let (t, id) = (after.map(|a| a.0), after.map(|a| a.1));
        let rows = self
            .query(
                "SELECT doc FROM records WHERE patient_id = $1
                 AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3)) ORDER BY created_at, id LIMIT $4",
                &[&patient, &t, &id, &limit_of(limit)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let row: RecordRow = doc(r, "doc")?;
                Ok((time_cursor(row.created_at, row.id), row))
            })
            .collect()
    }

    async fn records_of_appointment(
        &mut self,
        appt: Uuid,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Rows<RecordRow>> {
        let rows = self
            .query(
                "SELECT id, doc FROM records WHERE appointment_id = $1 AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3",
                &[&appt, &id_after(after)?, &limit_of(limit)],
            )
            .await?;
        rows.iter().map(|r| Ok((id_cursor(r.get(0)), doc(r, "doc")?))).collect()
    }
}
