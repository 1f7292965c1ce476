//! Command line and environment → [`Config`]. Every flag has an environment
//! twin; secrets are checked at start-up and never printed.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clap::{Args, Parser, Subcommand};
use jiff::tz::TimeZone;

/// Health Synx server.
#[derive(Debug, Parser)]
#[command(name = "healthsynx-server", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What the binary does.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API.
    Serve(Box<ServeArgs>),
    /// Create an administrator in a (stopped) server's data directory.
    CreateAdmin(CreateAdminArgs),
    /// Write a sealed backup of a stopped server's data directory.
    Backup(BackupArgs),
    /// Restore a backup into a new, empty data directory.
    Restore(RestoreArgs),
    /// Re-seal every stored value under the current data key (stopped server).
    Rekey(RekeyArgs),
    /// Apply the PostgreSQL schema (needed before the first `serve`).
    Migrate(MigrateArgs),
    /// Move a stopped embedded clinic into an empty PostgreSQL database.
    Copy(CopyArgs),
}

/// Where the PostgreSQL store is, when that is the store used.
#[derive(Clone, Default, Args)]
pub struct DatabaseArgs {
    /// `postgres://USER@HOST/DB`: run on PostgreSQL instead of the embedded store.
    #[arg(long, env = "HEALTHSYNX_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

impl std::fmt::Debug for DatabaseArgs {
    // The URL may carry a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DatabaseArgs { .. }")
    }
}

/// `migrate` flags.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[arg(long, env = "HEALTHSYNX_DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
}

/// `copy` flags.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The stopped embedded clinic.
    #[arg(long, env = "HEALTHSYNX_DATA_DIR")]
    pub data_dir: PathBuf,
    /// An empty PostgreSQL database (the schema is applied if missing).
    #[arg(long, env = "HEALTHSYNX_DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
}

/// The data keys, for commands that seal or open.
#[derive(Clone, Args)]
pub struct DataKeyArgs {
    /// Data key: 32 bytes, standard base64.
    #[arg(long, env = "HEALTHSYNX_DATA_KEY", hide_env_values = true)]
    pub data_key: Option<String>,
    /// The previous data key, during a rotation.
    #[arg(long, env = "HEALTHSYNX_DATA_KEY_PREVIOUS", hide_env_values = true)]
    pub data_key_previous: Option<String>,
}

impl std::fmt::Debug for DataKeyArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKeyArgs { .. }")
    }
}

impl DataKeyArgs {
    /// The sealer these keys make.
    pub fn sealer(&self) -> anyhow::Result<crate::crypto::seal::Sealer> {
        let Some(current) = self.data_key.as_deref() else {
            bail!("HEALTHSYNX_DATA_KEY is not set: backups are sealed and opened with the data key");
        };
        let current = parse_data_key(current, "HEALTHSYNX_DATA_KEY")?;
        let previous =
            self.data_key_previous.as_deref().map(|k| parse_data_key(k, "HEALTHSYNX_DATA_KEY_PREVIOUS")).transpose()?;
        Ok(crate::crypto::seal::Sealer::new(&current, previous.as_ref()))
    }
}

/// Whether a data or backup directory that group or others can get into is
/// accepted (by default it is refused at start: the store holds names,
/// emails and password hashes).
#[derive(Debug, Clone, Copy, Args)]
pub struct SharedDirArgs {
    /// Accept a data or backup directory that group or others can read.
    #[arg(long, env = "HEALTHSYNX_ALLOW_SHARED_DATA_DIR", value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_shared_data_dir: bool,
}

/// `backup` flags.
#[derive(Debug, Args)]
pub struct BackupArgs {
    #[arg(long, env = "HEALTHSYNX_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// The backup file to write.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub keys: DataKeyArgs,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub shared: SharedDirArgs,
}

/// `restore` flags.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A new, empty data directory.
    #[arg(long, env = "HEALTHSYNX_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// The backup file to read.
    #[arg(long)]
    pub from: PathBuf,
    #[command(flatten)]
    pub keys: DataKeyArgs,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub shared: SharedDirArgs,
}

