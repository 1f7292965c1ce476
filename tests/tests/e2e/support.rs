//! Small helpers shared by the test modules.

use healthsynx_tests::shared::api::{NewAppointment, RangeQuery};
use healthsynx_tests::shared::client::{Client, Result};
use healthsynx_tests::shared::{Appointment, Problem};
use jiff::Timestamp;
use uuid::Uuid;

/// The status of a failed call (panics on success, naming `what`).
pub fn status<T: std::fmt::Debug>(r: Result<T>, what: &str) -> u16 {
    match r {
        Ok(v) => panic!("{what}: expected an error, got {v:?}"),
        Err(p) => p.status,
    }
}

/// `0` for success, else the status: for role tables.
pub fn code<T>(r: Result<T>) -> u16 {
    r.map(|_| 200).unwrap_or_else(|p: Problem| p.status)
}

/// Books one default-length slot.
pub async fn book(c: &Client, patient: Uuid, doctor: Uuid, start: Timestamp) -> Result<Appointment> {
    c.book(
        &NewAppointment { patient_id: patient, doctor_id: doctor, start, end: None, reason: "check-up".into() },
        None,
    )
    .await
}

/// A `from`/`to` query.
pub fn range(from: Timestamp, to: Timestamp) -> RangeQuery {
    RangeQuery { from, to }
}
