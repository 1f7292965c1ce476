//! End-to-end tests: the real server on port 0 with a temporary data
//! directory, driven through the shared client. One binary, one module per area.

mod accounts;
mod audit;
mod auth;
mod billing;
mod break_glass;
mod conditional;
mod demo;
mod feeds;
mod fhir;
mod hardening;
mod http;
mod mfa;
mod openapi;
mod patients;
mod records;
mod scheduling;
mod series;
mod sessions;
mod support;
mod types;
mod values;
mod waitlist;
mod webhooks;
