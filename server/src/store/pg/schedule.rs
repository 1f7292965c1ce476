//! Appointments as typed columns (the exclusion constraints need them) with
//! one index per scope, and availability as a document per doctor.

use async_trait::async_trait;
use deadpool_postgres::Object;
use jiff::Timestamp;
use tokio_postgres::Row;
use tokio_postgres::types::{Json, ToSql};
use uuid::Uuid;

use healthsynx_shared::{AppointmentStatus, Availability};

use super::{PgTx, db_error, doc, limit_of, time_after, time_cursor};
use crate::scope::ApptScope;
use crate::store::backend::{Rows, Schedule};
use crate::store::{AppointmentRow, Cursor, Result, SeriesRow, StoreError};

const COLUMNS: &str = "id, patient_id, doctor_id, department, start_at, end_at, status, reason_sealed, \
                       cancel_reason_sealed, version, created_at, updated_at, created_by, type_id, resource_id, \
                       busy_start, busy_end, series_id";

/// Minutes between two instants, as a stored buffer.
fn minutes_between(from: Timestamp, to: Timestamp) -> Result<u16> {
    u16::try_from(to.duration_since(from).as_mins()).map_err(|_| StoreError::Corrupt("a buffer out of range".into()))
}

fn appointment_of(r: &Row) -> Result<AppointmentRow> {
    let status: &str = r.get(6);
    let (start, end): (Timestamp, Timestamp) = (r.get(4), r.get(5));
    Ok(AppointmentRow {
        id: r.get(0),
        patient_id: r.get(1),
        doctor_id: r.get(2),
        department: r.get(3),
        start,
        end,
        status: status.parse::<AppointmentStatus>().map_err(StoreError::Corrupt)?,
        reason_sealed: r.get(7),
        cancel_reason_sealed: r.get(8),
        version: r.get::<_, i64>(9) as u64,
        created_at: r.get(10),
        updated_at: r.get(11),
        created_by: r.get(12),
        type_id: r.get(13),
        resource_id: r.get(14),
        buffer_before: minutes_between(r.get(15), start)?,
        buffer_after: minutes_between(end, r.get(16))?,
        series_id: r.get(17),
    })
}

fn scope_column(scope: &ApptScope) -> Option<(&'static str, &(dyn ToSql + Sync))> {
    match scope {
        ApptScope::Doctor(d) => Some(("doctor_id", d)),
        ApptScope::Patient(p) => Some(("patient_id", p)),
        ApptScope::Department(code) => Some(("department", code)),
        ApptScope::Resource(r) => Some(("resource_id", r)),
        ApptScope::All => None,
    }
}

impl PgTx<'_> {
    async fn scan(
        &self,
        scope: &ApptScope,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Vec<AppointmentRow>> {
        let after = time_after(after)?;
        let limit = limit_of(limit);
        let mut params: Vec<&(dyn ToSql + Sync)> = Vec::new();
        let mut filters: Vec<String> = Vec::new();
        if let Some((column, owner)) = scope_column(scope) {
            params.push(owner);
            filters.push(format!("{column} = ${}", params.len()));
        }
        if let Some(f) = from.as_ref() {
            params.push(f);
            filters.push(format!("start_at >= ${}", params.len()));
        }
        if let Some(t) = to.as_ref() {
            params.push(t);
            filters.push(format!("start_at < ${}", params.len()));
        }
        if let Some((t, id)) = after.as_ref() {
            params.push(t);
            params.push(id);
            filters.push(format!("(start_at, id) > (${}, ${})", params.len() - 1, params.len()));
        }
        params.push(&limit);
        let filter = if filters.is_empty() { String::new() } else { format!("WHERE {}", filters.join(" AND ")) };
        let sql = format!("SELECT {COLUMNS} FROM appointments {filter} ORDER BY start_at, id LIMIT ${}", params.len());
        self.query(&sql, &params).await?.iter().map(appointment_of).collect()
    }
}

