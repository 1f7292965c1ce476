//! Prometheus counters: requests and latency by route and status, login
//! failures, bookings. A mutex over a small map; held for a few nanoseconds.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use healthsynx_shared::api::RouteId;

/// Upper bounds (seconds) of the latency histogram buckets.
const BUCKETS: [f64; 10] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

#[derive(Default, Clone, Copy)]
struct Series {
    count: u64,
    seconds: f64,
    /// Counts per bucket of [`BUCKETS`] (not cumulative; summed when rendered).
    buckets: [u64; BUCKETS.len()],
}

/// Series by route and status: keyed by route, not its label, so counting
/// a request formats nothing.
type Requests = HashMap<(Option<RouteId>, u16), Series>;

fn requests() -> &'static Mutex<Requests> {
    static M: OnceLock<Mutex<Requests>> = OnceLock::new();
    M.get_or_init(Default::default)
}

static LOGIN_FAILURES: AtomicU64 = AtomicU64::new(0);
static BOOKINGS: AtomicU64 = AtomicU64::new(0);
static THROTTLED: AtomicU64 = AtomicU64::new(0);
static CONNECTIONS_REFUSED: AtomicU64 = AtomicU64::new(0);
static CONNECTIONS_OPEN: AtomicU64 = AtomicU64::new(0);
/// Connections ended by a timeout: header, body, idle.
static TIMED_OUT: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
const TIMEOUT_PHASES: [&str; 3] = ["header", "body", "idle"];
/// Requests refused before hyper parsed them, by status.
static PROTOCOL_ERRORS: [AtomicU64; 4] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
const PROTOCOL_STATUSES: [u16; 4] = [400, 408, 414, 431];

/// Counts a connection turned away at the connection cap.
pub fn connection_refused() {
    CONNECTIONS_REFUSED.fetch_add(1, Ordering::Relaxed);
}

/// Counts a connection as open until the guard drops.
pub fn connection_opened() -> OpenConnection {
    CONNECTIONS_OPEN.fetch_add(1, Ordering::Relaxed);
    OpenConnection(())
}

/// An open connection (see [`connection_opened`]).
pub struct OpenConnection(());

impl Drop for OpenConnection {
    fn drop(&mut self) {
        CONNECTIONS_OPEN.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counts a connection ended by the `phase` timeout.
pub fn timed_out(phase: &str) {
    if let Some(i) = TIMEOUT_PHASES.iter().position(|p| *p == phase) {
        TIMED_OUT[i].fetch_add(1, Ordering::Relaxed);
    }
}

/// Counts a request refused below hyper with `status`.
pub fn protocol_error(status: u16) {
    if let Some(i) = PROTOCOL_STATUSES.iter().position(|s| *s == status) {
        PROTOCOL_ERRORS[i].fetch_add(1, Ordering::Relaxed);
    }
}

fn route_label(route: Option<RouteId>) -> String {
    route.map(|r| r.route()).map_or_else(|| "unmatched".into(), |r| format!("{} {}", r.method, r.pattern))
}

/// Counts one answered request.
pub fn observe(route: Option<RouteId>, status: u16, took: Duration) {
    if route == Some(RouteId::JwtCreate) && status == 401 {
        LOGIN_FAILURES.fetch_add(1, Ordering::Relaxed);
    }
    if route == Some(RouteId::CreateAppointment) && status == 201 {
        BOOKINGS.fetch_add(1, Ordering::Relaxed);
    }
    if status == 429 {
        THROTTLED.fetch_add(1, Ordering::Relaxed);
    }
    if let Ok(mut m) = requests().lock() {
        let s = m.entry((route, status)).or_default();
        let secs = took.as_secs_f64();
        s.count += 1;
        s.seconds += secs;
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            s.buckets[i] += 1;
        }
    }
}

/// The Prometheus text exposition; `store_bytes` is the store's size on disk.
pub fn render(store_bytes: u64) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# HELP healthsynx_requests_total Requests answered, by route and status.");
    let _ = writeln!(out, "# TYPE healthsynx_requests_total counter");
    let snapshot: BTreeMap<(String, u16), Series> = requests()
        .lock()
        .map(|m| m.iter().map(|((route, status), v)| ((route_label(*route), *status), *v)).collect())
        .unwrap_or_default();
    for ((route, status), s) in &snapshot {
        let _ = writeln!(out, "healthsynx_requests_total{{route=\"{route}\",status=\"{status}\"}} {}", s.count);
    }
    let _ = writeln!(out, "# HELP healthsynx_request_seconds Time spent answering, by route and status.");
    let _ = writeln!(out, "# TYPE healthsynx_request_seconds histogram");
    for ((route, status), s) in &snapshot {
        let labels = format!("route=\"{route}\",status=\"{status}\"");
        let mut cumulative = 0;
        for (bound, n) in BUCKETS.iter().zip(s.buckets) {
            cumulative += n;
            let _ = writeln!(out, "healthsynx_request_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "healthsynx_request_seconds_bucket{{{labels},le=\"+Inf\"}} {}", s.count);
        let _ = writeln!(out, "healthsynx_request_seconds_sum{{{labels}}} {:.6}", s.seconds);
        let _ = writeln!(out, "healthsynx_request_seconds_count{{{labels}}} {}", s.count);
    }
    let _ = writeln!(out, "# TYPE healthsynx_login_failures_total counter");
    let _ = writeln!(out, "healthsynx_login_failures_total {}", LOGIN_FAILURES.load(Ordering::Relaxed));
    let _ = writeln!(out, "# TYPE healthsynx_bookings_total counter");
    let _ = writeln!(out, "healthsynx_bookings_total {}", BOOKINGS.load(Ordering::Relaxed));
    let _ = writeln!(out, "# TYPE healthsynx_throttled_total counter");
    let _ = writeln!(out, "healthsynx_throttled_total {}", THROTTLED.load(Ordering::Relaxed));
    let _ = writeln!(
        out,
        "# HELP healthsynx_connections_refused_total Connections turned away at HEALTHSYNX_MAX_CONNECTIONS."
    );
    let _ = writeln!(out, "# TYPE healthsynx_connections_refused_total counter");
    let _ = writeln!(out, "healthsynx_connections_refused_total {}", CONNECTIONS_REFUSED.load(Ordering::Relaxed));
    let _ = writeln!(out, "# TYPE healthsynx_connections_open gauge");
    let _ = writeln!(out, "healthsynx_connections_open {}", CONNECTIONS_OPEN.load(Ordering::Relaxed));
    let _ = writeln!(out, "# HELP healthsynx_connections_timed_out_total Connections closed by a timeout, by phase.");
    let _ = writeln!(out, "# TYPE healthsynx_connections_timed_out_total counter");
    for (phase, n) in TIMEOUT_PHASES.iter().zip(&TIMED_OUT) {
        let _ =
            writeln!(out, "healthsynx_connections_timed_out_total{{phase=\"{phase}\"}} {}", n.load(Ordering::Relaxed));
    }
    let _ = writeln!(out, "# HELP healthsynx_protocol_errors_total Requests refused before parsing, by status.");
    let _ = writeln!(out, "# TYPE healthsynx_protocol_errors_total counter");
    for (status, n) in PROTOCOL_STATUSES.iter().zip(&PROTOCOL_ERRORS) {
        let _ = writeln!(out, "healthsynx_protocol_errors_total{{status=\"{status}\"}} {}", n.load(Ordering::Relaxed));
    }
    let _ = writeln!(out, "# TYPE healthsynx_store_bytes gauge");
    let _ = writeln!(out, "healthsynx_store_bytes {store_bytes}");
    out
}
