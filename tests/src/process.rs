//! The release server as a child process, on a data directory or on a
//! PostgreSQL database: for crash, signal and several-process tests.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use uuid::Uuid;

use healthsynx_server::config::Secrets;
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

/// Where `cargo build --release -p healthsynx-server` puts the server
/// (`HEALTHSYNX_SERVER_BIN` if set), whether or not it is there yet.
pub fn release_server_path() -> PathBuf {
    if let Ok(p) = std::env::var("HEALTHSYNX_SERVER_BIN") {
        return p.into();
    }
    let target =
        std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| workspace_root().join("target"));
    target.join("release").join("healthsynx-server")
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

fn build_server() -> PathBuf {
    if std::env::var_os("HEALTHSYNX_SERVER_BIN").is_some() {
        return release_server_path();
    }
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "--locked", "-p", "healthsynx-server"])
        .current_dir(workspace_root())
        .status()
        .expect("run cargo build");
    assert!(status.success(), "release build failed");
    release_server_path()
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
    /// A fresh JWT secret and a fixed data key.
    pub fn new() -> Self {
        use base64::Engine;
        let key: Vec<u8> = (0..32).map(|i| (i * 7 + 3) as u8).collect();
        ProcessSecrets {
            jwt: format!("process-test-secret-{}", Uuid::now_v7()),
            data_key: base64::engine::general_purpose::STANDARD.encode(key),
        }
    }

    /// The same secrets as the server's config takes them, for opening the
    /// store in this process (seeding before a start, checking after a kill).
    pub fn server_secrets(&self) -> Secrets {
        use base64::Engine;
        let key = base64::engine::general_purpose::STANDARD.decode(&self.data_key).expect("data key is base64");
        Secrets {
            jwt: self.jwt.as_bytes().to_vec(),
            jwt_previous: None,
            data_key: key.try_into().expect("data key is 32 bytes"),
            data_key_previous: None,
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
    pub addr: SocketAddr,
}

/// How to start a server process: which binary, on which store, with what
/// environment; [`Launch::start`] runs it and waits until it is ready.
pub struct Launch {
    bin: PathBuf,
    store_args: Vec<String>,
    env: Vec<(String, OsString)>,
    stderr: Option<PathBuf>,
    ready_within: Duration,
}

impl Launch {
    /// `bin serve` on the store `store_args` point at (`--data-dir …` or
    /// `--database-url …`), with `s`'s secrets, warnings only, and a
    /// per-user request budget no test reaches.
    pub fn new(bin: impl Into<PathBuf>, store_args: Vec<String>, s: &ProcessSecrets) -> Self {
        let env = [
            ("HEALTHSYNX_JWT_SECRET", s.jwt.as_str()),
            ("HEALTHSYNX_DATA_KEY", s.data_key.as_str()),
            ("HEALTHSYNX_LOG", "warn"),
            ("HEALTHSYNX_RATE_PER_SEC", "100000"),
            ("HEALTHSYNX_RATE_BURST", "100000"),
            // Admins log in with passwords here; the second factor has its own tests.
            ("HEALTHSYNX_MFA_REQUIRED_ROLES", "none"),
        ];
        Launch {
            bin: bin.into(),
            store_args,
            env: env.into_iter().map(|(k, v)| (k.to_owned(), v.into())).collect(),
            stderr: None,
            ready_within: Duration::from_secs(30),
        }
    }

    /// One more variable (a later one of the same name wins).
    pub fn env(mut self, key: &str, value: impl Into<OsString>) -> Self {
        self.env.push((key.to_owned(), value.into()));
        self
    }

    /// The server's stderr goes to this file (default: this process's stderr).
    pub fn stderr_to(mut self, file: impl Into<PathBuf>) -> Self {
        self.stderr = Some(file.into());
        self
    }

    /// How long the server may take to answer `/readyz` (default 30 s).
    pub fn ready_within(mut self, d: Duration) -> Self {
        self.ready_within = d;
        self
    }

    /// Starts the server on a free port and waits until `/readyz` answers `200`.
    pub async fn start(self) -> anyhow::Result<ServerProcess> {
        let port = free_port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut cmd = Command::new(&self.bin);
        cmd.args(["serve", "--addr", &addr.to_string()]).args(&self.store_args).stdout(Stdio::null());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let log = match &self.stderr {
            Some(file) => {
                cmd.stderr(std::fs::File::create(file).with_context(|| format!("create {}", file.display()))?);
                format!("; see {}", file.display())
            }
            None => String::new(),
        };
        let child = cmd.spawn().with_context(|| format!("start {}", self.bin.display()))?;
        let url = format!("http://127.0.0.1:{port}");
        // Dropped on an early return, it kills the child.
        let mut server = ServerProcess { child, url, addr };
        // No proxy: a proxy from the environment has no business with loopback.
        let http = reqwest::Client::builder().no_proxy().build().context("HTTP client")?;
        let deadline = Instant::now() + self.ready_within;
        loop {
            if let Ok(r) = http.get(format!("{}/readyz", server.url)).send().await
                && r.status().is_success()
            {
                return Ok(server);
            }
            if let Some(status) = server.child.try_wait().context("wait for the server")? {
                bail!("the server exited ({status}){log}");
            }
            if Instant::now() > deadline {
                bail!("the server did not become ready in {:?}{log}", self.ready_within);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl ServerProcess {
    /// Starts `serve` on `store` with `env` added, and waits until it is ready.
    pub async fn start(store: &ClinicStore, s: &ProcessSecrets, env: &[(&str, &str)]) -> Self {
        let launch = env.iter().fold(Launch::new(server_bin(), store.args(), s), |l, (k, v)| l.env(k, v));
        launch.start().await.unwrap_or_else(|e| panic!("server: {e:#}"))
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory (`VmRSS` in `/proc/<pid>/status`) in MiB; 0 if unreadable.
    pub fn rss_mb(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }

    /// SIGKILL, and wait for it to be gone: nothing is flushed on the way out.
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
