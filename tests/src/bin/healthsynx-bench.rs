//! `healthsynx-bench`: how fast Health Synx answers, and how its cost grows
//! with the store.
//!
//! It builds nothing: it runs the release server binary (`--server-bin`,
//! default `target/release/healthsynx-server`) as a child process, so the
//! server's memory can be read from `/proc/<pid>/status`. Each store is seeded
//! before the server starts, through the server's own store code (accounts
//! through the domain, appointments through `Store::bulk_put_appointments`,
//! which writes the same trees and index keys as a booking). Load comes from
//! this process: one keep-alive HTTP/1 connection per simulated client, on a
//! small tokio runtime, with latencies in HDR histograms.
//!
//! Phase 1 runs every scenario on a store of 10 000 appointments, then kills
//! the server with SIGKILL and checks that every booking answered `201` is in
//! the store and the audit chain verifies. Phase 2 seeds `--appointments`
//! (default 1 000 000) and runs `calendar-week` again.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use clap::Parser;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::Method;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;

use healthsynx_server::audit::{Action, Actor, Draft};
use healthsynx_server::config::Secrets;
use healthsynx_server::domain::accounts::{NewAccount, stage_account};
use healthsynx_server::store::{AppointmentRow, PatientRow};
use healthsynx_server::{Config, State};
use healthsynx_shared::api::RouteId;
use healthsynx_shared::{AppointmentStatus, Availability, AvailabilityRule, Department, PatientType, Role};
use healthsynx_tests::clock;

const ALL: &[&str] =
    &["floor", "calendar-week", "slots-4w", "login", "login-storm", "book", "book-contention", "front-desk-day"];

/// The store of phase 1.
const SMALL_STORE: u64 = 10_000;
const DOCTORS: usize = 50;
const PATIENTS: usize = 1_000;
/// Appointments in a doctor's week (of 80 slots).
const PER_WEEK: usize = 40;
const SLOTS_PER_WEEK: usize = 80;
/// Distinct accounts the login scenarios log in as.
const LOGIN_USERS: usize = 16;
const PASSWORD: &str = "bench-quartz-lantern-meadow-58";
const BOOK_CLIENTS: usize = 64;
const STORM_LOGINS: usize = 50;
const CONTENTION_SLOTS: usize = 10;
/// Future weeks kept free for bookings.
const BOOKING_WEEKS: i64 = 40;

#[derive(Parser, Debug)]
#[command(name = "healthsynx-bench", about = "Benchmarks the release Health Synx server over HTTP")]
struct Args {
    /// Scenarios to run, comma-separated (default: all).
    #[arg(long, value_delimiter = ',', default_values_t = ALL.iter().map(|s| s.to_string()).collect::<Vec<_>>())]
    scenarios: Vec<String>,
    /// Appointments in the large store (calendar-week runs on 10 000 and on this).
    #[arg(long, default_value_t = 1_000_000)]
    appointments: u64,
    /// Seconds each scenario is measured, after the warm-up.
    #[arg(long, default_value_t = 8)]
    duration: u64,
    /// Seconds of warm-up before each measured run.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Concurrent keep-alive connections (book uses 64, login-storm adds 50 logins).
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Worker threads of the load generator (the server gets the rest of the cores).
    #[arg(long, default_value_t = 1)]
    client_threads: usize,
    /// Write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// The release server binary.
    #[arg(long, env = "HEALTHSYNX_SERVER_BIN")]
    server_bin: Option<PathBuf>,
    /// Passed to the server as HEALTHSYNX_CACHE_MB (default: the server's own).
    #[arg(long)]
    cache_mb: Option<u64>,
    /// Where the data directories go (default: a temporary directory).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Also run every scenario on PostgreSQL: a database to connect to for
    /// `CREATE DATABASE` (each phase gets a new `hs_bench_<random>`, dropped after).
    #[arg(long, env = "HEALTHSYNX_BENCH_DATABASE_URL")]
    database_url: Option<String>,
}

/// Where one phase's server keeps its data.
struct BenchStore {
    dir: PathBuf,
    /// PostgreSQL: the database's URL, and the admin URL to drop it with.
    db: Option<(String, String, String)>,
}