#[async_trait]
impl Schedule for PgTx<'_> {
    async fn appointment(&mut self, id: Uuid) -> Result<Option<AppointmentRow>> {
        let sql = format!("SELECT {COLUMNS} FROM appointments WHERE id = $1{}", self.lock());
        self.query_opt(&sql, &[&id]).await?.map(|r| appointment_of(&r)).transpose()
    }

    async fn put_appointment(&mut self, a: &AppointmentRow, old: Option<&AppointmentRow>) -> Result<()> {
        let version = a.version as i64;
        let status = a.status.as_str();
        let (busy_start, busy_end) = a.busy();
        let row: [&(dyn ToSql + Sync); 18] = [
            &a.id,
            &a.patient_id,
            &a.doctor_id,
            &a.department,
            &a.start,
            &a.end,
            &status,
            &a.reason_sealed,
            &a.cancel_reason_sealed,
            &version,
            &a.created_at,
            &a.updated_at,
            &a.created_by,
            &a.type_id,
            &a.resource_id,
            &busy_start,
            &busy_end,
            &a.series_id,
        ];
        // The doctor's, the patient's and the resource's exclusion checks
        // would otherwise wait on each other across two bookings (a
        // deadlock); taken in one order, the second booking waits, then
        // sees the overlap. Without a resource the doctor stands in for it.
        let mut owners = [a.doctor_id, a.patient_id, a.resource_id.unwrap_or(a.doctor_id)];
        owners.sort();
        let owners = owners.map(|o| o.to_string());
        let locks: [&(dyn ToSql + Sync); 3] = [&owners[0], &owners[1], &owners[2]];
        let take_locks = a.status.holds_time().then_some((
            "SELECT pg_advisory_xact_lock(hashtextextended($1::text, 1)), pg_advisory_xact_lock(hashtextextended($2::text, 1)), \
             pg_advisory_xact_lock(hashtextextended($3::text, 1))",
            locks.as_slice(),
        ));
        self.execute_after(
            take_locks,
            &format!(
                "INSERT INTO appointments ({COLUMNS})
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
                 ON CONFLICT (id) DO UPDATE SET patient_id = $2, doctor_id = $3, department = $4, start_at = $5,
                 end_at = $6, status = $7, reason_sealed = $8, cancel_reason_sealed = $9, version = $10,
                 created_at = $11, updated_at = $12, created_by = $13, type_id = $14, resource_id = $15,
                 busy_start = $16, busy_end = $17, series_id = $18"
            ),
            &row,
        )
        .await?;
        // Only a changed appointment can be in another process's view cache;
        // every write moves the calendars it is on.
        if let Some(old) = old {
            self.done.appointments.push(a.id);
            if old.doctor_id != a.doctor_id {
                self.done.doctors.push(old.doctor_id);
            }
        }
        self.done.doctors.push(a.doctor_id);
        Ok(())
    }

    async fn appointments_in(
        &mut self,
        scope: &ApptScope,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Rows<AppointmentRow>> {
        let rows = self.scan(scope, from, to, after, limit).await?;
        Ok(rows.into_iter().map(|a| (time_cursor(a.start, a.id), a)).collect())
    }

    async fn appointments_of_resources(
        &mut self,
        resources: &[Uuid],
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<AppointmentRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM appointments WHERE resource_id = ANY($1) AND start_at >= $2 AND start_at < $3 \
             ORDER BY start_at, id"
        );
        self.query(&sql, &[&resources, &from, &to]).await?.iter().map(appointment_of).collect()
    }

    async fn hold_patient_bookings(&mut self, patient: Uuid) -> Result<()> {
        // Its own key space (2): the overlap locks (1) are taken in doctor–patient order.
        let key = patient.to_string();
        self.query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 2))", &[&key]).await.map(drop)
    }

    async fn remove_appointment(&mut self, row: &AppointmentRow) -> Result<()> {
        self.execute("DELETE FROM appointments WHERE id = $1", &[&row.id]).await?;
        self.done.appointments.push(row.id);
        self.done.doctors.push(row.doctor_id);
        Ok(())
    }

    async fn series(&mut self, id: Uuid) -> Result<Option<SeriesRow>> {
        let sql = format!("SELECT doc FROM series WHERE id = $1{}", self.lock());
        self.query_opt(&sql, &[&id]).await?.map(|r| doc(&r, "doc")).transpose()
    }

    async fn put_series(&mut self, row: &SeriesRow) -> Result<()> {
        self.execute(
            "INSERT INTO series (id, doc) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET doc = $2",
            &[&row.id, &Json(row)],
        )
        .await?;
        Ok(())
    }

    async fn availability(&mut self, doctor: Uuid) -> Result<Availability> {
        let row = self.query_opt("SELECT doc FROM availability WHERE doctor_id = $1", &[&doctor]).await?;
        Ok(row.map(|r| doc(&r, "doc")).transpose()?.unwrap_or_default())
    }

    async fn availability_to_change(&mut self, doctor: Uuid) -> Result<Availability> {
        {
            // A row to lock even before the first rules: concurrent edits serialize.
            self.execute(
                "INSERT INTO availability (doctor_id, doc) VALUES ($1, $2) ON CONFLICT (doctor_id) DO NOTHING",
                &[&doctor, &Json(Availability::default())],
            )
            .await?;
        }
        let sql = format!("SELECT doc FROM availability WHERE doctor_id = $1{}", self.lock());
        Ok(self.query_opt(&sql, &[&doctor]).await?.map(|r| doc(&r, "doc")).transpose()?.unwrap_or_default())
    }

    async fn put_availability(&mut self, doctor: Uuid, a: &Availability) -> Result<()> {
        self.execute(
            "INSERT INTO availability (doctor_id, doc) VALUES ($1, $2) ON CONFLICT (doctor_id) DO UPDATE SET doc = $2",
            &[&doctor, &Json(a)],
        )
        .await?;
        Ok(())
    }
}