/// `rekey` flags: the new key as the data key, the old one as previous.
#[derive(Debug, Args)]
pub struct RekeyArgs {
    #[arg(long, env = "HEALTHSYNX_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub keys: DataKeyArgs,
    #[command(flatten)]
    pub shared: SharedDirArgs,
}

/// `serve` flags.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "HEALTHSYNX_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Where the store lives.
    #[arg(long, env = "HEALTHSYNX_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Generate throw-away secrets (for development only).
    #[arg(long, env = "HEALTHSYNX_DEV")]
    pub dev: bool,
    /// `--dev` plus a seeded demo clinic in a fresh temporary data directory.
    #[arg(long, env = "HEALTHSYNX_DEMO")]
    pub demo: bool,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub secrets: SecretArgs,
    #[command(flatten)]
    pub settings: SettingArgs,
    #[command(flatten)]
    pub shared: SharedDirArgs,
}

/// Secrets: from the environment (flags work too, but show up in `ps`).
#[derive(Clone, Args)]
pub struct SecretArgs {
    /// JWT signing secret, at least 32 bytes.
    #[arg(long, env = "HEALTHSYNX_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// The previous JWT secret, accepted for verifying only, during a rotation.
    #[arg(long, env = "HEALTHSYNX_JWT_SECRET_PREVIOUS", hide_env_values = true)]
    pub jwt_secret_previous: Option<String>,
    /// Data key for sealed fields: 32 bytes, standard base64.
    #[arg(long, env = "HEALTHSYNX_DATA_KEY", hide_env_values = true)]
    pub data_key: Option<String>,
    /// The previous data key, for opening values sealed before a rotation.
    #[arg(long, env = "HEALTHSYNX_DATA_KEY_PREVIOUS", hide_env_values = true)]
    pub data_key_previous: Option<String>,
}

impl std::fmt::Debug for SecretArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretArgs { .. }")
    }
}