impl BenchStore {
    async fn new(dir: PathBuf, admin_url: Option<&str>) -> Result<Self> {
        std::fs::create_dir_all(&dir).context("work dir")?;
        // The server refuses a data directory others can read.
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).context("work dir mode")?;
        let Some(admin) = admin_url else { return Ok(BenchStore { dir, db: None }) };
        let name = format!("hs_bench_{}", Uuid::now_v7().simple());
        pg_admin(admin, &format!("CREATE DATABASE {name}")).await?;
        let url = healthsynx_tests::database_url_for(admin, &name);
        healthsynx_server::store::pg::migrate(&url).await.map_err(|e| anyhow::anyhow!("migrate: {e}"))?;
        Ok(BenchStore { dir, db: Some((url, admin.to_owned(), name)) })
    }

    fn url(&self) -> Option<&str> {
        self.db.as_ref().map(|d| d.0.as_str())
    }

    fn config(&self, secrets: &BenchSecrets) -> Config {
        let mut config = Config::new(self.dir.clone(), secrets.server_secrets());
        config.database_url = self.url().map(str::to_owned);
        config
    }

    fn args(&self) -> Vec<String> {
        match self.url() {
            Some(url) => vec!["--database-url".into(), url.into()],
            None => vec!["--data-dir".into(), self.dir.display().to_string()],
        }
    }

    /// Bytes at rest: the data directory, or the database.
    async fn bytes(&self) -> u64 {
        match &self.db {
            None => dir_bytes(&self.dir),
            Some((url, _, _)) => match tokio_postgres::connect(url, tokio_postgres::NoTls).await {
                Ok((client, conn)) => {
                    tokio::spawn(conn);
                    match client.query_one("SELECT pg_database_size(current_database())", &[]).await {
                        Ok(r) => r.get::<_, i64>(0).max(0) as u64,
                        Err(_) => 0,
                    }
                }
                Err(_) => 0,
            },
        }
    }

    async fn drop_db(&self) {
        if let Some((_, admin, name)) = &self.db {
            let _ = pg_admin(admin, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
        }
    }
}

async fn pg_admin(url: &str, sql: &str) -> Result<()> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.context("connect to PostgreSQL")?;
    tokio::spawn(conn);
    client.batch_execute(sql).await.with_context(|| format!("`{sql}`"))?;
    Ok(())
}

fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

fn main() {
    let args = Args::parse();
    for s in &args.scenarios {
        if !ALL.contains(&s.as_str()) {
            eprintln!("unknown scenario `{s}`; known: {}", ALL.join(","));
            std::process::exit(2);
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.max(1))
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run(args)) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("healthsynx-bench: {e}");
            std::process::exit(1);
        }
    }
}

// ---------------------------------------------------------------- results

#[derive(Debug, Clone)]
struct Row {
    scenario: String,
    requests_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
    server_rss_mb: f64,
    note: String,
}

fn print_table(rows: &[Row], floor: Option<f64>) {
    println!();
    println!(
        "{:<34} {:>12} {:>9} {:>9} {:>8} {:>9} {:>9}  note",
        "scenario", "requests/s", "p50 ms", "p99 ms", "errors", "RSS MB", "÷ floor"
    );
    for r in rows {
        let ratio =
            floor.filter(|f| *f > 0.0).map_or(String::from("-"), |f| format!("{:.0} %", 100.0 * r.requests_per_s / f));
        println!(
            "{:<34} {:>12.0} {:>9.2} {:>9.2} {:>8} {:>9.1} {:>9}  {}",
            r.scenario, r.requests_per_s, r.p50_ms, r.p99_ms, r.errors, r.server_rss_mb, ratio, r.note
        );
    }
}

fn write_json(file: &Path, rows: &[Row]) -> Result<()> {
    let list: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "scenario": r.scenario,
                "requests_per_s": round2(r.requests_per_s),
                "p50_ms": round2(r.p50_ms),
                "p99_ms": round2(r.p99_ms),
                "errors": r.errors,
                "server_rss_mb": round2(r.server_rss_mb),
                "note": r.note,
            })
        })
        .collect();
    let text = serde_json::to_string_pretty(&list).context("encode json")?;
    std::fs::write(file, text + "\n").context("write --json file")
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

// ---------------------------------------------------------------- server

