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
    Serve(ServeArgs),
    /// Create an administrator in a (stopped) server's data directory.
    CreateAdmin(CreateAdminArgs),
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
    pub secrets: SecretArgs,
    #[command(flatten)]
    pub settings: SettingArgs,
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
    /// Origins that get CORS headers, comma-separated.
    #[arg(long, env = "HEALTHSYNX_CORS_ORIGINS", default_value = "http://localhost:3000", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
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
    pub cors_origins: Vec<String>,
}

impl Config {
    /// Builds the config for `serve`; `dev` means throw-away secrets.
    pub fn from_serve_args(args: &ServeArgs) -> anyhow::Result<Self> {
        let secrets = if args.dev || args.demo { Secrets::generate() } else { Secrets::from_args(&args.secrets)? };
        let mut config = Config::new(args.data_dir.clone(), secrets);
        config.addr = args.addr;
        config.apply(&args.settings)?;
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
            cors_origins: vec!["http://localhost:3000".into()],
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
        self.cors_origins = s.cors_origins.iter().map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect();
        Ok(())
    }
}