/// Tunables with defaults.
#[derive(Debug, Clone, Args)]
pub struct SettingArgs {
    /// The clinic's time zone (IANA name) for availability rules.
    #[arg(long, env = "HEALTHSYNX_TZ", default_value = "UTC")]
    pub tz: String,
    /// Access token lifetime in seconds.
    #[arg(long, env = "HEALTHSYNX_ACCESS_TTL", default_value_t = 300)]
    pub access_ttl: u64,
    /// Refresh token lifetime in seconds.
    #[arg(long, env = "HEALTHSYNX_REFRESH_TTL", default_value_t = 86_400)]
    pub refresh_ttl: u64,
    /// Patients may cancel up to this many hours before the start.
    #[arg(long, env = "HEALTHSYNX_CANCEL_HOURS", default_value_t = 24)]
    pub cancel_hours: u64,
    /// Patients may not book sooner than this many hours ahead.
    #[arg(long, env = "HEALTHSYNX_MIN_NOTICE_HOURS", default_value_t = 2)]
    pub min_notice_hours: u64,
    /// Patients may not book further ahead than this many days.
    #[arg(long, env = "HEALTHSYNX_BOOKING_HORIZON_DAYS", default_value_t = 180)]
    pub booking_horizon_days: u64,
    /// Upcoming appointments a patient may hold when booking online.
    #[arg(long, env = "HEALTHSYNX_MAX_OPEN_PER_PATIENT", default_value_t = 10)]
    pub max_open_per_patient: u64,
    /// Check-in opens this many minutes before the start.
    #[arg(long, env = "HEALTHSYNX_CHECKIN_EARLY_MINUTES", default_value_t = 120)]
    pub checkin_early_minutes: u64,
    /// Minutes a waitlist offer holds its time for the patient.
    #[arg(long, env = "HEALTHSYNX_OFFER_MINUTES", default_value_t = 30)]
    pub offer_minutes: u64,
    /// The currency invoices are made out in (ISO 4217).
    #[arg(long, env = "HEALTHSYNX_CURRENCY", default_value = "EUR")]
    pub currency: String,
    /// The clinic's name, at the head of every invoice.
    #[arg(long, env = "HEALTHSYNX_CLINIC_NAME", default_value = "Health Synx Clinic")]
    pub clinic_name: String,
    /// The clinic's postal address on invoices, lines separated by `;`.
    #[arg(long, env = "HEALTHSYNX_CLINIC_ADDRESS", default_value = "")]
    pub clinic_address: String,
    /// Minutes a break-glass (emergency access) grant lasts.
    #[arg(long, env = "HEALTHSYNX_BREAK_GLASS_MINUTES", default_value_t = 60)]
    pub break_glass_minutes: u64,
    /// Lets webhooks post to loopback, private and link-local addresses and
    /// over plain `http` (receivers on the clinic's own network, tests).
    #[arg(long, env = "HEALTHSYNX_WEBHOOK_ALLOW_PRIVATE", value_parser = clap::builder::BoolishValueParser::new())]
    pub webhook_allow_private: bool,
    /// How long before each scheduled appointment a reminder event goes
    /// out, comma-separated (`24h,2h`; units d, h, m, s).
    #[arg(long, env = "HEALTHSYNX_REMINDER_OFFSETS", default_value = "24h,2h")]
    pub reminder_offsets: String,
    /// How often the reminders due are looked for.
    #[arg(long, env = "HEALTHSYNX_REMINDER_CHECK", default_value = "30s")]
    pub reminder_check: String,
    /// The wait before a failed delivery's first retry; each retry doubles it.
    #[arg(long, env = "HEALTHSYNX_WEBHOOK_RETRY_BASE", default_value = "30s")]
    pub webhook_retry_base: String,
    /// How long a delivery is retried before it is listed as dead.
    #[arg(long, env = "HEALTHSYNX_WEBHOOK_RETRY_FOR", default_value = "24h")]
    pub webhook_retry_for: String,
    /// How long one delivery attempt may take.
    #[arg(long, env = "HEALTHSYNX_WEBHOOK_TIMEOUT", default_value = "10s")]
    pub webhook_timeout: String,
    /// The address clients reach this server by (`https://clinic.example`),
    /// for the URLs it hands out; default: the `Host` each request names.
    #[arg(long, env = "HEALTHSYNX_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Origins that get CORS headers, comma-separated.
    #[arg(long, env = "HEALTHSYNX_CORS_ORIGINS", default_value = "http://localhost:3000", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// TLS certificate chain (PEM); with --tls-key the server speaks HTTPS only.
    #[arg(long, env = "HEALTHSYNX_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, env = "HEALTHSYNX_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Seconds of the first login lockout (after 5 failures); each next one doubles.
    #[arg(long, env = "HEALTHSYNX_LOGIN_LOCKOUT_SECS", default_value_t = 30)]
    pub login_lockout_secs: u64,
    /// Sustained requests per second each user may make.
    #[arg(long, env = "HEALTHSYNX_RATE_PER_SEC", default_value_t = 50)]
    pub rate_per_sec: u32,
    /// Requests each user may make at once above the sustained rate.
    #[arg(long, env = "HEALTHSYNX_RATE_BURST", default_value_t = 200)]
    pub rate_burst: u32,
    /// Where `POST /api/admin/backup` writes its files.
    #[arg(long, env = "HEALTHSYNX_BACKUP_DIR", default_value = "./backups")]
    pub backup_dir: PathBuf,
    /// The store's page cache in MiB of on-disk bytes (decoded, about twice
    /// that; sled's per-page bookkeeping comes on top and grows with the store).
    #[arg(long, env = "HEALTHSYNX_CACHE_MB", default_value_t = crate::store::DEFAULT_CACHE_MB)]
    pub cache_mb: u64,
    /// Memory for appointments kept encoded as the API shows them, MiB
    /// (0: render every appointment on every read).
    #[arg(long, env = "HEALTHSYNX_VIEW_CACHE_MB", default_value_t = crate::store::DEFAULT_VIEW_CACHE_MB)]
    pub view_cache_mb: u64,
    /// Connections each server process keeps to PostgreSQL.
    #[arg(long, env = "HEALTHSYNX_DB_POOL", default_value_t = 16)]
    pub db_pool: usize,
    /// Seconds a client may take to send a request head (from connecting,
    /// for its first request); then `408` and the connection closes.
    #[arg(long, env = "HEALTHSYNX_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,
    /// Seconds a client may take to send a request body after its head.
    #[arg(long, env = "HEALTHSYNX_BODY_TIMEOUT_SECS", default_value_t = 30)]
    pub body_timeout_secs: u64,
    /// Seconds a kept-alive connection may wait for its next request.
    #[arg(long, env = "HEALTHSYNX_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    pub idle_timeout_secs: u64,
    /// Connections served at once; more are answered `503` and closed.
    #[arg(long, env = "HEALTHSYNX_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Roles that must log in with a second factor, comma-separated, or
    /// `none` (default `admin`; `none` under `--demo`, so its logins work
    /// with passwords alone).
    #[arg(long, env = "HEALTHSYNX_MFA_REQUIRED_ROLES")]
    pub mfa_required_roles: Option<String>,
    /// Seconds an `mfa_token` from a login waits for its code.
    #[arg(long, env = "HEALTHSYNX_MFA_TOKEN_TTL", default_value_t = 300)]
    pub mfa_token_ttl: u64,
    /// Log lines as human text or JSON.
    #[arg(long, env = "HEALTHSYNX_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// `create-admin` flags; the password comes from `HEALTHSYNX_ADMIN_PASSWORD` or a prompt.
#[derive(Debug, Args)]
pub struct CreateAdminArgs {
    #[arg(long)]
    pub email: String,
    #[arg(long)]
    pub full_name: String,
    #[arg(long, env = "HEALTHSYNX_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub shared: SharedDirArgs,
}

/// Secret material, redacted in `Debug`.
#[derive(Clone)]
pub struct Secrets {
    pub jwt: Vec<u8>,
    pub jwt_previous: Option<Vec<u8>>,
    pub data_key: [u8; 32],
    pub data_key_previous: Option<[u8; 32]>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets { .. }")
    }
}