struct Server {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Server {
    async fn start(bin: &Path, store: &BenchStore, env: &BenchSecrets, cache_mb: Option<u64>) -> Result<Server> {
        let dir = store.dir.as_path();
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").context("free port")?.local_addr().context("port")?.port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let log = dir.join("server.log");
        let log_file = std::fs::File::create(&log).context("server log file")?;
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--addr", &addr.to_string()])
            .args(store.args())
            .env("HEALTHSYNX_JWT_SECRET", &env.jwt)
            .env("HEALTHSYNX_DATA_KEY", &env.data_key_b64)
            .env("HEALTHSYNX_LOG", "warn")
            .env("HEALTHSYNX_RATE_PER_SEC", "10000000")
            .env("HEALTHSYNX_RATE_BURST", "10000000")
            .env("HEALTHSYNX_ACCESS_TTL", "7200")
            .env("HEALTHSYNX_REFRESH_TTL", "7200")
            .env("HEALTHSYNX_BACKUP_DIR", dir.join("backups"))
            .stdout(Stdio::null())
            .stderr(log_file);
        if let Some(mb) = cache_mb {
            cmd.env("HEALTHSYNX_CACHE_MB", mb.to_string());
        }
        let child = cmd.spawn().with_context(|| format!("start {}", bin.display()))?;
        let mut server = Server { child, addr, log };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(mut c) = Conn::open(addr).await
                && let Ok((200, _)) = c.send(Method::GET, &RouteId::Readyz.path(&[]), None, None).await
            {
                return Ok(server);
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                bail!("the server exited ({status}); see {}", server.log.display());
            }
            if Instant::now() > deadline {
                bail!("the server did not become ready; see {}", server.log.display());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn rss_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }

    /// SIGKILL: nothing is flushed on the way out.
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server_bin(args: &Args) -> Result<PathBuf> {
    let bin = match &args.server_bin {
        Some(p) => p.clone(),
        None => {
            let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("workspace root")?.to_path_buf();
            let target = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| root.join("target"));
            target.join("release").join("healthsynx-server")
        }
    };
    if !bin.exists() {
        bail!(
            "{} not found: build it first with `cargo build --release -p healthsynx-server` (or pass --server-bin)",
            bin.display()
        );
    }
    Ok(bin)
}

// ---------------------------------------------------------------- HTTP

/// One keep-alive HTTP/1 connection.
struct Conn {
    tx: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    host: String,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Result<Conn> {
        let stream = tokio::net::TcpStream::connect(addr).await.context("connect")?;
        stream.set_nodelay(true).context("nodelay")?;
        let (tx, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.context("handshake")?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn { tx, host: addr.to_string() })
    }

    async fn send(
        &mut self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<&[u8]>,
    ) -> Result<(u16, Bytes)> {
        self.tx.ready().await.context("connection")?;
        let mut b = hyper::Request::builder().method(method).uri(uri).header(HOST, &self.host);
        if let Some(t) = token {
            b = b.header(AUTHORIZATION, format!("Bearer {t}"));
        }
        if body.is_some() {
            b = b.header(CONTENT_TYPE, "application/json");
        }
        let req = b.body(Full::new(Bytes::copy_from_slice(body.unwrap_or_default()))).context("request")?;
        let resp = self.tx.send_request(req).await.context("send")?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await.context("body")?.to_bytes();
        Ok((status, body))
    }
}

async fn login(addr: SocketAddr, email: &str) -> Result<String> {
    let mut c = Conn::open(addr).await?;
    let body = serde_json::json!({ "email": email, "password": PASSWORD }).to_string();
    let (status, bytes) = c.send(Method::POST, &RouteId::JwtCreate.path(&[]), None, Some(body.as_bytes())).await?;
    if status != 200 {
        bail!("login {email}: {status} {}", String::from_utf8_lossy(&bytes));
    }
    let v: serde_json::Value = serde_json::from_slice(&bytes).context("login answer")?;
    Ok(v["access"].as_str().context("access token")?.to_owned())
}

// ---------------------------------------------------------------- seeding

struct BenchSecrets {
    jwt: String,
    data_key: [u8; 32],
    data_key_b64: String,
}

impl BenchSecrets {
    fn new() -> Self {
        use base64::Engine;
        let seed = Uuid::now_v7();
        let mut data_key = [0u8; 32];
        for (i, b) in data_key.iter_mut().enumerate() {
            *b = seed.as_bytes()[i % 16] ^ (i as u8).wrapping_mul(37);
        }
        BenchSecrets {
            jwt: format!("healthsynx-bench-jwt-secret-{}-{}", seed, Uuid::now_v7()),
            data_key,
            data_key_b64: base64::engine::general_purpose::STANDARD.encode(data_key),
        }
    }

