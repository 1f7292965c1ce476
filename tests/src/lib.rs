//! Test support: start the real server in-process on port 0 with a
//! temporary data directory, and build a small clinic to test against.
//! Tests talk to it only through the shared client (or raw HTTP for
//! malformed requests).

use std::sync::{Arc, OnceLock};

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;

use healthsynx_server::audit::{Action, Actor, Draft};
use healthsynx_server::config::Secrets;
use healthsynx_server::domain::accounts::{NewAccount, stage_account};
use healthsynx_server::store::PatientRow;
use healthsynx_server::{Config, Running, State};
use healthsynx_shared::client::Client;
use healthsynx_shared::{AvailabilityRule, Department, PatientType, Role};

pub use healthsynx_shared as shared;

pub mod process;
pub mod receiver;

/// The password of every clinic user.
pub const PASSWORD: &str = "correct-horse-battery-staple-9";

/// A running server and its data directory (and, on PostgreSQL, its database).
pub struct TestApp {
    pub server: Running,
    pub dir: tempfile::TempDir,
    pub db: Option<Arc<TestDb>>,
}

/// The switch: with `HEALTHSYNX_TEST_DATABASE_URL` (a database to connect
/// to for `CREATE DATABASE`, e.g. `postgres://root@127.0.0.1/postgres`)
/// every test server runs on a PostgreSQL database of its own.
pub fn test_database_url() -> Option<String> {
    std::env::var("HEALTHSYNX_TEST_DATABASE_URL").ok().filter(|u| !u.trim().is_empty())
}

/// A database made for one test (`hs_test_<random>`), dropped with it.
pub struct TestDb {
    pub name: String,
    /// The URL servers use.
    pub url: String,
    admin_url: String,
}

impl TestDb {
    /// Creates a fresh database and applies the schema.
    pub async fn create(admin_url: &str) -> Self {
        use rand::Rng;
        let name = format!("hs_test_{:016x}", rand::thread_rng().r#gen::<u64>());
        let admin = admin_client(admin_url).await;
        admin.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create test database");
        let url = database_url_for(admin_url, &name);
        healthsynx_server::store::pg::migrate(&url).await.expect("migrate test database");
        TestDb { name, url, admin_url: admin_url.to_owned() }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside a test's runtime: do the async work on a thread of its own.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async {
                let admin = admin_client(&admin_url).await;
                let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
            });
        });
        let _ = done.join();
    }
}

async fn admin_client(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect to PostgreSQL");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

/// `url` with its database name replaced by `name`.
pub fn database_url_for(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let root = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

impl TestApp {
    /// Starts a server with the default test config.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Starts a server after `tune` adjusts the config.
    pub async fn spawn_with(tune: impl FnOnce(&mut Config)) -> Self {
        init_logs();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::new(dir.path().to_path_buf(), Secrets::generate());
        // Tests drive one user far past a person's pace; the budget has its own test.
        config.limits.per_second = 1_000_000;
        config.limits.burst = 1_000_000;
        let db = match test_database_url() {
            Some(admin) => Some(Arc::new(TestDb::create(&admin).await)),
            None => None,
        };
        config.database_url = db.as_ref().map(|d| d.url.clone());
        config.pool_size = 8;
        // The suites log admins in with passwords; the second-factor tests
        // ask for `admin` (the server's default) themselves.
        config.mfa_required_roles.clear();
        config.backup_dir = dir.path().join("backups");
        tune(&mut config);
        let server = healthsynx_server::start(config).await.expect("server starts");
        TestApp { server, dir, db }
    }

    /// Whether this server runs on PostgreSQL.
    pub fn on_postgres(&self) -> bool {
        self.db.is_some()
    }

    /// A connection to this test's database (PostgreSQL only), for
    /// white-box checks and tampering on purpose.
    pub async fn sql(&self) -> tokio_postgres::Client {
        let db = self.db.as_ref().expect("a test on PostgreSQL");
        admin_client(&db.url).await
    }

    /// Whether `needle` is anywhere in what the store keeps at rest: the
    /// data directory's files, or a `pg_dump` of the database.
    pub async fn at_rest_contains(&self, needle: &[u8]) -> bool {
        self.state().store.flush().await.expect("flush");
        match &self.db {
            None => data_dir_contains(self.dir.path(), needle),
            Some(db) => pg_dump_contains(&db.url, needle),
        }
    }

    /// Starts a server on an existing state (restarts, key rotation).
    pub async fn spawn_on(state: Arc<State>, dir: tempfile::TempDir) -> Self {
        let server = healthsynx_server::start_with(state).await.expect("server starts");
        TestApp { server, dir, db: None }
    }

    /// Stops the server and opens the same data directory again with a
    /// config changed by `tune` (same secrets unless changed there).
    pub async fn restart(self, tune: impl FnOnce(&mut Config)) -> Self {
        let TestApp { server, dir, db } = self;
        let mut config = server.state.config.clone();
        server.stop().await.expect("stop");
        tune(&mut config);
        // sled releases its directory lock when the last handle drops; its
        // flusher thread may hold one for a moment.
        let mut tries = 0;
        let state = loop {
            match State::open(config.clone()).await {
                Ok(s) => break s,
                Err(e) if tries < 100 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                Err(e) => panic!("reopen: {e}"),
            }
        };
        let mut app = Self::spawn_on(Arc::new(state), dir).await;
        app.db = db;
        app
    }

    /// The base URL.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The server's state (store, keys) for white-box checks.
    pub fn state(&self) -> &State {
        &self.server.state
    }

    /// A client that has not logged in.
    pub fn client(&self) -> Client {
        Client::new(&self.url()).expect("client")
    }

    /// A client logged in as `email` with [`PASSWORD`].
    pub async fn login(&self, email: &str) -> Client {
        let c = self.client();
        c.login(email, PASSWORD).await.unwrap_or_else(|p| panic!("login {email}: {p}"));
        c
    }

    /// A raw HTTP client for malformed requests.
    pub fn http(&self) -> reqwest::Client {
        reqwest::Client::new()
    }
}

/// A temporary directory only its owner can enter: the server binary refuses
/// a data directory open to others, and tempfile leaves the mode to the umask.
pub fn private_tempdir() -> tempfile::TempDir {
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o700));
    }
    builder.tempdir().expect("temp dir")
}

