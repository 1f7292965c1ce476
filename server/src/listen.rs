//! Accepting connections, plain or TLS, and draining them on shutdown.
//!
//! warp 0.4 serves plain TCP only and hides its acceptor trait, so both
//! paths go through this loop: hyper-util serves each connection with warp's
//! filter as the service, and the peer address travels as a request
//! extension ([`ClientAddr`]) for the audit log and the loopback check.
//!
//! Every connection's bytes pass through [`Wire`] (request heads judged,
//! timeouts kept; see `wire`), and at most `max_connections` are served at
//! once: a semaphore permit is taken at accept, and a connection that finds
//! none is answered `503` and closed (counted in `/metrics`).

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tower_service::Service as _;
use warp::Filter;
use warp::reply::Response;

use crate::http::metrics;
use crate::wire::{Activity, Limits, Wire};

/// How long in-flight requests may take to finish after a shutdown signal.
pub const DRAIN: Duration = Duration::from_secs(10);
const TLS_HANDSHAKE: Duration = Duration::from_secs(10);

/// The peer of a connection, attached to each of its requests.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// A TLS acceptor from PEM certificate chain and key files.
pub fn tls_acceptor(cert: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("read TLS certificate {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parse TLS certificate {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key).with_context(|| format!("read TLS key {}", key.display()))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let mut config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("TLS certificate and key do not match")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves `filter` on `listener` until `shutdown` resolves, then stops
/// accepting and gives open requests [`DRAIN`] to finish.
pub async fn serve<F>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    limits: Limits,
    filter: F,
    shutdown: impl Future<Output = ()>,
) where
    F: Filter<Extract = (Response,), Error = warp::Rejection> + Clone + Send + Sync + 'static,
    F::Future: Send,
{
    let service = warp::service(filter);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics::connection_refused();
            tracing::warn!(peer = %addr, max = limits.max_connections, "connection refused: too many open");
            tokio::spawn(turn_away(stream, tls.is_none()));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let activity = Activity::new();
        let service = service.clone();
        let answering = activity.clone();
        let handler = service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ClientAddr(addr));
            let answering = answering.begin();
            let reply = service.clone().call(req);
            async move {
                let reply = reply.await;
                drop(answering);
                reply
            }
        });
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let _open = metrics::connection_opened();
            // HTTP/1 only: TLS offers only http/1.1 (ALPN), and `Wire`
            // judges HTTP/1 request heads.
            let builder = Builder::new(TokioExecutor::new()).http1_only();
            let result = match tls {
                None => {
                    let io = TokioIo::new(Wire::new(stream, limits, false, activity));
                    watcher.watch(builder.serve_connection(io, handler).into_owned()).await
                }
                Some(acceptor) => match tokio::time::timeout(TLS_HANDSHAKE, acceptor.accept(stream)).await {
                    Ok(Ok(tls_stream)) => {
                        let io = TokioIo::new(Wire::new(tls_stream, limits, true, activity));
                        watcher.watch(builder.serve_connection(io, handler).into_owned()).await
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(peer = %addr, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(peer = %addr, "TLS handshake timed out");
                        return;
                    }
                },
            };
            if let Err(e) = result {
                tracing::debug!(peer = %addr, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
        tracing::warn!("some requests did not finish within {} s of shutdown", DRAIN.as_secs());
    }
}

/// Answers a connection over the cap `503` (plain HTTP; a TLS client would
/// need a handshake first, so it is just closed) and closes it, within a
/// second whatever the client does.
async fn turn_away(mut stream: TcpStream, plain: bool) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let answer = crate::wire::answer(503, "the server has as many connections as it takes; try again shortly", false);
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        if plain {
            stream.write_all(&answer).await?;
        }
        stream.shutdown().await?;
        // Read what the client sent, so closing does not reset the connection
        // before it has read the answer.
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}