    fn server_secrets(&self) -> Secrets {
        Secrets {
            jwt: self.jwt.as_bytes().to_vec(),
            jwt_previous: None,
            data_key: self.data_key,
            data_key_previous: None,
        }
    }
}

/// The seeded clinic's time grid: Mon–Fri 08:00–12:00 and 13:00–17:00 (UTC) in 30-minute slots.
#[derive(Clone)]
struct Grid {
    /// Monday 00:00 UTC of the current week.
    monday: Timestamp,
}

impl Grid {
    fn new() -> Self {
        let today = Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
        let back = today.weekday().to_monday_zero_offset() as i64;
        let monday = today - jiff::Span::new().days(back);
        let monday = monday.at(0, 0, 0, 0).to_zoned(jiff::tz::TimeZone::UTC).expect("utc").timestamp();
        Grid { monday }
    }

    fn week_start(&self, week: i64) -> Timestamp {
        self.monday + SignedDuration::from_hours(24 * 7 * week)
    }

    /// Slot `idx` (0..80) of week `week` (0 = this week).
    fn slot(&self, week: i64, idx: usize) -> Timestamp {
        let (day, j) = ((idx / 16) as i64, (idx % 16) as i64);
        let minutes = if j < 8 { 8 * 60 + 30 * j } else { 13 * 60 + 30 * (j - 8) };
        self.week_start(week) + SignedDuration::from_hours(24 * day) + SignedDuration::from_mins(minutes)
    }

