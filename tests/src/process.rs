//! The release server as a child process, on a data directory or on a
//! PostgreSQL database: for crash, signal and several-process tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use uuid::Uuid;

use healthsynx_shared::api::{NewPatient, NewUser};
use healthsynx_shared::client::Client;
use healthsynx_shared::{PatientType, Role};

use crate::{TestDb, all_week_rules, test_database_url};

/// The password `create_admin` gives `admin@process.test`.
pub const ADMIN_PASSWORD: &str = "umbrella-falcon-ginger-93";
/// The password `seed` gives `doc@process.test`.
pub const DOCTOR_PASSWORD: &str = "pebble-mosaic-harvest-27";

/// The release server binary, built once per test binary.
pub fn server_bin() -> PathBuf {
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

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// The secrets every process of one clinic shares.
#[derive(Clone)]
pub struct ProcessSecrets {
    pub jwt: String,
    pub data_key: String,
}

impl ProcessSecrets {
    pub fn new() -> Self {
        use base64::Engine;
        let key: Vec<u8> = (0..32).map(|i| (i * 7 + 3) as u8).collect();
        ProcessSecrets {
            jwt: format!("process-test-secret-{}", Uuid::now_v7()),
            data_key: base64::engine::general_purpose::STANDARD.encode(key),
        }
    }
}

impl Default for ProcessSecrets {
    fn default() -> Self {
        Self::new()
    }
}

/// Where a clinic's processes keep their data; dropped, it is gone.
pub enum ClinicStore {
    Dir(tempfile::TempDir),
    Database(Arc<TestDb>),
}

impl ClinicStore {
    /// The test's backend: PostgreSQL under `HEALTHSYNX_TEST_DATABASE_URL`, else a data directory.
    pub async fn for_test() -> Self {
        match test_database_url() {
            Some(admin) => ClinicStore::Database(Arc::new(TestDb::create(&admin).await)),
            None => ClinicStore::Dir(crate::private_tempdir()),
        }
    }

    /// A fresh database, whatever the switch says (tests of several processes).
    pub async fn database() -> Self {
        let admin = test_database_url().unwrap_or_else(|| "postgres://root@127.0.0.1/postgres".into());
        ClinicStore::Database(Arc::new(TestDb::create(&admin).await))
    }

    /// The flags that point a command at this store.
    pub fn args(&self) -> Vec<String> {
        match self {
            ClinicStore::Dir(d) => vec!["--data-dir".into(), d.path().display().to_string()],
            ClinicStore::Database(db) => vec!["--database-url".into(), db.url.clone()],
        }
    }
}

/// One server process.
pub struct ServerProcess {
    pub child: Child,
    pub url: String,
}

impl ServerProcess {
    /// Starts `serve` on `store` and waits until it is ready.
    pub async fn start(store: &ClinicStore, s: &ProcessSecrets, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let mut cmd = Command::new(server_bin());
        cmd.args(["serve", "--addr", &format!("127.0.0.1:{port}")])
            .args(store.args())
            .env("HEALTHSYNX_JWT_SECRET", &s.jwt)
            .env("HEALTHSYNX_DATA_KEY", &s.data_key)
            .env("HEALTHSYNX_LOG", "warn")
            .env("HEALTHSYNX_RATE_PER_SEC", "100000")
            .env("HEALTHSYNX_RATE_BURST", "100000")
            .stdout(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start server");
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
        ServerProcess { child, url }
    }

    /// SIGKILL, and wait for it to be gone.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `create-admin admin@process.test` on `store`.
pub fn create_admin(store: &ClinicStore) {
    let out = Command::new(server_bin())
        .args(["create-admin", "--email", "admin@process.test", "--full-name", "Process Admin"])
        .args(store.args())
        .env("HEALTHSYNX_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .output()
        .expect("run create-admin");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// A doctor with all-week hours and `n` patients, through the API.
pub async fn seed(url: &str, n: usize) -> (Uuid, Vec<Uuid>) {
    let admin = Client::new(url).unwrap();
    admin.login("admin@process.test", ADMIN_PASSWORD).await.expect("seed");
    admin.create_department("cardiology", "Cardiology").await.expect("seed");
    let doctor = admin
        .create_user(&NewUser {
            email: "doc@process.test".parse().unwrap(),
            full_name: "Dora Doc".into(),
            role: Role::Doctor,
            department: Some("cardiology".parse().unwrap()),
            password: Some(DOCTOR_PASSWORD.into()),
            username: None,
        })
        .await
        .unwrap();
    admin.set_availability(doctor.id, all_week_rules()).await.expect("seed");
    let mut patients = Vec::new();
    for i in 0..n {
        let p = NewPatient {
            email: format!("p{i}@process.test").parse().unwrap(),
            full_name: format!("Patient Number{i}"),
            date_of_birth: "1970-01-01".into(),
            phone: "+49 30 1234567".into(),
            insurance_id: Some(format!("INS-{i:05}")),
            patient_type: PatientType::Outpatient,
            password: None,
        };
        patients.push(admin.create_patient(&p).await.expect("seed").patient.id);
    }
    (doctor.id, patients)
}
