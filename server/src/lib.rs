//! Health Synx server: a warp HTTP API over an embedded sled store, with
//! JWT auth, role-based access decided in `policy`, sealed clinical fields
//! and a hash-chained audit log.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]

pub mod audit;
pub mod config;
pub mod crypto;
pub mod demo;
pub mod domain;
pub mod error;
pub mod http;
pub mod ics;
pub mod listen;
pub mod permissions;
pub mod policy;
pub mod scope;
pub mod store;
pub mod throttle;
pub mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::Config;
pub use domain::State;

/// A server running in this process.
pub struct Running {
    pub addr: SocketAddr,
    pub state: Arc<State>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, lets in-flight requests finish, and flushes the store.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), task).await;
        }
        self.state.store.flush().await?;
        Ok(())
    }

    /// The base URL clients use.
    pub fn url(&self) -> String {
        let scheme = if self.state.config.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Opens the store and serves on `config.addr` (port 0 picks a free port).
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let state = Arc::new(State::open(config).await.context("open state")?);
    start_with(state).await
}

/// Serves an already opened state.
pub async fn start_with(state: Arc<State>) -> anyhow::Result<Running> {
    let listener = tokio::net::TcpListener::bind(state.config.addr)
        .await
        .with_context(|| format!("bind {}", state.config.addr))?;
    let addr = listener.local_addr()?;
    let tls = match &state.config.tls {
        Some((cert, key)) => Some(listen::tls_acceptor(cert, key)?),
        None => None,
    };
    // Links queued read audit entries into the chain.
    every(&state, Duration::from_millis(50), |st| async move {
        match st.store.drain_audit().await {
            Ok(()) => {}
            // Said by every request meanwhile; the entries wait in memory.
            Err(crate::store::StoreError::Unavailable(_)) => {}
            Err(e) => tracing::error!(error = %e, "linking queued audit entries failed"),
        }
    });
    // Expired refresh families, reset tokens and idempotency answers.
    every(&state, Duration::from_secs(3600), |st| async move {
        match st.store.sweep_expired(jiff::Timestamp::now(), domain::IDEMPOTENCY_TTL).await {
            Ok(0) => {}
            Ok(rows) => tracing::info!(rows, "deleted expired tokens and idempotency answers"),
            Err(e) => tracing::error!(error = %e, "sweeping expired rows failed"),
        }
    });
    waitlist_rounds(&state);
    for _ in 0..domain::outbox::WORKERS {
        tokio::spawn(domain::outbox::run(Arc::downgrade(&state)));
    }
    // Reminders come due as time passes, so this looks on a clock.
    every(&state, state.config.outreach.reminder_check, |st| async move {
        match domain::reminders::run(&st).await {
            Ok(_) | Err(crate::error::Error::Unavailable(_)) => {}
            Err(e) => tracing::error!(error = %e, "the reminder round failed"),
        }
    });
    let (tx, rx) = oneshot::channel::<()>();
    let limits = state.config.connections;
    let task = tokio::spawn(listen::serve(listener, tls, limits, http::filter(state.clone()), async {
        let _ = rx.await;
    }));
    Ok(Running { addr, state, shutdown: Some(tx), task: Some(task) })
}

/// Looks at the waitlist whenever time may have freed up here, and every
/// `waitlist_tick` for expired offers and other processes' changes.
fn waitlist_rounds(state: &Arc<State>) {
    let weak = Arc::downgrade(state);
    let due = state.waitlist_due.clone();
    let tick = state.config.waitlist_tick;
    tokio::spawn(async move {
        loop {
            {
                let Some(st) = weak.upgrade() else { return };
                match domain::waitlist::run(&st).await {
                    Ok(_) | Err(crate::error::Error::Unavailable(_)) => {}
                    Err(e) => tracing::error!(error = %e, "the waitlist round failed"),
                }
            }
            tokio::select! {
                _ = due.notified() => {}
                _ = tokio::time::sleep(tick) => {}
            }
        }
    });
}

/// Runs `job` every `period`, the first time at once, until the state is dropped.
fn every<F, Fut>(state: &Arc<State>, period: Duration, job: F)
where
    F: Fn(Arc<State>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let weak = Arc::downgrade(state);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(st) = weak.upgrade() else { return };
            job(st).await;
        }
    });
}
