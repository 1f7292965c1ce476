//! `--demo`: a seeded server in this process, on a free loopback port, over
//! a fresh temporary data directory that is removed on exit.

use std::sync::Arc;

use anyhow::Context;
use healthsynx_server::config::Secrets;
use healthsynx_server::{Config, Running, State, demo, start_with};

use crate::app::DemoAccount;

/// The running demo server; dropping it stops the server and deletes the data.
pub struct Demo {
    pub server: Running,
    pub accounts: Vec<DemoAccount>,
    _dir: tempfile::TempDir,
}

/// Starts the demo clinic.
pub async fn start() -> anyhow::Result<Demo> {
    // The demo's store is as private as a real one (sled's files follow the umask).
    healthsynx_server::permissions::private_umask();
    let dir =
        tempfile::Builder::new().prefix("healthsynx-demo-").tempdir().context("create a temporary data directory")?;
    let mut config = Config::new(dir.path().join("data"), Secrets::generate());
    // As `serve --demo`: every demo login works with its password alone.
    config.mfa_required_roles.clear();
    let state = State::open(config).await.map_err(|e| anyhow::anyhow!("open the demo store: {e}"))?;
    demo::seed(&state).await.map_err(|e| anyhow::anyhow!("seed the demo clinic: {e}"))?;
    let server = start_with(Arc::new(state)).await.context("start the demo server")?;
    let accounts = demo::LOGINS
        .iter()
        .map(|l| DemoAccount { role: l.role, email: l.email.to_owned(), password: l.password.to_owned() })
        .collect();
    Ok(Demo { server, accounts, _dir: dir })
}
