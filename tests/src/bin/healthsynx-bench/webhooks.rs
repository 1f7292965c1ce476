//! `webhook-delivery`: bookings under load with a webhook subscribed to
//! them, and a local receiver that answers `200` at once: how many events
//! per second go through the outbox, and how long each took from its
//! commit to the receiver.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use http_body_util::BodyExt;
use hyper::Method;
use jiff::Timestamp;

use healthsynx_shared::api::RouteId;

use crate::conn::{Conn, login};

/// What the receiver has seen.
pub struct Received {
    count: AtomicUsize,
    /// Milliseconds from an event's `created_at` (its commit) to its arrival.
    lag_ms: Mutex<Histogram<u64>>,
    first_last: Mutex<Option<(Instant, Instant)>>,
}

impl Received {
    fn note(&self, body: &[u8]) {
        let created = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["created_at"].as_str().and_then(|t| t.parse::<Timestamp>().ok()));
        if let Some(t) = created {
            let lag = Timestamp::now().duration_since(t).as_millis().max(0) as u64;
            let _ = self.lag_ms.lock().expect("lags").record(lag.max(1));
        }
        let now = Instant::now();
        let mut fl = self.first_last.lock().expect("times");
        *fl = Some(fl.map_or((now, now), |(first, _)| (first, now)));
        self.count.fetch_add(1, Ordering::SeqCst);
    }

    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Events per second between the first arrival and the last.
    pub fn rate(&self) -> f64 {
        match *self.first_last.lock().expect("times") {
            Some((first, last)) if last > first => self.count() as f64 / (last - first).as_secs_f64(),
            _ => 0.0,
        }
    }

    pub fn lag_ms(&self, q: f64) -> u64 {
        self.lag_ms.lock().expect("lags").value_at_quantile(q)
    }
}

/// A receiver on loopback that answers every request `200` with no body,
/// on a thread of its own so the load generator does not starve it.
pub async fn receiver() -> Result<(SocketAddr, Arc<Received>)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let got = Arc::new(Received {
        count: AtomicUsize::new(0),
        lag_ms: Mutex::new(Histogram::new_with_bounds(1, 600_000, 3).context("histogram")?),
        first_last: Mutex::new(None),
    });
    let seen = got.clone();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::spawn(move || rt.block_on(serve(listener, seen)));
    Ok((addr, got))
}

async fn serve(listener: std::net::TcpListener, seen: Arc<Received>) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
    {
        while let Ok((stream, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let seen = seen.clone();
                    async move {
                        let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        seen.note(&body);
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(
                            http_body_util::Empty::<bytes::Bytes>::new(),
                        ))
                    }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, svc).await;
            });
        }
    }
}

/// A webhook on `receiver` for bookings, made by the bench's admin; its id.
pub async fn subscribe(server: SocketAddr, admin_email: &str, receiver: SocketAddr) -> Result<(uuid::Uuid, String)> {
    let token = login(server, admin_email).await?;
    let mut c = Conn::open(server).await?;
    let body = serde_json::json!({ "url": format!("http://{receiver}/hook"), "events": ["appointment.booked"] });
    let (path, body) = (RouteId::CreateWebhook.path(&[]), body.to_string());
    let a = c.send(Method::POST, &path, Some(&token), Some(body.as_bytes())).await?;
    if a.status != 201 {
        bail!("create webhook: {} {}", a.status, String::from_utf8_lossy(&a.body));
    }
    let v: serde_json::Value = serde_json::from_slice(&a.body)?;
    let id = v["id"].as_str().and_then(|s| s.parse().ok()).context("webhook id")?;
    Ok((id, token))
}

/// Deletes the webhook (its deliveries go with it).
pub async fn unsubscribe(server: SocketAddr, token: &str, id: uuid::Uuid) -> Result<()> {
    let mut c = Conn::open(server).await?;
    let a = c.send(Method::DELETE, &RouteId::DeleteWebhook.path(&[id]), Some(token), None).await?;
    if a.status != 204 {
        bail!("delete webhook: {}", a.status);
    }
    Ok(())
}

/// Waits until `expected` events arrived, or none arrived for `quiet`;
/// how long after the call the last one came.
pub async fn drained(got: &Received, expected: usize, quiet: Duration) -> Duration {
    let start = Instant::now();
    let mut last = (got.count(), Instant::now());
    while got.count() < expected {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if got.count() != last.0 {
            last = (got.count(), Instant::now());
        } else if last.1.elapsed() > quiet {
            break;
        }
    }
    last.1.saturating_duration_since(start)
}
