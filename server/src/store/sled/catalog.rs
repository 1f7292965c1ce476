//! Appointment types and resources as sled rows (JSON by id). They are few,
//! so lists read them all and sort.

use async_trait::async_trait;
use uuid::Uuid;

use healthsynx_shared::{AppointmentType, Resource};

use super::{SledTx, T, decode};
use crate::store::Result;
use crate::store::backend::Catalog;

impl SledTx<'_> {
    pub(super) fn all<V: serde::de::DeserializeOwned>(&self, t: T) -> Result<Vec<V>> {
        self.s.tree(t).iter().values().map(|v| decode(&v?)).collect()
    }
}

#[async_trait]
impl Catalog for SledTx<'_> {
    async fn appointment_types(&mut self) -> Result<Vec<AppointmentType>> {
        let mut all: Vec<AppointmentType> = self.all(T::AppointmentTypes)?;
        all.sort_by(|a, b| (&a.department, &a.name).cmp(&(&b.department, &b.name)));
        Ok(all)
    }

    async fn appointment_type(&mut self, id: Uuid) -> Result<Option<AppointmentType>> {
        self.s.get_json(T::AppointmentTypes, id.as_bytes())
    }

    async fn put_appointment_type(&mut self, t: &AppointmentType) -> Result<()> {
        self.changes.put_json(T::AppointmentTypes, t.id.as_bytes(), t)
    }

    async fn resources(&mut self) -> Result<Vec<Resource>> {
        let mut all: Vec<Resource> = self.all(T::Resources)?;
        all.sort_by(|a, b| (&a.department, &a.kind, &a.name).cmp(&(&b.department, &b.kind, &b.name)));
        Ok(all)
    }

    async fn resource(&mut self, id: Uuid) -> Result<Option<Resource>> {
        self.s.get_json(T::Resources, id.as_bytes())
    }

    async fn put_resource(&mut self, r: &Resource) -> Result<()> {
        self.changes.put_json(T::Resources, r.id.as_bytes(), r)
    }
}