impl Secrets {
    /// Fresh random secrets for `--dev`, `--demo` and tests.
    pub fn generate() -> Self {
        use rand::RngCore;
        let mut jwt = vec![0u8; 48];
        let mut data_key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut jwt);
        rand::rngs::OsRng.fill_bytes(&mut data_key);
        Secrets { jwt, jwt_previous: None, data_key, data_key_previous: None }
    }

    /// Checks and decodes the configured secrets.
    pub fn from_args(args: &SecretArgs) -> anyhow::Result<Self> {
        let Some(jwt) = args.jwt_secret.as_deref() else {
            bail!(
                "HEALTHSYNX_JWT_SECRET is not set: give a secret of at least 32 bytes (or use --dev for throw-away secrets)"
            );
        };
        let Some(data_key) = args.data_key.as_deref() else {
            bail!(
                "HEALTHSYNX_DATA_KEY is not set: give 32 random bytes in standard base64, e.g. from `openssl rand -base64 32` (or use --dev)"
            );
        };
        Ok(Secrets {
            jwt: jwt_secret(jwt, "HEALTHSYNX_JWT_SECRET")?,
            jwt_previous: args
                .jwt_secret_previous
                .as_deref()
                .map(|s| jwt_secret(s, "HEALTHSYNX_JWT_SECRET_PREVIOUS"))
                .transpose()?,
            data_key: parse_data_key(data_key, "HEALTHSYNX_DATA_KEY")?,
            data_key_previous: args
                .data_key_previous
                .as_deref()
                .map(|s| parse_data_key(s, "HEALTHSYNX_DATA_KEY_PREVIOUS"))
                .transpose()?,
        })
    }
}

fn jwt_secret(s: &str, name: &str) -> anyhow::Result<Vec<u8>> {
    if s.len() < 32 {
        bail!("{name} is too short: it must be at least 32 bytes");
    }
    Ok(s.as_bytes().to_vec())
}

/// Decodes a 32-byte standard-base64 data key.
pub fn parse_data_key(s: &str, name: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = STANDARD.decode(s.trim()).with_context(|| format!("{name} is not standard base64"))?;
    bytes.try_into().map_err(|b: Vec<u8>| anyhow::anyhow!("{name} must decode to 32 bytes, not {}", b.len()))
}

