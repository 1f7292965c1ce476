//! `healthsynx-bench`: how fast Health Synx answers, and how its cost grows
//! with the store.
//!
//! It builds nothing: it runs the release server binary (`--server-bin`,
//! default `target/release/healthsynx-server`) as a child process, so the
//! server's memory can be read from `/proc/<pid>/status`. Each store is seeded
//! before the server starts, through the server's own store code (accounts
//! through the domain, appointments through `Store::bulk_put_appointments`,
//! which writes the same trees and index keys as a booking). Load comes from
//! this process: one keep-alive HTTP/1 connection per simulated client, on a
//! small tokio runtime, with latencies in HDR histograms and the bytes of
//! every answer counted off the socket.
//!
//! Phase 1 runs every scenario on a store of 10 000 appointments, then kills
//! the server with SIGKILL and checks that every booking answered `201` is in
//! the store and the audit chain verifies. Phase 2 seeds `--appointments`
//! (default 1 000 000) and runs `calendar-week` again.

mod args;
mod conn;
mod report;
mod scenarios;
mod seed;
mod server;
mod webhooks;

use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;

use crate::args::{ALL, Args};
use crate::report::{Row, print_side_by_side, print_table, write_json};

fn main() {
    let args = Args::parse();
    if let Some(s) = args.unknown_scenario() {
        eprintln!("unknown scenario `{s}`; known: {}", ALL.join(","));
        std::process::exit(2);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads.max(1))
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run(args)) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("healthsynx-bench: {e:#}");
            std::process::exit(1);
        }
    }
}

async fn run(args: Args) -> Result<()> {
    let bin = server::server_bin(&args)?;
    // Private, as the server wants its data directory (tempfile leaves the mode to the umask).
    let mut builder = tempfile::Builder::new();
    builder.prefix("healthsynx-bench-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o700));
    }
    let tmp = match &args.work_dir {
        Some(d) => builder.tempdir_in(d),
        None => builder.tempdir(),
    }
    .context("work dir")?;
    let total = Instant::now();
    let mut backends: Vec<(&str, Option<&str>)> = vec![("sled", None)];
    if let Some(url) = args.database_url.as_deref() {
        backends.push(("postgres", Some(url)));
    }
    let mut all: Vec<(String, Vec<Row>)> = Vec::new();
    for (backend, admin_url) in backends {
        eprintln!("== {backend}");
        let outcome = scenarios::run_on(&args, &bin, tmp.path(), backend, admin_url).await?;
        println!("\n{backend}:");
        print_table(&outcome.rows, outcome.floor_rps);
        if let Some(w) = &outcome.wire_sizes {
            w.print();
        }
        all.push((backend.to_owned(), outcome.rows));
    }
    if let [(_, sled), (_, pg)] = all.as_slice() {
        print_side_by_side(sled, pg);
    }
    println!(
        "\n{} connections, {} s measured after {} s warm-up per scenario, {} load-generator thread(s); whole run {:.0} s",
        args.connections.max(1),
        args.duration,
        args.warmup,
        args.client_threads,
        total.elapsed().as_secs_f64()
    );
    if let Some(file) = &args.json {
        let rows: Vec<Row> = all
            .into_iter()
            .flat_map(|(b, rows)| {
                rows.into_iter().map(move |mut r| {
                    r.scenario = format!("{b}: {}", r.scenario);
                    r
                })
            })
            .collect();
        write_json(file, &rows)?;
    }
    Ok(())
}
