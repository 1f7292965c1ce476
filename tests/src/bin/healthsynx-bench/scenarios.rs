//! The scenarios: what each simulated client asks, the load loop that
//! drives them, and the two phases of a run on one backend.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use hyper::Method;
use hyper::header::{ACCEPT_ENCODING, CONTENT_ENCODING, ETAG, HeaderName, IF_NONE_MATCH};
use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;

use healthsynx_shared::api::RouteId;
use healthsynx_tests::process::ProcessSecrets;

use crate::args::Args;
use crate::conn::{Answer, Conn, login};
use crate::report::{Row, WireSizes, progress, row, size};
use crate::seed::{Clinic, DOCTORS, LOGIN_USERS, PASSWORD, ROOMS_PER_DEPT, SLOTS_PER_WEEK, patient_for, seed};
use crate::server::{self, BenchStore, reopen};

/// The store of phase 1.
const SMALL_STORE: u64 = 10_000;
const BOOK_CLIENTS: usize = 64;
const STORM_LOGINS: usize = 50;
const CONTENTION_SLOTS: usize = 10;
/// Drafts seeded for `invoice-issue`: more than a run issues.
const ISSUE_DRAFTS: usize = 250_000;
/// Future weeks kept free for bookings.
const BOOKING_WEEKS: i64 = 40;

// ---------------------------------------------------------------- load

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Health,
    Read,
    /// A read sent with the `ETag` the caller holds: `304` is the answer wanted.
    Revalidate,
    Book,
    /// `POST /api/invoices/{id}/issue`: `200` with a number.
    Issue,
    Status,
    Login,
}

impl Kind {
    fn ok(self, status: u16) -> bool {
        match self {
            Kind::Book => status == 201,
            Kind::Issue => status == 200,
            Kind::Revalidate => status == 304,
            _ => status == 200,
        }
    }
}

struct Req {
    kind: Kind,
    method: Method,
    uri: String,
    auth: bool,
    body: Option<Vec<u8>>,
    /// Sent as `If-None-Match`.
    if_none_match: Option<Arc<str>>,
}

