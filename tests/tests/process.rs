//! The release server as a child process: killed with SIGKILL mid-booking it
//! loses no acknowledged write; stopped with SIGTERM it finishes what it started.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use healthsynx_tests::shared::api::{AppointmentQuery, NewAppointment, NewPatient, NewUser};
use healthsynx_tests::shared::client::Client;
use healthsynx_tests::shared::{AppointmentStatus, PatientType, Role};
use healthsynx_tests::{SLOT, all_week_rules, utc};
use uuid::Uuid;

const ADMIN_PASSWORD: &str = "umbrella-falcon-ginger-93";
const DOCTOR_PASSWORD: &str = "pebble-mosaic-harvest-27";

/// The release server binary, built once per run.
fn server_bin() -> PathBuf {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(build_server).clone()
}

fn build_server() -> PathBuf {
    if let Ok(p) = std::env::var("HEALTHSYNX_SERVER_BIN") {
        return p.into();
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf();
    let target = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| root.join("target"));
    let bin = target.join("release").join("healthsynx-server");
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--locked", "-p", "healthsynx-server"])
        .current_dir(&root)
        .status()
        .expect("run cargo build");
    assert!(status.success(), "release build failed");
    bin
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Secrets {
    jwt: String,
    data_key: String,
}

fn secrets() -> Secrets {
    use base64::Engine;
    let key: Vec<u8> = (0..32).map(|i| (i * 7 + 3) as u8).collect();
    Secrets {
        jwt: format!("process-test-secret-{}", Uuid::now_v7()),
        data_key: base64::engine::general_purpose::STANDARD.encode(key),
    }
}

struct Server {
    child: Child,
    url: String,
}

impl Server {
    async fn start(bin: &Path, dir: &Path, s: &Secrets) -> Server {
        let port = free_port();
        let child = Command::new(bin)
            .args(["serve", "--addr", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(dir)
            .env("HEALTHSYNX_JWT_SECRET", &s.jwt)
            .env("HEALTHSYNX_DATA_KEY", &s.data_key)
            .env("HEALTHSYNX_LOG", "warn")
            .env("HEALTHSYNX_RATE_PER_SEC", "100000")
            .env("HEALTHSYNX_RATE_BURST", "100000")
            .stdout(Stdio::null())
            .spawn()
            .expect("start server");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = reqwest::get(format!("{url}/readyz")).await
                && r.status().is_success()
            {
                break;
            }
            assert!(Instant::now() < deadline, "server did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Server { child, url }
    }

    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn create_admin(bin: &Path, dir: &Path) {
    let out = Command::new(bin)
        .args(["create-admin", "--email", "admin@process.test", "--full-name", "Process Admin", "--data-dir"])
        .arg(dir)
        .env("HEALTHSYNX_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A doctor with all-week hours and `n` patients, through the API.
async fn seed(url: &str, n: usize) -> (Uuid, Vec<Uuid>) {
    let admin = Client::new(url).unwrap();
    admin.login("admin@process.test", ADMIN_PASSWORD).await.unwrap();
    admin.create_department("cardiology", "Cardiology").await.unwrap();
    let doctor = admin
        .create_user(&NewUser {
            email: "doc@process.test".into(),
            full_name: "Dora Doc".into(),
            role: Role::Doctor,
            department: Some("cardiology".into()),
            password: Some(DOCTOR_PASSWORD.into()),
            username: None,
        })
        .await
        .unwrap();
    admin.set_availability(doctor.id, all_week_rules()).await.unwrap();
    let mut patients = Vec::new();
    for i in 0..n {
        let p = NewPatient {
            email: format!("p{i}@process.test"),
            full_name: format!("Patient Number{i}"),
            date_of_birth: "1970-01-01".into(),
            phone: "+49 30 1234567".into(),
            insurance_id: Some(format!("INS-{i:05}")),
            patient_type: PatientType::Outpatient,
            password: None,
        };
        patients.push(admin.create_patient(&p).await.unwrap().patient.id);
    }
    (doctor.id, patients)
}

fn pseudo_random(n: u64) -> u64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() as u64;
    (nanos ^ 0x9e37_79b9_7f4a_7c15).wrapping_mul(6364136223846793005) % n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_booking_loses_no_acknowledged_booking() {
    let bin = server_bin();
    let dir = healthsynx_tests::private_tempdir();
    let s = secrets();
    create_admin(&bin, dir.path());
    let server = Server::start(&bin, dir.path(), &s).await;
    let (doctor, patients) = seed(&server.url, 16).await;
    let acknowledged: Arc<Mutex<Vec<Uuid>>> = Arc::default();
    let mut server = Some(server);
    for round in 0..5i64 {
        let url = server.as_ref().unwrap().url.clone();
        let admin = Client::new(&url).unwrap();
        admin.login("admin@process.test", ADMIN_PASSWORD).await.unwrap();
        // 16 clients book distinct slots of one day each round, until the kill.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut tasks = Vec::new();
        for (i, patient) in patients.iter().copied().enumerate() {
            let (admin, acked, stop) = (admin.clone(), acknowledged.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                for k in 0..24 {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    let day = 2 + round * 30 + k;
                    let req = NewAppointment {
                        patient_id: patient,
                        doctor_id: doctor,
                        start: utc(day, 8, 0) + SLOT * i as i32,
                        end: None,
                        reason: format!("round {round}"),
                    };
                    match admin.book(&req, None).await {
                        Ok(a) => acked.lock().unwrap().push(a.id),
                        Err(p) if p.status == 0 => break, // the server died mid-request
                        Err(p) => panic!("unexpected answer {p}"),
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(150 + pseudo_random(600))).await;
        server.take().unwrap().kill();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for t in tasks {
            t.await.unwrap();
        }

        let restarted = Server::start(&bin, dir.path(), &s).await;
        let admin = Client::new(&restarted.url).unwrap();
        admin.login("admin@process.test", ADMIN_PASSWORD).await.unwrap();
        let acked = acknowledged.lock().unwrap().clone();
        assert!(!acked.is_empty(), "round {round}: some bookings were acknowledged before the kill");
        for id in &acked {
            let a =
                admin.appointment(*id).await.unwrap_or_else(|p| panic!("round {round}: acknowledged {id} lost: {p}"));
            assert_eq!(a.status, AppointmentStatus::Scheduled);
        }
        // Nothing half-written: the doctor index and the patient indexes agree, and every row reads.
        let mut by_doctor = HashSet::new();
        let mut cursor = None;
        loop {
            let q = AppointmentQuery { doctor_id: Some(doctor), limit: Some(500), cursor, ..Default::default() };
            let page = admin.appointments(&q).await.unwrap();
            by_doctor.extend(page.items.iter().map(|a| a.id));
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        let mut by_patient = HashSet::new();
        for p in &patients {
            let q = AppointmentQuery { patient_id: Some(*p), limit: Some(500), ..Default::default() };
            by_patient.extend(admin.appointments(&q).await.unwrap().items.iter().map(|a| a.id));
        }
        assert_eq!(by_doctor, by_patient, "round {round}: indexes disagree");
        assert!(acked.iter().all(|id| by_doctor.contains(id)));
        let report = admin.verify_audit().await.unwrap();
        assert!(report.ok, "round {round}: audit chain broken at {:?}", report.first_bad);
        server = Some(restarted);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_requests_finish_and_exits_cleanly() {
    let bin = server_bin();
    let dir = healthsynx_tests::private_tempdir();
    let s = secrets();
    create_admin(&bin, dir.path());
    let mut server = Server::start(&bin, dir.path(), &s).await;
    // Logins are the slowest requests (argon2): start a batch, then ask the server to stop.
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let url = server.url.clone();
        tasks.push(tokio::spawn(async move {
            let c = Client::new(&url).unwrap();
            c.login("admin@process.test", ADMIN_PASSWORD).await.map(|_| ())
        }));
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    for t in tasks {
        t.await.unwrap().expect("a request in flight at SIGTERM still gets its answer");
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(st) = server.child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "server did not exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status}");
    assert!(reqwest::get(format!("{}/healthz", server.url)).await.is_err(), "no longer accepting");
}