    fn rules() -> Vec<AvailabilityRule> {
        (1..=5)
            .flat_map(|d| {
                [
                    AvailabilityRule { weekday: d, start: clock("08:00"), end: clock("12:00"), slot_minutes: 30 },
                    AvailabilityRule { weekday: d, start: clock("13:00"), end: clock("17:00"), slot_minutes: 30 },
                ]
            })
            .collect()
    }
}

/// Who has an appointment at `t` with doctor `d`: distinct for the doctors
/// of one slot, so no patient is ever in two places.
fn patient_for(t: Timestamp, d: usize) -> usize {
    ((t.as_second() / 1800) as usize * DOCTORS + d) % PATIENTS
}

/// What a seeded store holds, as the load generator needs it.
#[derive(Clone)]
struct Clinic {
    grid: Grid,
    doctors: Vec<Uuid>,
    patients: Vec<Uuid>,
    /// Weeks holding seeded appointments: `first_week..=1`.
    first_week: i64,
    /// Scheduled future appointments (for status changes).
    scheduled: Vec<Uuid>,
    desk_email: String,
    login_emails: Vec<String>,
}

fn email_desk(i: usize) -> String {
    format!("desk{i}@bench.test")
}

/// Seeds accounts, availability and `n` appointments into a new store in `dir`.
async fn seed(store: &BenchStore, secrets: &BenchSecrets, n: u64) -> Result<Clinic> {
    let started = Instant::now();
    // A big page cache while loading: sled slows to a crawl when the pages it
    // writes to do not fit (the server itself runs with its own setting).
    let mut config = store.config(secrets);
    config.cache_mb = 4096;
    let st = State::open(config).await.context("open the store")?;
    let hash = healthsynx_server::crypto::password::hash_blocking(PASSWORD).context("hash")?;
    let actor = Actor { id: None, role: None, addr: Some("bench-seed".into()) };
    let depts = ["cardiology", "general", "neurology"];
    let mut doctors = Vec::new();
    let seed_err = |what: &'static str| move |e: healthsynx_server::error::Error| anyhow::anyhow!("seed {what}: {e}");
    let mut tx = st.store.begin().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    for code in depts {
        tx.put_department(&Department { code: code.into(), name: code.to_uppercase() })
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    for i in 0..LOGIN_USERS {
        let email = email_desk(i);
        let name = format!("Desk Clerk{i:02}");
        let new = NewAccount {
            email: &email,
            full_name: &name,
            role: Role::Receptionist,
            department: None,
            username: None,
            password_hash: Some(hash.clone()),
        };
        let row = stage_account(&mut tx, new).await.map_err(seed_err("staff"))?;
        tx.audit(Draft::new(&actor, Action::UserCreate, "user", Some(row.id)));
    }
    for d in 0..DOCTORS {
        let email = format!("doctor{d}@bench.test");
        let name = format!("Doctor Number{d:02}");
        let new = NewAccount {
            email: &email,
            full_name: &name,
            role: Role::Doctor,
            department: Some(depts[d % depts.len()]),
            username: None,
            password_hash: Some(hash.clone()),
        };
        let row = stage_account(&mut tx, new).await.map_err(seed_err("staff"))?;
        tx.put_availability(row.id, &Availability { rules: Grid::rules(), time_off: vec![] })
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        tx.audit(Draft::new(&actor, Action::UserCreate, "user", Some(row.id)));
        doctors.push(row.id);
    }
    tx.commit().await.map_err(|e| anyhow::anyhow!("seed staff: {e}"))?;
    let mut patients = Vec::new();
    for chunk in 0..PATIENTS.div_ceil(100) {
        let mut tx = st.store.begin().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        for i in chunk * 100..((chunk + 1) * 100).min(PATIENTS) {
            let email = format!("patient{i}@bench.test");
            let name = format!("Patient Number{i:04}");
            let new = NewAccount {
                email: &email,
                full_name: &name,
                role: Role::Patient,
                department: None,
                username: None,
                password_hash: None,
            };
            let user = stage_account(&mut tx, new).await.map_err(seed_err("patients"))?;
            let id = Uuid::now_v7();
            let row = PatientRow {
                id,
                user_id: user.id,
                date_of_birth: jiff::civil::date(1950 + (i % 60) as i16, 1 + (i % 12) as i8, 1 + (i % 28) as i8),
                phone: format!("+49 30 {:07}", i),
                insurance_id_sealed: Some(
                    st.sealer.seal(&format!("INS-{i:06}"), id.as_bytes()).map_err(seed_err("patients"))?,
                ),
                patient_type: PatientType::Outpatient,
            };
            tx.put_patient(&row).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            tx.audit(Draft::new(&actor, Action::PatientCreate, "patient", Some(id)).patient(id));
            patients.push(id);
        }
        tx.commit().await.map_err(|e| anyhow::anyhow!("seed patients: {e}"))?;
    }
    // Appointments: 40 a doctor-week, on every other slot, weeks ending next week.
    let grid = Grid::new();
    let per_week = (DOCTORS * PER_WEEK) as u64;
    let weeks = n.div_ceil(per_week).max(1) as i64;
    let first_week = 2 - weeks;
    let now = Timestamp::now();
    let mut made = 0u64;
    let mut batch: Vec<AppointmentRow> = Vec::with_capacity(100_000);
    let mut scheduled = Vec::new();
    let sys = Uuid::nil();
    'weeks: for week in first_week..=1 {
        for (d, doctor) in doctors.iter().enumerate() {
            for idx in (0..SLOTS_PER_WEEK).filter(|i| (i + d + week.rem_euclid(2) as usize).is_multiple_of(2)) {
                if made == n {
                    break 'weeks;
                }
                let start = grid.slot(week, idx);
                let id = Uuid::now_v7();
                let status = if start >= now {
                    AppointmentStatus::Scheduled
                } else if made.is_multiple_of(10) {
                    AppointmentStatus::NoShow
                } else {
                    AppointmentStatus::Completed
                };
                if status == AppointmentStatus::Scheduled {
                    scheduled.push(id);
                }
                batch.push(AppointmentRow {
                    id,
                    patient_id: patients[patient_for(start, d)],
                    doctor_id: *doctor,
                    department: depts[d % depts.len()].to_owned(),
                    start,
                    end: start + SignedDuration::from_mins(30),
                    status,
                    reason_sealed: st
                        .sealer
                        .seal("Follow-up visit", id.as_bytes())
                        .map_err(|e| anyhow::anyhow!("{e}"))?,
                    cancel_reason_sealed: None,
                    version: 1,
                    created_at: start - SignedDuration::from_hours(24 * 14),
                    updated_at: start - SignedDuration::from_hours(24 * 14),
                    created_by: sys,
                });
                made += 1;
                if batch.len() == batch.capacity() {
                    st.store.bulk_put_appointments(&batch).await.map_err(|e| anyhow::anyhow!("bulk load: {e}"))?;
                    batch.clear();
                }
            }
        }
    }
    st.store.bulk_put_appointments(&batch).await.map_err(|e| anyhow::anyhow!("bulk load: {e}"))?;
    st.store
        .append_audit([Draft::new(&actor, Action::StoreBulkLoad, "appointment", None)])
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    st.store.flush().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    drop(st);
    eprintln!(
        "seeded {made} appointments ({weeks} weeks × {DOCTORS} doctors, {PATIENTS} patients) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(Clinic {
        grid,
        doctors,
        patients,
        first_week,
        scheduled,
        desk_email: email_desk(0),
        login_emails: (0..LOGIN_USERS).map(email_desk).collect(),
    })
}

// ---------------------------------------------------------------- load

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Health,
    Read,
    Book,
    Status,
    Login,
}

