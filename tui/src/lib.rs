//! The Health Synx terminal client as a library, so screens can be driven
//! and drawn in tests without a terminal. `main.rs` only wires it to one.
//!
//! The flow is events → [`app::Action`] → [`app::App::update`] → draw. Network
//! calls are [`app::Task`]s that the run loop spawns; their results come back
//! as actions, so drawing and input never wait on the network.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod app;
pub mod components;
#[cfg(feature = "demo")]
pub mod demo;
pub mod keys;
pub mod screens;
pub mod theme;
pub mod time;
pub mod ui;
