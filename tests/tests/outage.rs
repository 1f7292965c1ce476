//! PostgreSQL going away under load, on a PostgreSQL server of the test's
//! own (so stopping it disturbs no other test): writes answer `503` or
//! succeed durably, nothing hangs past a bounded time, `/readyz` says so,
//! and the same server process serves again once the database is back.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use healthsynx_tests::process::{ADMIN_PASSWORD, ClinicStore};
use healthsynx_tests::process::{ProcessSecrets, ServerProcess, free_port, seed, server_bin};
use healthsynx_tests::shared::api::NewAppointment;
use healthsynx_tests::shared::client::Client;
use healthsynx_tests::{SLOT, TestDb, utc};
use uuid::Uuid;

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A throw-away PostgreSQL cluster, run as the `postgres` user (it refuses root).
struct PrivatePg {
    dir: tempfile::TempDir,
    port: u16,
}

impl PrivatePg {
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn as_postgres(args: &[&str]) -> std::process::Output {
        Command::new("runuser").args(["-u", "postgres", "--"]).args(args).output().expect("run as postgres")
    }

    fn init() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::chown(dir.path(), Some(uid_of("postgres")), None).unwrap();
        let pg = PrivatePg { dir, port: free_port() };
        let data = pg.data();
        let out = Self::as_postgres(&[
            &format!("{PG_BIN}/initdb"),
            "-D",
            data.to_str().unwrap(),
            "-A",
            "trust",
            "-U",
            "root",
            "--no-sync",
        ]);
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        pg.start();
        pg
    }

    fn start(&self) {
        let opts = format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, self.dir.path().display());
        let log = self.dir.path().join("log");
        let out = Self::as_postgres(&[
            &format!("{PG_BIN}/pg_ctl"),
            "-D",
            self.data().to_str().unwrap(),
            "-o",
            &opts,
            "-l",
            log.to_str().unwrap(),
            "-w",
            "start",
        ]);
        assert!(out.status.success(), "pg_ctl start: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Stops at once, as a crash or a failover would.
    fn stop(&self) {
        let out = Self::as_postgres(&[
            &format!("{PG_BIN}/pg_ctl"),
            "-D",
            self.data().to_str().unwrap(),
            "-m",
            "immediate",
            "-w",
            "stop",
        ]);
        assert!(out.status.success(), "pg_ctl stop: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn url(&self) -> String {
        format!("postgres://root@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let _ = Self::as_postgres(&[
            &format!("{PG_BIN}/pg_ctl"),
            "-D",
            self.data().to_str().unwrap(),
            "-m",
            "immediate",
            "stop",
        ]);
    }
}

fn uid_of(user: &str) -> u32 {
    let out = Command::new("id").args(["-u", user]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn create_admin_at(store: &ClinicStore) {
    let out = Command::new(server_bin())
        .args(["create-admin", "--email", "admin@process.test", "--full-name", "Process Admin"])
        .args(store.args())
        .env("HEALTHSYNX_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

async fn readyz(url: &str) -> u16 {
    match reqwest::get(format!("{url}/readyz")).await {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

/// The longest any answer may take while the database is gone.
const BOUND: Duration = Duration::from_secs(12);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_postgres_under_load_gives_503_never_a_hang_and_the_server_recovers_by_itself() {
    assert!(Path::new(PG_BIN).exists(), "PostgreSQL 15 server binaries are installed");
    let pg = PrivatePg::init();
    let store = ClinicStore::Database(Arc::new(TestDb::create(&pg.url()).await));
    create_admin_at(&store);
    let server = ServerProcess::start(&store, &ProcessSecrets::new(), &[]).await;
    let (doctor, patients) = seed(&server.url, 8).await;
    let admin = Client::new(&server.url).unwrap();
    admin.login("admin@process.test", ADMIN_PASSWORD).await.unwrap();

    let acked: Arc<Mutex<Vec<Uuid>>> = Arc::default();
    let statuses: Arc<Mutex<Vec<u16>>> = Arc::default();
    let slowest: Arc<Mutex<Duration>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (i, patient) in patients.iter().copied().enumerate() {
        let (admin, acked, statuses, slowest, stop) =
            (admin.clone(), acked.clone(), statuses.clone(), slowest.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            for day in 2..400 {
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let req = NewAppointment {
                    patient_id: patient,
                    doctor_id: doctor,
                    start: utc(day, 8, 0) + SLOT * i as i32,
                    end: None,
                    reason: "outage".parse().unwrap(),
                    type_id: None,
                };
                let started = Instant::now();
                let answer = admin.book(&req, None).await;
                let took = started.elapsed();
                {
                    let mut s = slowest.lock().unwrap();
                    *s = (*s).max(took);
                }
                match answer {
                    Ok(a) => {
                        acked.lock().unwrap().push(a.id);
                        statuses.lock().unwrap().push(201);
                    }
                    Err(p) => {
                        statuses.lock().unwrap().push(p.status);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    pg.stop();
    let down = Instant::now();
    let not_ready = async || readyz(&server.url).await == 503;
    let mut seen_not_ready = false;
    while down.elapsed() < Duration::from_secs(4) {
        seen_not_ready |= not_ready().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen_not_ready, "/readyz turns 503 while the database is gone");
    let during: Vec<u16> = statuses.lock().unwrap().clone();
    pg.start();
    let back = Instant::now();
    let recovered = loop {
        let before = acked.lock().unwrap().len();
        tokio::time::sleep(Duration::from_millis(300)).await;
        if acked.lock().unwrap().len() > before && readyz(&server.url).await == 200 {
            break true;
        }
        if back.elapsed() > Duration::from_secs(20) {
            break false;
        }
    };
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }
    assert!(recovered, "bookings succeed again once PostgreSQL is back, with no restart");
    let all = statuses.lock().unwrap().clone();
    assert!(all.iter().all(|s| *s == 201 || *s == 503), "only 201 or 503: {:?}", all);
    assert!(during.contains(&503), "the outage was answered with 503");
    let slowest = *slowest.lock().unwrap();
    assert!(slowest < BOUND, "an answer took {slowest:?}");
    let acked = acked.lock().unwrap().clone();
    for id in &acked {
        admin.appointment(*id).await.unwrap_or_else(|p| panic!("acknowledged {id} lost: {p}"));
    }
    assert!(admin.verify_audit().await.unwrap().ok);
}