/// `admin,doctor`, or `none` (or nothing) for no role.
pub fn parse_roles(s: &str) -> anyhow::Result<Vec<healthsynx_shared::Role>> {
    let mut roles = Vec::new();
    for name in s.split(',').map(str::trim).filter(|n| !n.is_empty() && *n != "none") {
        let role = name.parse().map_err(|e: String| anyhow::anyhow!("HEALTHSYNX_MFA_REQUIRED_ROLES: {e}"))?;
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    Ok(roles)
}

/// The clinic as its invoices name it.
#[derive(Debug, Clone)]
pub struct Billing {
    pub currency: healthsynx_shared::value::Currency,
    pub clinic_name: String,
    pub clinic_address: Vec<String>,
}

impl Default for Billing {
    fn default() -> Self {
        Billing {
            currency: healthsynx_shared::value::Currency::parse("EUR").expect("EUR is a currency code"),
            clinic_name: "Health Synx Clinic".into(),
            clinic_address: Vec::new(),
        }
    }
}

impl Billing {
    fn from_args(s: &SettingArgs) -> anyhow::Result<Self> {
        let currency = healthsynx_shared::value::Currency::parse(s.currency.trim())
            .map_err(|e| anyhow::anyhow!("HEALTHSYNX_CURRENCY {e}"))?;
        let clinic_name = s.clinic_name.trim().to_owned();
        if clinic_name.is_empty() || clinic_name.chars().count() > 100 {
            bail!("HEALTHSYNX_CLINIC_NAME must be 1–100 characters");
        }
        let clinic_address: Vec<String> =
            s.clinic_address.split(';').map(|l| l.trim().to_owned()).filter(|l| !l.is_empty()).collect();
        if clinic_address.len() > 6 || clinic_address.iter().any(|l| l.chars().count() > 100) {
            bail!("HEALTHSYNX_CLINIC_ADDRESS takes at most 6 lines of at most 100 characters");
        }
        Ok(Billing { currency, clinic_name, clinic_address })
    }
}

/// Where events go and when reminders do.
#[derive(Debug, Clone)]
pub struct Outreach {
    /// `HEALTHSYNX_WEBHOOK_ALLOW_PRIVATE`.
    pub allow_private: bool,
    /// Largest first; never empty.
    pub reminder_offsets: Vec<jiff::SignedDuration>,
    pub reminder_check: std::time::Duration,
    pub retry_base: std::time::Duration,
    pub retry_for: std::time::Duration,
    pub timeout: std::time::Duration,
}

impl Default for Outreach {
    fn default() -> Self {
        Outreach {
            allow_private: false,
            reminder_offsets: vec![jiff::SignedDuration::from_hours(24), jiff::SignedDuration::from_hours(2)],
            reminder_check: std::time::Duration::from_secs(30),
            retry_base: std::time::Duration::from_secs(30),
            retry_for: std::time::Duration::from_secs(24 * 3600),
            timeout: std::time::Duration::from_secs(10),
        }
    }
}

/// A positive span like `24h`, `90m`, `2d` or `1h30m` (jiff's friendly format;
/// a day is 24 hours).
fn span_of(setting: &str, text: &str) -> anyhow::Result<jiff::SignedDuration> {
    let unreadable = || format!("{setting} `{text}` is not a duration like 24h or 90s");
    let span: jiff::Span = text.trim().parse().with_context(unreadable)?;
    let d = span.to_duration(jiff::SpanRelativeTo::days_are_24_hours()).with_context(unreadable)?;
    if d <= jiff::SignedDuration::ZERO || d > jiff::SignedDuration::from_hours(24 * 366) {
        bail!("{setting} `{text}` must be more than 0 and at most a year");
    }
    Ok(d)
}

fn std_span(setting: &str, text: &str) -> anyhow::Result<std::time::Duration> {
    Ok(span_of(setting, text)?.unsigned_abs())
}

impl Outreach {
    fn from_args(s: &SettingArgs) -> anyhow::Result<Self> {
        let mut offsets = s
            .reminder_offsets
            .split(',')
            .filter(|t| !t.trim().is_empty())
            .map(|t| span_of("HEALTHSYNX_REMINDER_OFFSETS", t))
            .collect::<anyhow::Result<Vec<_>>>()?;
        offsets.sort_by(|a, b| b.cmp(a));
        offsets.dedup();
        if offsets.is_empty() || offsets.len() > 10 {
            bail!("HEALTHSYNX_REMINDER_OFFSETS takes 1 to 10 durations, like 24h,2h");
        }
        Ok(Outreach {
            allow_private: s.webhook_allow_private,
            reminder_offsets: offsets,
            reminder_check: std_span("HEALTHSYNX_REMINDER_CHECK", &s.reminder_check)?,
            retry_base: std_span("HEALTHSYNX_WEBHOOK_RETRY_BASE", &s.webhook_retry_base)?,
            retry_for: std_span("HEALTHSYNX_WEBHOOK_RETRY_FOR", &s.webhook_retry_for)?,
            timeout: std_span("HEALTHSYNX_WEBHOOK_TIMEOUT", &s.webhook_timeout)?,
        })
    }
}

/// Everything the server needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    pub secrets: Secrets,
    pub tz: TimeZone,
    pub access_ttl: u64,
    pub refresh_ttl: u64,
    pub cancel_hours: u64,
    /// How long before the start check-in opens.
    pub checkin_early: jiff::SignedDuration,
    /// What binds patients booking online (staff are not bound).
    pub booking_rules: BookingRules,
    /// How long a waitlist offer holds its time.
    pub offer_hold: jiff::SignedDuration,
    /// How often the waitlist looks for expired offers and freed time
    /// even when nothing in this process freed any.
    pub waitlist_tick: std::time::Duration,
    /// What invoices are made out in and who makes them out.
    pub billing: Billing,
    /// How long a break-glass grant lasts.
    pub break_glass_ttl: std::time::Duration,
    /// Webhooks and reminders.
    pub outreach: Outreach,
    /// `HEALTHSYNX_PUBLIC_URL`, without a trailing slash.
    pub public_url: Option<String>,
    pub cors_origins: Vec<String>,
    /// Certificate and key files when serving HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub limits: crate::throttle::Limits,
    pub backup_dir: PathBuf,
    /// The store's page cache, MiB.
    pub cache_mb: u64,
    /// The store's cache of encoded appointments, MiB.
    pub view_cache_mb: u64,
    /// PostgreSQL instead of the embedded store in `data_dir`.
    pub database_url: Option<String>,
    /// Connections to PostgreSQL.
    pub pool_size: usize,
    /// Connection timeouts and cap.
    pub connections: crate::wire::Limits,
    /// Roles whose accounts get no tokens without a confirmed second factor.
    pub mfa_required_roles: Vec<healthsynx_shared::Role>,
    /// Seconds a login's `mfa_token` lives.
    pub mfa_token_ttl: u64,
}