/// Server logs go nowhere unless `TEST_LOG` is set.
fn init_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt().with_test_writer().try_init();
        }
    });
}

/// One argon2 hash of [`PASSWORD`], computed once per test binary: seeding
/// skips hashing, logging in still verifies for real.
fn password_hash() -> String {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| healthsynx_server::crypto::password::hash_blocking(PASSWORD).expect("hash")).clone()
}

/// A user of the clinic: their ids and a logged-in client.
pub struct Member {
    pub user_id: Uuid,
    pub email: String,
    pub client: Client,
}

/// A patient of the clinic.
pub struct PatientMember {
    pub user_id: Uuid,
    pub patient_id: Uuid,
    pub email: String,
    pub client: Client,
}

/// Two departments, a user of each role in each, two patients.
pub struct Clinic {
    pub admin: Member,
    pub reception: Member,
    /// Cardiology.
    pub doctor: Member,
    /// Neurology.
    pub doctor2: Member,
    /// Cardiology.
    pub nurse: Member,
    /// Neurology.
    pub nurse2: Member,
    pub patient: PatientMember,
    pub patient2: PatientMember,
}

impl Clinic {
    /// Every staff member and patient, as `(role, client)`, patient first (as `Role::ALL`).
    pub fn by_role(&self) -> [(Role, &Client); 5] {
        [
            (Role::Patient, &self.patient.client),
            (Role::Doctor, &self.doctor.client),
            (Role::Nurse, &self.nurse.client),
            (Role::Receptionist, &self.reception.client),
            (Role::Admin, &self.admin.client),
        ]
    }
}

/// The insurance id each test patient is registered with.
pub fn insurance_of(email: &str) -> String {
    format!("INS-{}", email.split('@').next().unwrap_or_default().to_uppercase())
}

/// A clock time written in a test.
pub fn clock(hm: &str) -> healthsynx_shared::value::ClockTime {
    hm.parse().expect("a clock time")
}

/// Doctors work every day 08:00–20:00 in 30-minute slots (in the server's zone).
pub fn all_week_rules() -> Vec<AvailabilityRule> {
    (1..=7)
        .map(|d| AvailabilityRule { weekday: d, start: clock("08:00"), end: clock("20:00"), slot_minutes: 30 })
        .collect()
}

