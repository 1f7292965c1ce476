//! `healthsynx-server`: serve the API, or administer a stopped data directory.

use std::io::IsTerminal;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Parser;

use healthsynx_server::audit::{Action, Actor, Draft};
use healthsynx_server::config::{
    BackupArgs, Cli, Command, Config, CopyArgs, CreateAdminArgs, LogFormat, MigrateArgs, RekeyArgs, RestoreArgs,
    Secrets, ServeArgs,
};
use healthsynx_server::permissions::{self, check_private_dir};
use healthsynx_server::store::Store;
use healthsynx_server::{State, demo};

/// mimalloc instead of glibc malloc: requests allocate many small buffers
/// across threads, and glibc kept argon2's 19 MiB blocks in per-thread arenas
/// (see README, Performance).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    // Before anything is created: sled makes files of its own, now and later.
    permissions::private_umask();
    let cli = Cli::parse();
    let json = matches!(&cli.command, Command::Serve(a) if a.settings.log_format == LogFormat::Json);
    let filter = tracing_subscriber::EnvFilter::try_from_env("HEALTHSYNX_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        logs.json().init();
    } else {
        logs.init();
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command {
        Command::Serve(args) => rt.block_on(serve(*args)),
        Command::CreateAdmin(args) => rt.block_on(create_admin(args)),
        Command::Backup(args) => rt.block_on(backup(args)),
        Command::Restore(args) => restore(args),
        Command::Rekey(args) => rt.block_on(rekey(args)),
        Command::Migrate(args) => rt.block_on(migrate(args)),
        Command::Copy(args) => rt.block_on(copy(args)),
    }
}

fn open_stopped(dir: &std::path::Path) -> anyhow::Result<Store> {
    Store::open(dir).map_err(|e| anyhow::anyhow!("open {}: {e} (is the server still running?)", dir.display()))
}

/// The answer of `backup` and `restore` on PostgreSQL, which has its own.
const PG_BACKUPS: &str = "this clinic runs on PostgreSQL: back it up with pg_dump or point-in-time recovery, and restore with pg_restore (docs/operations.md, \"Running on PostgreSQL\")";

async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    if args.database.database_url.is_some() {
        bail!(PG_BACKUPS);
    }
    let sealer = args.keys.sealer()?;
    let allow = args.shared.allow_shared_data_dir;
    check_private_dir(&args.data_dir, "data directory", allow)?;
    let out_dir = args.out.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    check_private_dir(out_dir, "backup directory", allow)?;
    if !args.data_dir.join("store").exists() {
        bail!("{} holds no Health Synx store", args.data_dir.display());
    }
    let store = open_stopped(&args.data_dir)?;
    let actor = Actor { id: None, role: None, addr: Some("cli".into()) };
    store.append_audit([Draft::new(&actor, Action::StoreBackup, "store", None)]).await?;
    let s = store.backup_to(&sealer, &args.out).await?;
    store.flush().await?;
    println!("wrote {} ({} bytes, {} entries)", args.out.display(), s.bytes, s.entries);
    Ok(())
}

fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    if args.database.database_url.is_some() {
        bail!(PG_BACKUPS);
    }
    let sealer = args.keys.sealer()?;
    check_private_dir(&args.data_dir, "data directory", args.shared.allow_shared_data_dir)?;
    let s = Store::restore_backup(&sealer, &args.from, &args.data_dir)?;
    println!("restored {} entries into {}", s.entries, args.data_dir.display());
    Ok(())
}