impl Config {
    /// Builds the config for `serve`; `dev` means throw-away secrets.
    pub fn from_serve_args(args: &ServeArgs) -> anyhow::Result<Self> {
        let secrets = if args.dev || args.demo { Secrets::generate() } else { Secrets::from_args(&args.secrets)? };
        let mut config = Config::new(args.data_dir.clone(), secrets);
        config.addr = args.addr;
        config.database_url = args.database.database_url.clone();
        config.apply(&args.settings)?;
        if args.demo && args.settings.mfa_required_roles.is_none() {
            config.mfa_required_roles.clear();
        }
        Ok(config)
    }

    /// A config with defaults for a data directory and secrets (tests, demo).
    pub fn new(data_dir: PathBuf, secrets: Secrets) -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir,
            secrets,
            tz: TimeZone::UTC,
            access_ttl: 300,
            refresh_ttl: 86_400,
            cancel_hours: 24,
            checkin_early: jiff::SignedDuration::from_mins(120),
            booking_rules: BookingRules::default(),
            offer_hold: jiff::SignedDuration::from_mins(30),
            waitlist_tick: std::time::Duration::from_secs(5),
            billing: Billing::default(),
            break_glass_ttl: std::time::Duration::from_secs(60 * 60),
            outreach: Outreach::default(),
            public_url: None,
            cors_origins: vec!["http://localhost:3000".into()],
            tls: None,
            limits: crate::throttle::Limits::default(),
            backup_dir: PathBuf::from("./backups"),
            cache_mb: crate::store::DEFAULT_CACHE_MB,
            view_cache_mb: crate::store::DEFAULT_VIEW_CACHE_MB,
            database_url: None,
            pool_size: 16,
            connections: crate::wire::Limits::default(),
            mfa_required_roles: vec![healthsynx_shared::Role::Admin],
            mfa_token_ttl: 300,
        }
    }

    fn apply(&mut self, s: &SettingArgs) -> anyhow::Result<()> {
        self.tz = TimeZone::get(&s.tz).with_context(|| format!("HEALTHSYNX_TZ `{}` is not an IANA time zone", s.tz))?;
        if s.access_ttl == 0 || s.refresh_ttl < s.access_ttl {
            bail!("token lifetimes must be positive and the refresh lifetime at least the access lifetime");
        }
        self.access_ttl = s.access_ttl;
        self.refresh_ttl = s.refresh_ttl;
        self.cancel_hours = s.cancel_hours;
        if s.checkin_early_minutes > 7 * 24 * 60 {
            bail!("HEALTHSYNX_CHECKIN_EARLY_MINUTES must be at most 10080 (a week)");
        }
        self.checkin_early = jiff::SignedDuration::from_mins(s.checkin_early_minutes as i64);
        if s.min_notice_hours > 24 * 365 || s.booking_horizon_days > 3 * 365 || s.max_open_per_patient == 0 {
            bail!(
                "HEALTHSYNX_MIN_NOTICE_HOURS must be at most 8760, HEALTHSYNX_BOOKING_HORIZON_DAYS at most 1095, \
                 and HEALTHSYNX_MAX_OPEN_PER_PATIENT at least 1"
            );
        }
        if s.booking_horizon_days * 24 <= s.min_notice_hours {
            bail!("HEALTHSYNX_BOOKING_HORIZON_DAYS must reach past HEALTHSYNX_MIN_NOTICE_HOURS");
        }
        self.booking_rules = BookingRules {
            min_notice_hours: s.min_notice_hours,
            horizon_days: s.booking_horizon_days,
            max_open: s.max_open_per_patient,
        };
        if s.offer_minutes == 0 || s.offer_minutes > 24 * 60 {
            bail!("HEALTHSYNX_OFFER_MINUTES must be between 1 and 1440");
        }
        self.offer_hold = jiff::SignedDuration::from_mins(s.offer_minutes as i64);
        self.billing = Billing::from_args(s)?;
        if s.break_glass_minutes == 0 || s.break_glass_minutes > 24 * 60 {
            bail!("HEALTHSYNX_BREAK_GLASS_MINUTES must be between 1 and 1440");
        }
        self.break_glass_ttl = std::time::Duration::from_secs(s.break_glass_minutes * 60);
        self.outreach = Outreach::from_args(s)?;
        if let Some(url) = s.public_url.as_deref().map(|u| u.trim().trim_end_matches('/')).filter(|u| !u.is_empty()) {
            let host = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
            if host.is_none_or(|h| h.is_empty() || h.contains(['/', '?', '#', ' '])) {
                bail!("HEALTHSYNX_PUBLIC_URL must be http(s)://host[:port], like https://clinic.example");
            }
            self.public_url = Some(url.to_owned());
        }
        self.cors_origins = s.cors_origins.iter().map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect();
        self.tls = s.tls_cert.clone().zip(s.tls_key.clone());
        self.limits = crate::throttle::Limits {
            lockout_base: std::time::Duration::from_secs(s.login_lockout_secs.max(1)),
            per_second: s.rate_per_sec.max(1),
            burst: s.rate_burst.max(1),
        };
        self.backup_dir = s.backup_dir.clone();
        self.cache_mb = s.cache_mb.max(1);
        self.view_cache_mb = s.view_cache_mb;
        self.pool_size = s.db_pool.max(1);
        let secs = |n: u64| std::time::Duration::from_secs(n.max(1));
        self.connections = crate::wire::Limits {
            header_timeout: secs(s.header_timeout_secs),
            body_timeout: secs(s.body_timeout_secs),
            idle_timeout: secs(s.idle_timeout_secs),
            max_connections: s.max_connections.max(1),
        };
        if let Some(roles) = &s.mfa_required_roles {
            self.mfa_required_roles = parse_roles(roles)?;
        }
        self.mfa_token_ttl = s.mfa_token_ttl.max(1);
        Ok(())
    }
}

