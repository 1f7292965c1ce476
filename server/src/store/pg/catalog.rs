//! Appointment types and resources: JSON documents with the columns their
//! unique names need.

use async_trait::async_trait;
use tokio_postgres::types::Json;
use uuid::Uuid;

use healthsynx_shared::{AppointmentType, Resource};

use super::{PgTx, doc};
use crate::store::Result;
use crate::store::backend::Catalog;

#[async_trait]
impl Catalog for PgTx<'_> {
    async fn appointment_types(&mut self) -> Result<Vec<AppointmentType>> {
        let rows = self.query("SELECT doc FROM appointment_types ORDER BY department, name, id", &[]).await?;
        rows.iter().map(|r| doc(r, "doc")).collect()
    }

    async fn appointment_type(&mut self, id: Uuid) -> Result<Option<AppointmentType>> {
        let sql = format!("SELECT doc FROM appointment_types WHERE id = $1{}", self.lock());
        self.query_opt(&sql, &[&id]).await?.map(|r| doc(&r, "doc")).transpose()
    }

    async fn put_appointment_type(&mut self, t: &AppointmentType) -> Result<()> {
        // Nothing above the backend caches types or resources: no announcement.
        self.execute(
            "INSERT INTO appointment_types (id, department, name, doc) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET name = $3, doc = $4",
            &[&t.id, &t.department, &t.name, &Json(t)],
        )
        .await?;
        Ok(())
    }

    async fn resources(&mut self) -> Result<Vec<Resource>> {
        let rows = self.query("SELECT doc FROM resources ORDER BY department, kind, name, id", &[]).await?;
        rows.iter().map(|r| doc(r, "doc")).collect()
    }

    async fn resource(&mut self, id: Uuid) -> Result<Option<Resource>> {
        let sql = format!("SELECT doc FROM resources WHERE id = $1{}", self.lock());
        self.query_opt(&sql, &[&id]).await?.map(|r| doc(&r, "doc")).transpose()
    }

    async fn put_resource(&mut self, r: &Resource) -> Result<()> {
        self.execute(
            "INSERT INTO resources (id, department, kind, name, doc) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (id) DO UPDATE SET name = $4, doc = $5",
            &[&r.id, &r.department, &r.kind, &r.name, &Json(r)],
        )
        .await?;
        Ok(())
    }

    async fn hold_resources(&mut self, department: &str, kind: &str) -> Result<()> {
        // Its own key space (3): taken after a patient's bookings (2) and
        // before the overlap locks (1), in every transaction alike.
        let key = format!("{department}/{kind}");
        self.query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 3))", &[&key]).await.map(drop)
    }
}
