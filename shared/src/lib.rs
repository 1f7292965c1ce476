//! The vocabulary of Health Synx: domain and wire types, route paths, pure
//! validation, and (feature `client`) the typed async API client.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]

pub mod api;
pub mod model;
pub mod validate;
pub mod value;

#[cfg(feature = "client")]
pub mod client;

pub use api::{Page, Problem};
pub use model::*;