impl Kind {
    fn ok(self, status: u16) -> bool {
        match self {
            Kind::Book => status == 201,
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

/// Counts and latencies of one kind of request over the measured window.
struct Stats {
    count: u64,
    errors: u64,
    hist: Histogram<u64>,
}

impl Stats {
    fn new() -> Self {
        Stats { count: 0, errors: 0, hist: Histogram::new_with_bounds(1, 120_000_000, 3).expect("histogram") }
    }

    fn merge(&mut self, o: &Stats) {
        self.count += o.count;
        self.errors += o.errors;
        let _ = self.hist.add(&o.hist);
    }

    fn ms(&self, q: f64) -> f64 {
        if self.hist.is_empty() { 0.0 } else { self.hist.value_at_quantile(q) as f64 / 1000.0 }
    }
}

/// Shared across a run: the token, and the `201` answers of bookings.
struct Shared {
    addr: SocketAddr,
    token: String,
    booked: Mutex<Vec<Uuid>>,
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
                            c.send(req.method.clone(), &req.uri, token, req.body.as_deref()).await
                        }
                        None => Err(anyhow::anyhow!("no connection")),
                    };
                    let t1 = Instant::now();
                    let ok = match &result {
                        Ok((status, body)) => {
                            let ok = req.kind.ok(*status);
                            if ok
                                && req.kind == Kind::Book
                                && let Ok(v) = serde_json::from_slice::<serde_json::Value>(body)
                                && let Some(id) = v["id"].as_str().and_then(|s| s.parse::<Uuid>().ok())
                            {
                                shared.booked.lock().expect("booked").push(id);
                            }
                            ok
                        }
                        Err(_) => {
                            conn = None;
                            false
                        }
                    };
                    if t0 >= from && t1 <= until {
                        let s = stats.entry(req.kind).or_insert_with(Stats::new);
                        s.count += 1;
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

fn row(name: &str, stats: &Stats, secs: f64, rss: f64, note: String) -> Row {
    Row {
        scenario: name.to_owned(),
        requests_per_s: stats.count as f64 / secs,
        p50_ms: stats.ms(0.50),
        p99_ms: stats.ms(0.99),
        errors: stats.errors,
        server_rss_mb: rss,
        note,
    }
}

fn merged(stats: &BTreeMap<Kind, Stats>) -> Stats {
    let mut all = Stats::new();
    for s in stats.values() {
        all.merge(s);
    }
    all
}

// ---------------------------------------------------------------- plans

fn rfc(t: Timestamp) -> String {
    t.to_string()
}

fn calendar_plan(c: &Clinic) -> Plan {
    let c = c.clone();
    let weeks = (1 - c.first_week + 1) as usize;
    Arc::new(move |rng| {
        let d = c.doctors[rng.below(c.doctors.len())];
        let week = c.first_week + rng.below(weeks) as i64;
        let from = c.grid.week_start(week);
        let to = c.grid.week_start(week + 1);
        Req {
            kind: Kind::Read,
            method: Method::GET,
            uri: format!("{}?from={}&to={}", RouteId::Calendar.path(&[d]), rfc(from), rfc(to)),
            auth: true,
            body: None,
        }
    })
}

fn slots_plan(c: &Clinic) -> Plan {
    let c = c.clone();
    Arc::new(move |rng| {
        let d = c.doctors[rng.below(c.doctors.len())];
        let from = Timestamp::now();
        let to = from + SignedDuration::from_hours(24 * 28);
        Req {
            kind: Kind::Read,
            method: Method::GET,
            uri: format!("{}?from={}&to={}", RouteId::Slots.path(&[d]), rfc(from), rfc(to)),
            auth: true,
            body: None,
        }
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
    }
}

fn book_plan(q: &Arc<SlotQueue>) -> Plan {
    let q = q.clone();
    Arc::new(move |_| {
        let (d, start) = q.take();
        book_req(&q.clinic, d, start)
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
                Some(id) => Req {
                    kind: Kind::Status,
                    method: Method::POST,
                    uri: RouteId::CheckInAppointment.path(&[id]),
                    auth: true,
                    body: None,
                },
                None => cal(rng),
            }
        } else {
            login(rng)
        }
    })
}

// ---------------------------------------------------------------- scenarios

async fn run(args: Args) -> Result<()> {
    let bin = server_bin(&args)?;
    // Private, as the server wants its data directory (tempfile leaves the mode to the umask).
    let mut builder = tempfile::Builder::new();
    builder.prefix("healthsynx-bench-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o700));
    }
    let tmp = match &args.work_dir {
        Some(d) => builder.tempdir_in(d),
        None => builder.tempdir(),
    }
    .context("work dir")?;
    let total = Instant::now();
    let mut backends: Vec<(&str, Option<&str>)> = vec![("sled", None)];
    if let Some(url) = args.database_url.as_deref() {
        backends.push(("postgres", Some(url)));
    }
    let mut all: Vec<(String, Vec<Row>)> = Vec::new();
    for (backend, admin_url) in backends {
        eprintln!("== {backend}");
        let (rows, floor_rps) = run_on(&args, &bin, tmp.path(), backend, admin_url).await?;
        println!("\n{backend}:");
        print_table(&rows, floor_rps);
        all.push((backend.to_owned(), rows));
    }
    if let [(_, sled), (_, pg)] = all.as_slice() {
        print_side_by_side(sled, pg);
    }
    println!(
        "\n{} connections, {} s measured after {} s warm-up per scenario, {} load-generator thread(s); whole run {:.0} s",
        args.connections.max(1),
        args.duration,
        args.warmup,
        args.client_threads,
        total.elapsed().as_secs_f64()
    );
    if let Some(file) = &args.json {
        let rows: Vec<Row> = all
            .into_iter()
            .flat_map(|(b, rows)| {
                rows.into_iter().map(move |mut r| {
                    r.scenario = format!("{b}: {}", r.scenario);
                    r
                })
            })
            .collect();
        write_json(file, &rows)?;
    }
    Ok(())
}

/// One backend's run of every wanted scenario; its rows and the floor's requests/s.
async fn run_on(
    args: &Args,
    bin: &Path,
    tmp: &Path,
    backend: &str,
    admin_url: Option<&str>,
) -> Result<(Vec<Row>, Option<f64>)> {
    let bin = bin.to_path_buf();
    let wants = |s: &str| args.scenarios.iter().any(|x| x == s);
    let warmup = Duration::from_secs(args.warmup);
    let measure = Duration::from_secs(args.duration.max(1));
    let secs = measure.as_secs_f64();
    let conns = args.connections.max(1);
    let secrets = BenchSecrets::new();
    let mut rows: Vec<Row> = Vec::new();
    let mut floor_rps = None;

    // ---- phase 1: 10 000 appointments
    let small = args.appointments.min(SMALL_STORE);
    let store1 = BenchStore::new(tmp.join(format!("small-{backend}")), admin_url).await?;
    let clinic = seed(&store1, &secrets, small).await?;
    let at_rest = store1.bytes().await;
    eprintln!(
        "{backend} at rest with {small} appointments: {:.1} MB, {:.0} bytes per appointment",
        at_rest as f64 / 1e6,
        at_rest as f64 / small as f64
    );
    let server = Server::start(&bin, &store1, &secrets, args.cache_mb).await?;
    let token = login(server.addr, &clinic.desk_email).await?;
    let shared = Arc::new(Shared { addr: server.addr, token, booked: Mutex::new(Vec::new()) });
    let size = |n: u64| {
        if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
            format!("{}M", n / 1_000_000)
        } else if n >= 1000 && n.is_multiple_of(1000) {
            format!("{}k", n / 1000)
        } else {
            n.to_string()
        }
    };
    let mut calendar_small: Option<Row> = None;

    if wants("floor") {
        let plan: Plan = Arc::new(|_| Req {
            kind: Kind::Health,
            method: Method::GET,
            uri: RouteId::Healthz.path(&[]),
            auth: false,
            body: None,
        });
        let s = run_load(&shared, vec![(conns, plan)], warmup, measure).await;
        let r = row("floor", &merged(&s), secs, server.rss_mb(), "GET /healthz".into());
        floor_rps = Some(r.requests_per_s);
        report(&r);
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
        report(&r);
        calendar_small = Some(r.clone());
        rows.push(r);
    }
    if wants("slots-4w") {
        let s = run_load(&shared, vec![(conns, slots_plan(&clinic))], warmup, measure).await;
        let r = row("slots-4w", &merged(&s), secs, server.rss_mb(), "free slots, 4 weeks".into());
        report(&r);
        rows.push(r);
    }
    if wants("login") {
        let n = conns.min(LOGIN_USERS);
        let s = run_load(&shared, vec![(n, login_plan(&clinic))], warmup, measure).await;
        let r = row("login", &merged(&s), secs, server.rss_mb(), format!("argon2id, {n} clients"));
        report(&r);
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
        report(&r);
        rows.push(r);
        let r = row("login-storm: logins", logins, secs, server.rss_mb(), format!("{STORM_LOGINS} clients"));
        report(&r);
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
        report(&r);
        rows.push(r);
    }
    if wants("book-contention") {
        let r = contention(&shared, &clinic, server.rss_mb()).await?;
        report(&r);
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
        report(&r);
        rows.push(r);
    }

    // Durability: SIGKILL, then every answered booking must be in the store.
    let booked = std::mem::take(&mut *shared.booked.lock().expect("booked"));
    let server_pid = server.child.id();
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
        let big = seed(&store2, &secrets, args.appointments).await?;
        let at_rest = store2.bytes().await;
        eprintln!(
            "{backend} at rest with {} appointments: {:.1} MB, {:.0} bytes per appointment",
            args.appointments,
            at_rest as f64 / 1e6,
            at_rest as f64 / args.appointments as f64
        );
        let server = Server::start(&bin, &store2, &secrets, args.cache_mb).await?;
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
        report(&r);
        rows.push(r);
        server.kill();
        store2.drop_db().await;
    }