/// The rules patients book by online; each refusal names its setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookingRules {
    /// `HEALTHSYNX_MIN_NOTICE_HOURS`.
    pub min_notice_hours: u64,
    /// `HEALTHSYNX_BOOKING_HORIZON_DAYS`.
    pub horizon_days: u64,
    /// `HEALTHSYNX_MAX_OPEN_PER_PATIENT`.
    pub max_open: u64,
}

impl Default for BookingRules {
    fn default() -> Self {
        BookingRules { min_notice_hours: 2, horizon_days: 180, max_open: 10 }
    }
}

impl BookingRules {
    /// The earliest start a patient may book at `now`.
    pub fn earliest(&self, now: jiff::Timestamp) -> jiff::Timestamp {
        now + jiff::SignedDuration::from_hours(self.min_notice_hours as i64)
    }

    /// The latest start a patient may book at `now`.
    pub fn latest(&self, now: jiff::Timestamp) -> jiff::Timestamp {
        now + jiff::SignedDuration::from_hours(24 * self.horizon_days as i64)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        settings: super::SettingArgs,
    }

    fn configured(args: &[&str]) -> anyhow::Result<super::Config> {
        let cli = Cli::try_parse_from(std::iter::once("healthsynx-server").chain(args.iter().copied()))?;
        let mut c = super::Config::new("unused".into(), super::Secrets::generate());
        c.apply(&cli.settings)?;
        Ok(c)
    }