impl Req {
    fn get(kind: Kind, uri: String) -> Self {
        Req { kind, method: Method::GET, uri, auth: true, body: None, if_none_match: None }
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

type Plan = Arc<dyn Fn(&mut Rng) -> Req + Send + Sync>;

/// Counts, latencies and answer bytes of one kind of request over the measured window.
pub struct Stats {
    pub count: u64,
    pub errors: u64,
    /// Answer bytes on the wire, summed.
    bytes: u64,
    hist: Histogram<u64>,
}

impl Stats {
    fn new() -> Self {
        Stats { count: 0, errors: 0, bytes: 0, hist: Histogram::new_with_bounds(1, 120_000_000, 3).expect("histogram") }
    }

    fn merge(&mut self, o: &Stats) {
        self.count += o.count;
        self.errors += o.errors;
        self.bytes += o.bytes;
        let _ = self.hist.add(&o.hist);
    }

    /// The `q` quantile of latency in milliseconds.
    pub fn ms(&self, q: f64) -> f64 {
        if self.hist.is_empty() { 0.0 } else { self.hist.value_at_quantile(q) as f64 / 1000.0 }
    }

    /// Mean answer bytes on the wire (0 with no requests).
    pub fn bytes_per_request(&self) -> f64 {
        if self.count == 0 { 0.0 } else { self.bytes as f64 / self.count as f64 }
    }
}

/// Shared across a run: the token, and the `201` answers of bookings.
struct Shared {
    addr: SocketAddr,
    token: String,
    booked: Mutex<Vec<Uuid>>,
}

/// The appointment id in a `201` answer.
fn booked_id(body: &[u8]) -> Option<Uuid> {
    let v = serde_json::from_slice::<serde_json::Value>(body).ok()?;
    v["id"].as_str()?.parse().ok()
}

/// Runs `groups` of `(connections, plan)` together: a warm-up, then a
/// measured window; returns the stats of each kind over that window.
async fn run_load(
    shared: &Arc<Shared>,
    groups: Vec<(usize, Plan)>,
    warmup: Duration,
    measure: Duration,
) -> BTreeMap<Kind, Stats> {
    let start = Instant::now();
    let from = start + warmup;
    let until = from + measure;
    let mut tasks = Vec::new();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ start.elapsed().as_nanos() as u64;
    for (n, plan) in groups {
        for _ in 0..n {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let plan = plan.clone();
            let shared = shared.clone();
            let mut rng = Rng(seed | 1);
            tasks.push(tokio::spawn(async move {
                let mut stats: BTreeMap<Kind, Stats> = BTreeMap::new();
                let mut conn: Option<Conn> = None;
                loop {
                    let t0 = Instant::now();
                    if t0 >= until {
                        break;
                    }
                    let req = plan(&mut rng);
                    if conn.is_none() {
                        conn = Conn::open(shared.addr).await.ok();
                    }
                    let result = match conn.as_mut() {
                        Some(c) => {
                            let token = req.auth.then_some(shared.token.as_str());
                            let tag: Option<(HeaderName, &str)> =
                                req.if_none_match.as_deref().map(|t| (IF_NONE_MATCH, t));
                            c.send_with(req.method.clone(), &req.uri, token, req.body.as_deref(), tag.as_slice()).await
                        }
                        None => Err(anyhow::anyhow!("no connection")),
                    };
                    let t1 = Instant::now();
                    let (ok, wire) = match &result {
                        Ok(a) => {
                            let ok = req.kind.ok(a.status);
                            if ok
                                && req.kind == Kind::Book
                                && let Some(id) = booked_id(&a.body)
                            {
                                shared.booked.lock().expect("booked").push(id);
                            }
                            (ok, a.wire_bytes)
                        }
                        Err(_) => {
                            conn = None;
                            (false, 0)
                        }
                    };
                    if t0 >= from && t1 <= until {
                        let s = stats.entry(req.kind).or_insert_with(Stats::new);
                        s.count += 1;
                        s.bytes += wire;
                        if !ok {
                            s.errors += 1;
                        }
                        let _ = s.hist.record((t1 - t0).as_micros().max(1) as u64);
                    }
                    if !ok && result.is_err() {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
                stats
            }));
        }
    }
    let mut out: BTreeMap<Kind, Stats> = BTreeMap::new();
    for t in tasks {
        if let Ok(stats) = t.await {
            for (k, s) in stats {
                out.entry(k).or_insert_with(Stats::new).merge(&s);
            }
        }
    }
    out
}

fn merged(stats: &BTreeMap<Kind, Stats>) -> Stats {
    let mut all = Stats::new();
    for s in stats.values() {
        all.merge(s);
    }
    all
}

/// Bookings with a webhook subscribed: the bookings' rate, and in the note
/// the events per second the receiver got and their lag from commit.
async fn webhook_delivery(
    shared: &Arc<Shared>,
    clinic: &Clinic,
    queue: &Arc<SlotQueue>,
    rss: f64,
    warmup: Duration,
    measure: Duration,
) -> Result<Row> {
    use crate::webhooks::{drained, receiver, subscribe, unsubscribe};
    let (at, got) = receiver().await?;
    let (hook, admin) = subscribe(shared.addr, &clinic.admin_email, at).await?;
    let booked_before = shared.booked.lock().expect("booked").len();
    let s = run_load(shared, vec![(BOOK_CLIENTS, book_plan(queue))], warmup, measure).await;
    let booked = shared.booked.lock().expect("booked").len() - booked_before;
    let after = drained(&got, booked, Duration::from_secs(5)).await;
    unsubscribe(shared.addr, &admin, hook).await?;
    let note = format!(
        "{BOOK_CLIENTS} booking clients; {} of {booked} events delivered at {:.0}/s, commit to receiver p50 {} ms p99 {} ms, last {:.1} s after the load",
        got.count(),
        got.rate(),
        got.lag_ms(0.5),
        got.lag_ms(0.99),
        after.as_secs_f64()
    );
    Ok(row("webhook-delivery", &merged(&s), measure.as_secs_f64(), rss, note))
}

// ---------------------------------------------------------------- plans

fn rfc(t: Timestamp) -> String {
    t.to_string()
}

/// Seeded weeks a calendar read draws from.
fn seeded_weeks(c: &Clinic) -> usize {
    (1 - c.first_week + 1) as usize
}

/// Doctor `d`'s calendar of week `week`.
fn calendar_uri(c: &Clinic, d: usize, week: i64) -> String {
    let from = c.grid.week_start(week);
    let to = c.grid.week_start(week + 1);
    format!("{}?from={}&to={}", RouteId::Calendar.path(&[c.doctors[d]]), rfc(from), rfc(to))
}

/// A random doctor and seeded week.
fn pick_week(c: &Clinic, rng: &mut Rng) -> (usize, i64) {
    let d = rng.below(c.doctors.len());
    let week = c.first_week + rng.below(seeded_weeks(c)) as i64;
    (d, week)
}

fn calendar_plan(c: &Clinic) -> Plan {
    let c = c.clone();
    Arc::new(move |rng| {
        let (d, week) = pick_week(&c, rng);
        Req::get(Kind::Read, calendar_uri(&c, d, week))
    })
}

/// The `ETag` of every seeded doctor-week's calendar, `[d * weeks + (week - first_week)]`.
async fn calendar_etags(shared: &Shared, c: &Clinic) -> Result<Vec<Arc<str>>> {
    let mut conn = Conn::open(shared.addr).await?;
    let mut tags = Vec::with_capacity(c.doctors.len() * seeded_weeks(c));
    for d in 0..c.doctors.len() {
        for week in c.first_week..=1 {
            let uri = calendar_uri(c, d, week);
            let a = conn.send(Method::GET, &uri, Some(&shared.token), None).await?;
            if a.status != 200 {
                bail!("GET {uri}: {}", a.status);
            }
            let tag = a.headers.get(ETAG).and_then(|t| t.to_str().ok()).with_context(|| format!("no ETag on {uri}"))?;
            tags.push(Arc::from(tag));
        }
    }
    Ok(tags)
}

/// `calendar_plan`'s requests, each with the `ETag` its calendar was answered with.
fn calendar_304_plan(c: &Clinic, tags: Vec<Arc<str>>) -> Plan {
    let c = c.clone();
    Arc::new(move |rng| {
        let (d, week) = pick_week(&c, rng);
        let tag = tags[d * seeded_weeks(&c) + (week - c.first_week) as usize].clone();
        Req { if_none_match: Some(tag), ..Req::get(Kind::Revalidate, calendar_uri(&c, d, week)) }
    })
}

/// The fullest doctor-week's calendar as sent plain, and to a caller that
/// takes gzip and one that takes br (as the terminal client does).
async fn wire_sizes(shared: &Shared, c: &Clinic) -> Result<WireSizes> {
    let (d, week, appointments) = c.fullest_week;
    let uri = calendar_uri(c, d, week);
    let mut conn = Conn::open(shared.addr).await?;
    let mut codings = Vec::new();
    for accept in [None, Some("gzip"), Some("br")] {
        let headers: Vec<(HeaderName, &str)> = accept.map(|a| (ACCEPT_ENCODING, a)).into_iter().collect();
        let a: Answer = conn.send_with(Method::GET, &uri, Some(&shared.token), None, &headers).await?;
        if a.status != 200 {
            bail!("GET {uri}: {}", a.status);
        }
        // Named by what came back, not by what was asked for.
        let coding = match a.headers.get(CONTENT_ENCODING).and_then(|v| v.to_str().ok()) {
            Some("gzip") => "gzip",
            Some("br") => "br",
            Some(_) => "other",
            None => "plain",
        };
        codings.push((coding, a.wire_bytes, a.body.len()));
    }
    Ok(WireSizes { appointments, codings })
}

fn slots_plan(c: &Clinic) -> Plan {
    let c = c.clone();
    Arc::new(move |rng| {
        let d = c.doctors[rng.below(c.doctors.len())];
        let from = Timestamp::now();
        let to = from + SignedDuration::from_hours(24 * 28);
        Req::get(Kind::Read, format!("{}?from={}&to={}", RouteId::Slots.path(&[d]), rfc(from), rfc(to)))
    })
}

/// Slots of each department's room-needing type (length, buffers, a free room).
fn room_slots_plan(c: &Clinic) -> Plan {
    let c = c.clone();
    Arc::new(move |rng| {
        let d = rng.below(c.doctors.len());
        let from = Timestamp::now();
        let to = from + SignedDuration::from_hours(24 * 28);
        let path = RouteId::Slots.path(&[c.doctors[d]]);
        Req::get(Kind::Read, format!("{path}?from={}&to={}&type_id={}", rfc(from), rfc(to), c.room_types[d]))
    })
}

/// Typed bookings that each take a room: every other slot of the weeks
/// after the plain bookings' (its buffers reach into the slots either side).
fn book_rooms_plan(c: &Clinic) -> Plan {
    let c = c.clone();
    let next = Arc::new(AtomicUsize::new(0));
    Arc::new(move |_| {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let (d, slot) = (i % DOCTORS, i / DOCTORS);
        let per_week = SLOTS_PER_WEEK / 2;
        let week = 2 + BOOKING_WEEKS + (slot / per_week) as i64;
        let start = c.grid.slot(week, 2 * (slot % per_week));
        let mut req = book_req(&c, d, start);
        if let Some(body) = &mut req.body {
            let mut v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            v["type_id"] = serde_json::json!(c.room_types[d]);
            *body = v.to_string().into_bytes();
        }
        req
    })
}

/// Distinct free future slots, handed out once each.
struct SlotQueue {
    next: AtomicUsize,
    clinic: Clinic,
}

impl SlotQueue {
    /// The `i`-th free slot: weeks 2.., slot by slot, doctor by doctor.
    fn take(&self) -> (usize, Timestamp) {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        let d = i % DOCTORS;
        let slot = i / DOCTORS;
        let (week, idx) = (2 + (slot / SLOTS_PER_WEEK) as i64, slot % SLOTS_PER_WEEK);
        (d, self.clinic.grid.slot(week.min(1 + BOOKING_WEEKS), idx))
    }
}

fn book_req(c: &Clinic, d: usize, start: Timestamp) -> Req {
    let body = serde_json::json!({
        "patient_id": c.patients[patient_for(start, d)],
        "doctor_id": c.doctors[d],
        "start": start,
        "reason": "Benchmark booking",
    });
    Req {
        kind: Kind::Book,
        method: Method::POST,
        uri: RouteId::CreateAppointment.path(&[]),
        auth: true,
        body: Some(body.to_string().into_bytes()),
        if_none_match: None,
    }
}

fn book_plan(q: &Arc<SlotQueue>) -> Plan {
    let q = q.clone();
    Arc::new(move |_| {
        let (d, start) = q.take();
        book_req(&q.clinic, d, start)
    })
}

/// Issues the seeded drafts, each once, in order.
fn issue_plan(c: &Clinic) -> Plan {
    let drafts = c.drafts.clone();
    let next = Arc::new(AtomicUsize::new(0));
    Arc::new(move |_| {
        let i = next.fetch_add(1, Ordering::Relaxed);
        // Past the last draft the id names nothing: the run counts a 404.
        let id = drafts.get(i).copied().unwrap_or_else(Uuid::nil);
        Req { method: Method::POST, ..Req::get(Kind::Issue, RouteId::IssueInvoice.path(&[id])) }
    })
}

fn login_plan(c: &Clinic) -> Plan {
    let emails = c.login_emails.clone();
    Arc::new(move |rng| {
        let email = &emails[rng.below(emails.len())];
        let body = serde_json::json!({ "email": email, "password": PASSWORD }).to_string();
        Req {
            kind: Kind::Login,
            method: Method::POST,
            uri: RouteId::JwtCreate.path(&[]),
            auth: false,
            body: Some(body.into_bytes()),
            if_none_match: None,
        }
    })
}

/// 70 % calendar and slot reads, 15 % bookings, 10 % check-ins, 5 % logins.
fn front_desk_plan(c: &Clinic, q: &Arc<SlotQueue>, to_check_in: Arc<Mutex<Vec<Uuid>>>) -> Plan {
    let cal = calendar_plan(c);
    let slots = slots_plan(c);
    let book = book_plan(q);
    let login = login_plan(c);
    Arc::new(move |rng| {
        let roll = rng.below(100);
        if roll < 50 {
            cal(rng)
        } else if roll < 70 {
            slots(rng)
        } else if roll < 85 {
            book(rng)
        } else if roll < 95 {
            match to_check_in.lock().expect("queue").pop() {
                Some(id) => {
                    Req { method: Method::POST, ..Req::get(Kind::Status, RouteId::CheckInAppointment.path(&[id])) }
                }
                None => cal(rng),
            }
        } else {
            login(rng)
        }
    })
}

// ---------------------------------------------------------------- scenarios

/// What one backend's run found.
pub struct Outcome {
    pub rows: Vec<Row>,
    /// `floor`'s requests/s, if it ran.
    pub floor_rps: Option<f64>,
    /// One calendar's size plain, gzip and br, if a calendar scenario ran.
    pub wire_sizes: Option<WireSizes>,
}

/// One backend's run of every wanted scenario.
pub async fn run_on(args: &Args, bin: &Path, tmp: &Path, backend: &str, admin_url: Option<&str>) -> Result<Outcome> {
    let wants = |s: &str| args.wants(s);
    let warmup = Duration::from_secs(args.warmup);
    let measure = Duration::from_secs(args.duration.max(1));
    let secs = measure.as_secs_f64();
    let conns = args.connections.max(1);
    let secrets = ProcessSecrets::new();
    let mut rows: Vec<Row> = Vec::new();
    let mut floor_rps = None;

    // ---- phase 1: 10 000 appointments
    let small = args.appointments.min(SMALL_STORE);
    let store1 = BenchStore::new(tmp.join(format!("small-{backend}")), admin_url).await?;
    let drafts = if wants("invoice-issue") { ISSUE_DRAFTS } else { 0 };
    let clinic = seed(&store1, &secrets, small, drafts).await?;
    let at_rest = store1.bytes().await;
    eprintln!(
        "{backend} at rest with {small} appointments: {:.1} MB, {:.0} bytes per appointment",
        at_rest as f64 / 1e6,
        at_rest as f64 / small as f64
    );
    let server = server::start(bin, &store1, &secrets, args.cache_mb).await?;
    let token = login(server.addr, &clinic.desk_email).await?;
    let shared = Arc::new(Shared { addr: server.addr, token, booked: Mutex::new(Vec::new()) });
    let mut calendar_small: Option<Row> = None;

    if wants("floor") {
        let plan: Plan = Arc::new(|_| Req { auth: false, ..Req::get(Kind::Health, RouteId::Healthz.path(&[])) });
        let s = run_load(&shared, vec![(conns, plan)], warmup, measure).await;
        let r = row("floor", &merged(&s), secs, server.rss_mb(), "GET /healthz".into());
        floor_rps = Some(r.requests_per_s);
        progress(&r);
        rows.push(r);
    }
    if wants("calendar-week") {
        let s = run_load(&shared, vec![(conns, calendar_plan(&clinic))], warmup, measure).await;
        let r = row(
            &format!("calendar-week@{}", size(small)),
            &merged(&s),
            secs,
            server.rss_mb(),
            "~40 appointments".into(),
        );
        progress(&r);
        calendar_small = Some(r.clone());
        rows.push(r);
    }
    if wants("calendar-week-304") {
        let tags = calendar_etags(&shared, &clinic).await?;
        let s = run_load(&shared, vec![(conns, calendar_304_plan(&clinic, tags))], warmup, measure).await;
        let r = row(
            &format!("calendar-week-304@{}", size(small)),
            &merged(&s),
            secs,
            server.rss_mb(),
            "If-None-Match: 304, no body".into(),
        );
        progress(&r);
        rows.push(r);
    }
    let wire_sizes = if wants("calendar-week") || wants("calendar-week-304") {
        Some(wire_sizes(&shared, &clinic).await?)
    } else {
        None
    };
    if wants("slots-4w") {
        let s = run_load(&shared, vec![(conns, slots_plan(&clinic))], warmup, measure).await;
        let r = row("slots-4w", &merged(&s), secs, server.rss_mb(), "free slots, 4 weeks".into());
        progress(&r);
        rows.push(r);
    }
    if wants("slots-4w-rooms") {
        let s = run_load(&shared, vec![(conns, room_slots_plan(&clinic))], warmup, measure).await;
        let r = row("slots-4w-rooms", &merged(&s), secs, server.rss_mb(), "a type with buffers and a room".into());
        progress(&r);
        rows.push(r);
    }
    if wants("login") {
        let n = conns.min(LOGIN_USERS);
        let s = run_load(&shared, vec![(n, login_plan(&clinic))], warmup, measure).await;
        let r = row("login", &merged(&s), secs, server.rss_mb(), format!("argon2id, {n} clients"));
        progress(&r);
        rows.push(r);
    }
    if wants("login-storm") {
        let base = match &calendar_small {
            Some(r) => r.clone(),
            None => {
                let s = run_load(&shared, vec![(conns, calendar_plan(&clinic))], warmup, measure).await;
                row("calendar-week (no storm)", &merged(&s), secs, server.rss_mb(), String::new())
            }
        };
        let s = run_load(
            &shared,
            vec![(conns, calendar_plan(&clinic)), (STORM_LOGINS, login_plan(&clinic))],
            warmup,
            measure,
        )
        .await;
        let empty = Stats::new();
        let cal = s.get(&Kind::Read).unwrap_or(&empty);
        let logins = s.get(&Kind::Login).unwrap_or(&empty);
        let rise = cal.ms(0.99) - base.p99_ms;
        let r = row(
            "login-storm: calendar-week",
            cal,
            secs,
            server.rss_mb(),
            format!("p99 {:.2} ms without the storm, {:+.2} ms with it", base.p99_ms, rise),
        );
        progress(&r);
        rows.push(r);
        let r = row("login-storm: logins", logins, secs, server.rss_mb(), format!("{STORM_LOGINS} clients"));
        progress(&r);
        rows.push(r);
    }
    let queue = Arc::new(SlotQueue { next: AtomicUsize::new(0), clinic: clinic.clone() });
    if wants("book") {
        let s = run_load(&shared, vec![(BOOK_CLIENTS, book_plan(&queue))], warmup, measure).await;
        let r = row(
            "book",
            &merged(&s),
            secs,
            server.rss_mb(),
            format!("{BOOK_CLIENTS} clients, distinct slots, 201 = durable"),
        );
        progress(&r);
        rows.push(r);
    }
    if wants("book-rooms") {
        let s = run_load(&shared, vec![(BOOK_CLIENTS, book_rooms_plan(&clinic))], warmup, measure).await;
        let r = row(
            "book-rooms",
            &merged(&s),
            secs,
            server.rss_mb(),
            format!("{BOOK_CLIENTS} clients, typed, buffers, 1 of {ROOMS_PER_DEPT} rooms"),
        );
        progress(&r);
        rows.push(r);
    }
    if wants("book-contention") {
        let r = contention(&shared, &clinic, server.rss_mb()).await?;
        progress(&r);
        rows.push(r);
    }
    if wants("invoice-issue") {
        let s = run_load(&shared, vec![(BOOK_CLIENTS, issue_plan(&clinic))], warmup, measure).await;
        let r = row(
            "invoice-issue",
            &merged(&s),
            secs,
            server.rss_mb(),
            format!("{BOOK_CLIENTS} clients, one year's numbers, 200 = durable"),
        );
        progress(&r);
        rows.push(r);
    }
    if wants("webhook-delivery") {
        let r = webhook_delivery(&shared, &clinic, &queue, server.rss_mb(), warmup, measure).await?;
        progress(&r);
        rows.push(r);
    }
    if wants("front-desk-day") {
        let mut ids = clinic.scheduled.clone();
        ids.extend(shared.booked.lock().expect("booked").iter().copied());
        let to_check_in = Arc::new(Mutex::new(ids));
        let plan = front_desk_plan(&clinic, &queue, to_check_in);
        let s = run_load(&shared, vec![(conns, plan)], warmup, measure).await;
        let mix: Vec<String> = s.iter().map(|(k, v)| format!("{k:?} {}", v.count)).collect();
        let r = row("front-desk-day", &merged(&s), secs, server.rss_mb(), mix.join(", ").to_lowercase());
        progress(&r);
        rows.push(r);
    }

    // Durability: SIGKILL, then every answered booking must be in the store.
    let booked = std::mem::take(&mut *shared.booked.lock().expect("booked"));
    let server_pid = server.pid();
    server.kill();
    let st = reopen(&store1, &secrets).await?;
    let mut missing = 0;
    let mut read = st.store.read().await?;
    for id in &booked {
        if !matches!(read.appointment(*id).await, Ok(Some(_))) {
            missing += 1;
        }
    }
    drop(read);
    let chain = st.store.verify_audit().await?;
    drop(st);
    eprintln!(
        "durability: server {server_pid} killed with SIGKILL; {} of {} answered bookings in the store; audit chain {} ({} entries)",
        booked.len() - missing,
        booked.len(),
        if chain.ok { "verifies" } else { "BROKEN" },
        chain.entries.unwrap_or(0)
    );
    if missing > 0 || !chain.ok {
        bail!("durability check failed: {missing} bookings lost, chain ok = {}", chain.ok);
    }

    // ---- phase 2: the large store
    if wants("calendar-week") && args.appointments > small {
        let store2 = BenchStore::new(tmp.join(format!("large-{backend}")), admin_url).await?;
        let big = seed(&store2, &secrets, args.appointments, 0).await?;
        let at_rest = store2.bytes().await;
        eprintln!(
            "{backend} at rest with {} appointments: {:.1} MB, {:.0} bytes per appointment",
            args.appointments,
            at_rest as f64 / 1e6,
            at_rest as f64 / args.appointments as f64
        );
        let server = server::start(bin, &store2, &secrets, args.cache_mb).await?;
        let token = login(server.addr, &big.desk_email).await?;
        let shared = Arc::new(Shared { addr: server.addr, token, booked: Mutex::new(Vec::new()) });
        let s = run_load(&shared, vec![(conns, calendar_plan(&big))], warmup, measure).await;
        let mut r = row(
            &format!("calendar-week@{}", size(args.appointments)),
            &merged(&s),
            secs,
            server.rss_mb(),
            String::new(),
        );
        if let Some(small) = &calendar_small {
            r.note = format!("p50 {:.2}× of @{}", r.p50_ms / small.p50_ms.max(1e-9), size(SMALL_STORE));
        }
        progress(&r);
        rows.push(r);
        server.kill();
        store2.drop_db().await;
    }

    store1.drop_db().await;
    Ok(Outcome { rows, floor_rps, wire_sizes })
}

/// All 64 clients go for the same 10 slots, each in its own order; exactly
/// 10 bookings may win.
async fn contention(shared: &Arc<Shared>, c: &Clinic, rss: f64) -> Result<Row> {
    let week = 2 + BOOKING_WEEKS;
    let slots: Vec<(usize, Timestamp)> = (0..CONTENTION_SLOTS).map(|i| (0, c.grid.slot(week, i))).collect();
    let mut conns = Vec::new();
    for _ in 0..BOOK_CLIENTS {
        conns.push(Conn::open(shared.addr).await?);
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, mut conn) in conns.into_iter().enumerate() {
        let shared = shared.clone();
        let reqs: Vec<Req> = (0..CONTENTION_SLOTS)
            .map(|k| {
                let (d, t) = slots[(k + i) % CONTENTION_SLOTS];
                book_req(c, d, t)
            })
            .collect();
        tasks.push(tokio::spawn(async move {
            let mut stats = Stats::new();
            let (mut wins, mut losses) = (0u64, 0u64);
            for r in reqs {
                let t0 = Instant::now();
                let res = conn.send(r.method, &r.uri, Some(&shared.token), r.body.as_deref()).await;
                let _ = stats.hist.record(t0.elapsed().as_micros().max(1) as u64);
                stats.count += 1;
                if let Ok(a) = &res {
                    stats.bytes += a.wire_bytes;
                }
                match res {
                    Ok(a) if a.status == 201 => {
                        wins += 1;
                        if let Some(id) = booked_id(&a.body) {
                            shared.booked.lock().expect("booked").push(id);
                        }
                    }
                    Ok(a) if a.status == 409 => losses += 1,
                    _ => stats.errors += 1,
                }
            }
            (stats, wins, losses)
        }));
    }
    let mut all = Stats::new();
    let (mut wins, mut losses) = (0, 0);
    for t in tasks {
        let (s, w, l) = t.await.context("contention task")?;
        all.merge(&s);
        wins += w;
        losses += l;
    }
    let secs = started.elapsed().as_secs_f64();
    let verdict = if wins == CONTENTION_SLOTS as u64 { "ok" } else { "WRONG" };
    Ok(row(
        "book-contention",
        &all,
        secs,
        rss,
        format!("wins {wins} of {CONTENTION_SLOTS} slots ({verdict}), {losses} × 409, {BOOK_CLIENTS} clients"),
    ))
}
