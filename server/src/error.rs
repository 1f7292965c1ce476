//! One error type for the server; `http` maps it to a problem+json answer.

use healthsynx_shared::api::{FieldError, Problem};

/// Everything a request can fail with. Internal errors are logged, never shown.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    /// A `409` naming each part that collided (the occurrences of a series).
    #[error("{0}")]
    Collisions(String, Vec<FieldError>),
    #[error("the resource changed since you read it")]
    PreconditionFailed,
    #[error("{0}")]
    PreconditionRequired(String),
    #[error("request body is larger than 64 KiB")]
    PayloadTooLarge,
    #[error("validation failed")]
    Unprocessable(Vec<FieldError>),
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64, detail: String },
    /// A sealed value did not open: wrong or missing data key, or damage.
    #[error("stored data could not be decrypted with the configured data key")]
    Unsealable,
    /// Not on this deployment (e.g. file backups on PostgreSQL).
    #[error("{0}")]
    Unsupported(String),
    /// The database did not answer: the request may be retried.
    #[error("the database is unavailable")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The server's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A `422` naming one field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Error::Unprocessable(vec![FieldError::new(field, message)])
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> u16 {
        match self {
            Error::BadRequest(_) => 400,
            Error::Unauthorized(_) => 401,
            Error::Forbidden(_) => 403,
            Error::NotFound => 404,
            Error::MethodNotAllowed(_) => 405,
            Error::Conflict(_) | Error::Collisions(..) => 409,
            Error::PreconditionFailed => 412,
            Error::PreconditionRequired(_) => 428,
            Error::PayloadTooLarge => 413,
            Error::Unprocessable(_) => 422,
            Error::TooManyRequests { .. } => 429,
            Error::Unsealable | Error::Internal(_) => 500,
            Error::Unavailable(_) => 503,
            Error::Unsupported(_) => 501,
        }
    }

    /// The problem body a client sees; internals never leak into it.
    pub fn to_problem(&self) -> Problem {
        let status = self.status();
        let detail = match self {
            Error::Internal(_) => "the server could not complete the request".to_owned(),
            Error::Unavailable(_) => "the database is unavailable; try again shortly".to_owned(),
            Error::Unsealable => {
                "stored data could not be decrypted with the configured data key (check HEALTHSYNX_DATA_KEY and HEALTHSYNX_DATA_KEY_PREVIOUS)".to_owned()
            }
            Error::NotFound => "no such object".to_owned(),
            Error::Unprocessable(errors) => errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; "),
            Error::TooManyRequests { detail, .. } => detail.clone(),
            other => other.to_string(),
        };
        let mut p = Problem::new(status, detail);
        if let Error::Unprocessable(errors) | Error::Collisions(_, errors) = self {
            p.errors = errors.clone();
        }
        p
    }
}

impl From<crate::store::StoreError> for Error {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match e {
            StoreError::Unavailable(why) => Error::Unavailable(why),
            StoreError::Conflict(why) => Error::Conflict(why),
            StoreError::BadCursor => Error::invalid("cursor", "is not a cursor this server gave out"),
            StoreError::Unsupported(why) => Error::Unsupported(why),
            other => Error::Internal(anyhow::Error::new(other).context("store")),
        }
    }
}

impl From<Vec<FieldError>> for Error {
    fn from(errors: Vec<FieldError>) -> Self {
        Error::Unprocessable(errors)
    }
}