    #[test]
    fn the_public_url_is_an_origin_and_loses_its_trailing_slash() {
        let c = configured(&["--public-url", "https://clinic.example:8443/"]).unwrap();
        assert_eq!(c.public_url.as_deref(), Some("https://clinic.example:8443"));
        assert_eq!(configured(&[]).unwrap().public_url, None);
        for bad in ["clinic.example", "ftp://clinic.example", "https://", "https://clinic.example/feeds", "http://a b"]
        {
            assert!(configured(&["--public-url", bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn webhook_and_reminder_settings_parse_and_are_bounded() {
        let c = configured(&["--reminder-offsets", "2h, 1d,90m", "--webhook-retry-base", "500ms"]).unwrap();
        let hours: Vec<i64> = c.outreach.reminder_offsets.iter().map(|d| d.as_mins()).collect();
        assert_eq!(hours, [24 * 60, 120, 90], "largest first");
        assert_eq!(c.outreach.retry_base, std::time::Duration::from_millis(500));
        assert!(!c.outreach.allow_private);
        for bad in ["", "0s", "-1h", "tomorrow", "2h,400d"] {
            assert!(configured(&["--reminder-offsets", bad]).is_err(), "{bad:?}");
        }
        // `HEALTHSYNX_WEBHOOK_ALLOW_PRIVATE=1` is read by the process tests.
        assert!(configured(&["--webhook-allow-private"]).unwrap().outreach.allow_private);
    }

    #[test]
    fn booking_rules_and_the_check_in_window_are_bounded() {
        let c = configured(&["--min-notice-hours", "24", "--max-open-per-patient", "3"]).unwrap();
        assert_eq!((c.booking_rules.min_notice_hours, c.booking_rules.max_open), (24, 3));
        assert!(configured(&["--max-open-per-patient", "0"]).is_err());
        assert!(
            configured(&["--min-notice-hours", "48", "--booking-horizon-days", "2"]).is_err(),
            "horizon inside notice"
        );
        assert!(configured(&["--checkin-early-minutes", "20000"]).is_err());
    }
}