/// Inserts rows without checks, a few thousand per statement (bulk loads).
pub(super) async fn bulk_insert(client: &mut Object, rows: &[AppointmentRow]) -> Result<()> {
    for chunk in rows.chunks(5000) {
        let col = |f: fn(&AppointmentRow) -> Uuid| chunk.iter().map(f).collect::<Vec<_>>();
        let (ids, patients, doctors, created_by) =
            (col(|a| a.id), col(|a| a.patient_id), col(|a| a.doctor_id), col(|a| a.created_by));
        let departments: Vec<&str> = chunk.iter().map(|a| a.department.as_str()).collect();
        let starts: Vec<Timestamp> = chunk.iter().map(|a| a.start).collect();
        let ends: Vec<Timestamp> = chunk.iter().map(|a| a.end).collect();
        let statuses: Vec<&str> = chunk.iter().map(|a| a.status.as_str()).collect();
        let reasons: Vec<&str> = chunk.iter().map(|a| a.reason_sealed.as_str()).collect();
        let cancels: Vec<Option<&str>> = chunk.iter().map(|a| a.cancel_reason_sealed.as_deref()).collect();
        let versions: Vec<i64> = chunk.iter().map(|a| a.version as i64).collect();
        let created: Vec<Timestamp> = chunk.iter().map(|a| a.created_at).collect();
        let updated: Vec<Timestamp> = chunk.iter().map(|a| a.updated_at).collect();
        let types: Vec<Option<Uuid>> = chunk.iter().map(|a| a.type_id).collect();
        let resources: Vec<Option<Uuid>> = chunk.iter().map(|a| a.resource_id).collect();
        let busy_starts: Vec<Timestamp> = chunk.iter().map(|a| a.busy().0).collect();
        let busy_ends: Vec<Timestamp> = chunk.iter().map(|a| a.busy().1).collect();
        let series: Vec<Option<Uuid>> = chunk.iter().map(|a| a.series_id).collect();
        client
            .execute(
                &format!(
                    "INSERT INTO appointments ({COLUMNS}) SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[],
                     $4::text[], $5::timestamptz[], $6::timestamptz[], $7::text[], $8::text[], $9::text[],
                     $10::bigint[], $11::timestamptz[], $12::timestamptz[], $13::uuid[], $14::uuid[], $15::uuid[],
                     $16::timestamptz[], $17::timestamptz[], $18::uuid[])"
                ),
                &[
                    &ids,
                    &patients,
                    &doctors,
                    &departments,
                    &starts,
                    &ends,
                    &statuses,
                    &reasons,
                    &cancels,
                    &versions,
                    &created,
                    &updated,
                    &created_by,
                    &types,
                    &resources,
                    &busy_starts,
                    &busy_ends,
                    &series,
                ],
            )
            .await
            .map_err(db_error)?;
    }
    Ok(())
}