    store1.drop_db().await;
    Ok((rows, floor_rps))
}

/// The two backends' rows beside each other.
fn print_side_by_side(sled: &[Row], pg: &[Row]) {
    println!("\nside by side (requests/s, p50 ms, RSS MB):");
    println!("{:<34} {:>22} {:>22} {:>8}", "scenario", "sled", "postgres", "pg÷sled");
    for r in sled {
        let Some(p) = pg.iter().find(|p| p.scenario == r.scenario) else { continue };
        println!(
            "{:<34} {:>9.0} {:>6.2} {:>5.0} {:>9.0} {:>6.2} {:>5.0} {:>7.0} %",
            r.scenario,
            r.requests_per_s,
            r.p50_ms,
            r.server_rss_mb,
            p.requests_per_s,
            p.p50_ms,
            p.server_rss_mb,
            100.0 * p.requests_per_s / r.requests_per_s.max(1e-9)
        );
    }
}

fn report(r: &Row) {
    eprintln!(
        "  {:<30} {:>9.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {}  rss {:.1} MB",
        r.scenario, r.requests_per_s, r.p50_ms, r.p99_ms, r.errors, r.server_rss_mb
    );
}

/// Opens a data directory the killed server held (its lock goes with the process).
async fn reopen(store: &BenchStore, secrets: &BenchSecrets) -> Result<State> {
    let mut tries = 0;
    loop {
        match State::open(store.config(secrets)).await {
            Ok(s) => return Ok(s),
            Err(e) if tries > 100 => bail!("reopen the store: {e}"),
            Err(_) => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
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
                match res {
                    Ok((201, body)) => {
                        wins += 1;
                        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body)
                            && let Some(id) = v["id"].as_str().and_then(|s| s.parse::<Uuid>().ok())
                        {
                            shared.booked.lock().expect("booked").push(id);
                        }
                    }
                    Ok((409, _)) => losses += 1,
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