async fn rekey(args: RekeyArgs) -> anyhow::Result<()> {
    let sealer = args.keys.sealer()?;
    let store = match &args.database.database_url {
        // Safe while servers run: each chunk is a transaction that locks its rows.
        Some(url) => Store::new(Box::new(healthsynx_server::store::pg::Pg::open(url, 2).await?), 0),
        None => {
            check_private_dir(&args.data_dir, "data directory", args.shared.allow_shared_data_dir)?;
            open_stopped(&args.data_dir)?
        }
    };
    let actor = Actor { id: None, role: None, addr: Some("cli".into()) };
    let n = store
        .rekey(&sealer, Draft::new(&actor, Action::StoreRekey, "store", None))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    store.flush().await?;
    println!("re-sealed {n} values under key {}", sealer.current_key_id());
    Ok(())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = Config::from_serve_args(&args)?;
    // The demo's keys die with the process, so its data must too: a fresh
    // directory each time, removed at exit.
    let _demo_dir = if args.demo {
        let dir = tempfile::tempdir().context("create a demo data directory")?;
        config.data_dir = dir.path().to_path_buf();
        Some(dir)
    } else {
        None
    };
    check_private_dir(&config.data_dir, "data directory", args.shared.allow_shared_data_dir)?;
    check_private_dir(&config.backup_dir, "backup directory", args.shared.allow_shared_data_dir)?;
    if args.dev || args.demo {
        tracing::warn!(
            "DEVELOPMENT MODE: throw-away secrets were generated; tokens and sealed data will not survive a restart with other secrets. Never use --dev or --demo for real patients."
        );
    }
    if !config.addr.ip().is_loopback() && config.tls.is_none() {
        tracing::warn!(addr = %config.addr, "serving plain HTTP on a non-loopback address: traffic is in clear; put TLS in front");
    }
    let state = Arc::new(State::open(config).await.context("open the store")?);
    if args.demo {
        demo::seed(&state).await.map_err(|e| anyhow::anyhow!("seed demo clinic: {e}"))?;
    }
    let running = healthsynx_server::start_with(state).await?;
    tracing::info!(url = %running.url(), "Health Synx is serving");
    if args.demo {
        println!("Demo clinic at {} — logins:", running.url());
        for l in demo::LOGINS {
            println!("  {:<13} {:<32} {}", l.role.as_str(), l.email, l.password);
        }
    }
    shutdown_signal().await;
    tracing::info!("shutting down: finishing in-flight requests");
    running.stop().await?;
    tracing::info!("store flushed; bye");
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn create_admin(args: CreateAdminArgs) -> anyhow::Result<()> {
    check_private_dir(&args.data_dir, "data directory", args.shared.allow_shared_data_dir)?;
    let password = match std::env::var("HEALTHSYNX_ADMIN_PASSWORD") {
        Ok(p) => p,
        Err(_) if std::io::stdin().is_terminal() => {
            let p = rpassword::prompt_password("Password for the new admin: ")?;
            let again = rpassword::prompt_password("Again: ")?;
            if p != again {
                bail!("the passwords differ");
            }
            p
        }
        Err(_) => bail!("set HEALTHSYNX_ADMIN_PASSWORD or run in a terminal to be prompted"),
    };
    // No sealed field is written for an admin, so throw-away keys suffice here.
    let mut config = Config::new(args.data_dir.clone(), Secrets::generate());
    config.database_url = args.database.database_url.clone();
    config.pool_size = 2;
    let state = State::open(config)
        .await
        .map_err(|e| anyhow::anyhow!("open {}: {e} (is the server still running?)", args.data_dir.display()))?;
    let user = healthsynx_server::domain::accounts::create_admin(&state, &args.email, &args.full_name, &password)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.to_problem()))?;
    state.store.flush().await?;
    println!("created admin {} ({})", user.email, user.username);
    Ok(())
}

async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let applied = healthsynx_server::store::pg::migrate(&args.database_url).await?;
    match applied.as_slice() {
        [] => println!("the schema is up to date (version {})", healthsynx_server::store::pg::SCHEMA_VERSION),
        v => println!("applied schema versions {v:?}"),
    }
    Ok(())
}

async fn copy(args: CopyArgs) -> anyhow::Result<()> {
    let from = open_stopped(&args.data_dir)?;
    let report = healthsynx_server::store::copy::to_postgres(&from, &args.database_url).await?;
    println!("{report}");
    Ok(())
}
