//! The server under test: where it keeps its data, and the release binary
//! started on it through the tests' [`ServerProcess`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use uuid::Uuid;

use healthsynx_server::{Config, State};
use healthsynx_tests::process::{Launch, ProcessSecrets, ServerProcess, release_server_path};

use crate::args::Args;

/// Where one phase's server keeps its data.
pub struct BenchStore {
    pub dir: PathBuf,
    /// PostgreSQL: the database's URL, and the admin URL to drop it with.
    db: Option<(String, String, String)>,
}

impl BenchStore {
    pub async fn new(dir: PathBuf, admin_url: Option<&str>) -> Result<Self> {
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

    /// The config that opens this store in the bench's own process.
    pub fn config(&self, secrets: &ProcessSecrets) -> Config {
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
    pub async fn bytes(&self) -> u64 {
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

    pub async fn drop_db(&self) {
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

/// Starts `bin` on `store`: tokens that outlive the run, no request budget
/// in the way, the server's stderr in `server.log` beside its data.
pub async fn start(
    bin: &Path,
    store: &BenchStore,
    secrets: &ProcessSecrets,
    cache_mb: Option<u64>,
) -> Result<ServerProcess> {
    let dir = store.dir.as_path();
    let mut launch = Launch::new(bin, store.args(), secrets)
        .env("HEALTHSYNX_RATE_PER_SEC", "10000000")
        .env("HEALTHSYNX_RATE_BURST", "10000000")
        .env("HEALTHSYNX_ACCESS_TTL", "7200")
        .env("HEALTHSYNX_REFRESH_TTL", "7200")
        .env("HEALTHSYNX_BACKUP_DIR", dir.join("backups"))
        // The bench's admin logs in with a password; its receiver is on loopback.
        .env("HEALTHSYNX_MFA_REQUIRED_ROLES", "none")
        .env("HEALTHSYNX_WEBHOOK_ALLOW_PRIVATE", "1")
        .stderr_to(dir.join("server.log"))
        // Opening a store of a million appointments takes a while.
        .ready_within(Duration::from_secs(120));
    if let Some(mb) = cache_mb {
        launch = launch.env("HEALTHSYNX_CACHE_MB", mb.to_string());
    }
    launch.start().await
}

/// The release server binary: `--server-bin`, else where cargo builds it.
/// The bench builds nothing, so a missing binary is an error.
pub fn server_bin(args: &Args) -> Result<PathBuf> {
    let bin = args.server_bin.clone().unwrap_or_else(release_server_path);
    if !bin.exists() {
        bail!(
            "{} not found: build it first with `cargo build --release -p healthsynx-server` (or pass --server-bin)",
            bin.display()
        );
    }
    Ok(bin)
}

/// Opens a data directory the killed server held (its lock goes with the process).
pub async fn reopen(store: &BenchStore, secrets: &ProcessSecrets) -> Result<State> {
    let mut tries = 0;
    loop {
        match State::open(store.config(secrets)).await {
            Ok(s) => return Ok(s),
            Err(e) if tries > 100 => bail!("reopen the store: {e:#}"),
            Err(_) => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
