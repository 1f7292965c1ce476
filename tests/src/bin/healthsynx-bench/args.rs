//! The command line.

use std::path::PathBuf;

use clap::Parser;

/// Every scenario, in the order a run takes them.
pub const ALL: &[&str] = &[
    "floor",
    "calendar-week",
    "calendar-week-304",
    "slots-4w",
    "slots-4w-rooms",
    "login",
    "login-storm",
    "book",
    "book-rooms",
    "book-contention",
    "invoice-issue",
    "webhook-delivery",
    "front-desk-day",
];

#[derive(Parser, Debug)]
#[command(name = "healthsynx-bench", about = "Benchmarks the release Health Synx server over HTTP")]
pub struct Args {
    /// Scenarios to run, comma-separated (default: all).
    #[arg(long, value_delimiter = ',', default_values_t = ALL.iter().map(|s| s.to_string()).collect::<Vec<_>>())]
    pub scenarios: Vec<String>,
    /// Appointments in the large store (calendar-week runs on 10 000 and on this).
    #[arg(long, default_value_t = 1_000_000)]
    pub appointments: u64,
    /// Seconds each scenario is measured, after the warm-up.
    #[arg(long, default_value_t = 8)]
    pub duration: u64,
    /// Seconds of warm-up before each measured run.
    #[arg(long, default_value_t = 2)]
    pub warmup: u64,
    /// Concurrent keep-alive connections (book uses 64, login-storm adds 50 logins).
    #[arg(long, default_value_t = 32)]
    pub connections: usize,
    /// Worker threads of the load generator (the server gets the rest of the cores).
    #[arg(long, default_value_t = 1)]
    pub client_threads: usize,
    /// Write the results as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The release server binary.
    #[arg(long, env = "HEALTHSYNX_SERVER_BIN")]
    pub server_bin: Option<PathBuf>,
    /// Passed to the server as HEALTHSYNX_CACHE_MB (default: the server's own).
    #[arg(long)]
    pub cache_mb: Option<u64>,
    /// Where the data directories go (default: a temporary directory).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Also run every scenario on PostgreSQL: a database to connect to for
    /// `CREATE DATABASE` (each phase gets a new `hs_bench_<random>`, dropped after).
    #[arg(long, env = "HEALTHSYNX_BENCH_DATABASE_URL")]
    pub database_url: Option<String>,
}

impl Args {
    /// Whether the run includes scenario `name`.
    pub fn wants(&self, name: &str) -> bool {
        self.scenarios.iter().any(|s| s == name)
    }

    /// The first scenario name that is not one of [`ALL`].
    pub fn unknown_scenario(&self) -> Option<&str> {
        self.scenarios.iter().map(String::as_str).find(|s| !ALL.contains(s))
    }
}