impl TestApp {
    /// Builds the clinic straight through the domain (one cached hash), then
    /// logs everyone in over HTTP.
    pub async fn clinic(&self) -> Clinic {
        let st = self.state();
        let hash = password_hash();
        let actor = Actor { id: None, role: None, addr: Some("test-seed".into()) };
        let mut tx = st.store.begin().await.expect("begin");
        for (code, name) in [("cardiology", "Cardiology"), ("neurology", "Neurology")] {
            tx.put_department(&Department { code: code.into(), name: name.into() }).await.expect("department");
        }
        let staff = [
            ("admin@test.dev", "Ada Admin", Role::Admin, None, "aadmin"),
            ("desk@test.dev", "Rita Reception", Role::Receptionist, None, "rreception"),
            ("doc@test.dev", "Carl Cardio", Role::Doctor, Some("cardiology"), "ccardio"),
            ("doc2@test.dev", "Nina Neuro", Role::Doctor, Some("neurology"), "nneuro"),
            ("nurse@test.dev", "Nora Nurse", Role::Nurse, Some("cardiology"), "nnurse"),
            ("nurse2@test.dev", "Ned Nurse", Role::Nurse, Some("neurology"), "nnurse2"),
        ];
        let mut users = Vec::new();
        for (email, name, role, dept, username) in staff {
            let new = NewAccount {
                email,
                full_name: name,
                role,
                department: dept,
                username: Some(username),
                password_hash: Some(hash.clone()),
            };
            let row = stage_account(&mut tx, new).await.expect("account");
            tx.audit(Draft::new(&actor, Action::UserCreate, "user", Some(row.id)));
            users.push((email.to_owned(), row.id));
        }
        let mut patients = Vec::new();
        for (email, name, username) in
            [("pat@test.dev", "Paula Patient", "ppatient"), ("pat2@test.dev", "Peter Other", "pother")]
        {
            let new = NewAccount {
                email,
                full_name: name,
                role: Role::Patient,
                department: None,
                username: Some(username),
                password_hash: Some(hash.clone()),
            };
            let user = stage_account(&mut tx, new).await.expect("account");
            let id = Uuid::now_v7();
            let row = PatientRow {
                id,
                user_id: user.id,
                date_of_birth: Date::constant(1980, 4, 23),
                phone: "+49 30 1234567".into(),
                insurance_id_sealed: Some(st.sealer.seal(&insurance_of(email), id.as_bytes()).expect("seal")),
                patient_type: PatientType::Outpatient,
            };
            tx.put_patient(&row).await.expect("patient");
            tx.audit(Draft::new(&actor, Action::PatientCreate, "patient", Some(id)).patient(id));
            patients.push((email.to_owned(), user.id, id));
        }
        for (_, doctor) in [&users[2], &users[3]] {
            let a = healthsynx_shared::Availability { rules: all_week_rules(), time_off: vec![] };
            tx.put_availability(*doctor, &a).await.expect("rules");
        }
        tx.commit().await.expect("seed clinic");
        st.store.flush().await.expect("flush");
        let logins =
            futures_join(users.iter().map(|(e, _)| e.clone()).chain(patients.iter().map(|(e, _, _)| e.clone())), self)
                .await;
        let mut logins = logins.into_iter();
        let mut member = |(email, id): &(String, Uuid)| Member {
            user_id: *id,
            email: email.clone(),
            client: logins.next().expect("login"),
        };
        let admin = member(&users[0]);
        let reception = member(&users[1]);
        let doctor = member(&users[2]);
        let doctor2 = member(&users[3]);
        let nurse = member(&users[4]);
        let nurse2 = member(&users[5]);
        let mut patient_member = |(email, user_id, patient_id): &(String, Uuid, Uuid)| PatientMember {
            user_id: *user_id,
            patient_id: *patient_id,
            email: email.clone(),
            client: logins.next().expect("login"),
        };
        let patient = patient_member(&patients[0]);
        let patient2 = patient_member(&patients[1]);
        Clinic { admin, reception, doctor, doctor2, nurse, nurse2, patient, patient2 }
    }
}

async fn futures_join(emails: impl Iterator<Item = String>, app: &TestApp) -> Vec<Client> {
    let tasks: Vec<_> = emails
        .map(|e| {
            let c = app.client();
            tokio::spawn(async move {
                c.login(&e, PASSWORD).await.unwrap_or_else(|p| panic!("login {e}: {p}"));
                c
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("login task"));
    }
    out
}

/// `days` days from today at `hh:mm` in `tz` (a slot start in the test rules).
pub fn at(days: i64, hh: i8, mm: i8, tz: &TimeZone) -> Timestamp {
    let date = Timestamp::now().to_zoned(tz.clone()).date() + jiff::Span::new().days(days);
    date.at(hh, mm, 0, 0).to_zoned(tz.clone()).expect("civil time exists").timestamp()
}

/// `days` from today at `hh:mm` UTC.
pub fn utc(days: i64, hh: i8, mm: i8) -> Timestamp {
    at(days, hh, mm, &TimeZone::UTC)
}

/// Half an hour.
pub const SLOT: SignedDuration = SignedDuration::from_mins(30);

/// Whether a `pg_dump` of the database at `url` holds `needle`.
pub fn pg_dump_contains(url: &str, needle: &[u8]) -> bool {
    let out = std::process::Command::new("pg_dump").arg("--dbname").arg(url).output().expect("run pg_dump");
    assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.len() > 1000, "pg_dump wrote a database");
    out.stdout.windows(needle.len()).any(|w| w == needle)
}

/// Whether any file under `dir` holds `needle`.
pub fn data_dir_contains(dir: &std::path::Path, needle: &[u8]) -> bool {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p)
                && bytes.windows(needle.len()).any(|w| w == needle)
            {
                return true;
            }
        }
    }
    false
}

/// Every appointment `c` may list, all pages.
pub async fn all_appointments(c: &Client) -> Vec<healthsynx_shared::Appointment> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let q = healthsynx_shared::api::AppointmentQuery { limit: Some(500), cursor, ..Default::default() };
        let page = c.appointments(&q).await.expect("list appointments");
        out.extend(page.items);
        cursor = page.next_cursor;
        if cursor.is_none() {
            return out;
        }
    }
}
