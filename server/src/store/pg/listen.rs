//! One connection per process that `LISTEN`s for other processes' writes
//! and hands them to the caches ([`Remote`]). While it is down the caches
//! are bypassed; it reconnects by itself.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio_postgres::{AsyncMessage, NoTls};

use super::CHANNEL;
use crate::store::{Committed, Remote};

/// Starts listening in the background (on the current tokio runtime);
/// abort the handle to stop.
pub fn start(config: tokio_postgres::Config, remote: Arc<Remote>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(e) = listen(&config, &remote).await {
                tracing::warn!(error = %e, "change notifications lost; caches bypassed until they are back");
            }
            remote.set_live(false);
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
}

async fn listen(config: &tokio_postgres::Config, remote: &Remote) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let pump = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(m) = messages.next().await {
            match m {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(n.payload().to_owned()).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    remote.set_live(true);
    while let Some(payload) = rx.recv().await {
        let change = serde_json::from_str::<Committed>(&payload)
            .unwrap_or_else(|_| Committed { everything: true, ..Committed::default() });
        remote.push(change);
    }
    pump.abort();
    drop(client);
    Ok(())
}
