//! Whose data a read covers: the scopes `policy` decides and every storage
//! backend maps to its own indexes.

use uuid::Uuid;

/// Whose appointments a scan reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApptScope {
    Doctor(Uuid),
    Patient(Uuid),
    Department(String),
    /// The appointments holding a room or a device.
    Resource(Uuid),
    All,
}

/// Whose care a patient list is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CareScope {
    Doctor(Uuid),
    Department(String),
}
