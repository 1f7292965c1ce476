//! What a run found: a row per scenario, printed as a table and written as JSON.

use std::path::Path;

use anyhow::{Context, Result};

use crate::scenarios::Stats;

#[derive(Debug, Clone)]
pub struct Row {
    pub scenario: String,
    pub requests_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
    /// Mean response bytes read off the socket (status line, headers, body).
    pub bytes_per_request: f64,
    pub server_rss_mb: f64,
    pub note: String,
}

/// A row from a measured window of `secs` seconds.
pub fn row(name: &str, stats: &Stats, secs: f64, rss: f64, note: String) -> Row {
    Row {
        scenario: name.to_owned(),
        requests_per_s: stats.count as f64 / secs,
        p50_ms: stats.ms(0.50),
        p99_ms: stats.ms(0.99),
        errors: stats.errors,
        bytes_per_request: stats.bytes_per_request(),
        server_rss_mb: rss,
        note,
    }
}

/// `10k`, `1M`, or the number as it is.
pub fn size(n: u64) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

pub fn print_table(rows: &[Row], floor: Option<f64>) {
    println!();
    println!(
        "{:<34} {:>12} {:>9} {:>9} {:>8} {:>9} {:>9} {:>9}  note",
        "scenario", "requests/s", "p50 ms", "p99 ms", "errors", "bytes/req", "RSS MB", "÷ floor"
    );
    for r in rows {
        let ratio =
            floor.filter(|f| *f > 0.0).map_or(String::from("-"), |f| format!("{:.0} %", 100.0 * r.requests_per_s / f));
        println!(
            "{:<34} {:>12.0} {:>9.2} {:>9.2} {:>8} {:>9.0} {:>9.1} {:>9}  {}",
            r.scenario,
            r.requests_per_s,
            r.p50_ms,
            r.p99_ms,
            r.errors,
            r.bytes_per_request,
            r.server_rss_mb,
            ratio,
            r.note
        );
    }
}

/// One progress line on stderr as a scenario finishes.
pub fn progress(r: &Row) {
    eprintln!(
        "  {:<30} {:>9.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {}  {:.0} B/req  rss {:.1} MB",
        r.scenario, r.requests_per_s, r.p50_ms, r.p99_ms, r.errors, r.bytes_per_request, r.server_rss_mb
    );
}

/// The two backends' rows beside each other.
pub fn print_side_by_side(sled: &[Row], pg: &[Row]) {
    println!("\nside by side (requests/s, p50 ms, RSS MB):");
    println!("{:<34} {:>22} {:>22} {:>8}", "scenario", "sled", "postgres", "pg÷sled");
    for r in sled {
        let Some(p) = pg.iter().find(|p| p.scenario == r.scenario) else { continue };
        println!(
            "{:<34} {:>9.0} {:>6.2} {:>5.0} {:>9.0} {:>6.2} {:>5.0} {:>7.0} %",
            r.scenario,
            r.requests_per_s,
            r.p50_ms,
            r.server_rss_mb,
            p.requests_per_s,
            p.p50_ms,
            p.server_rss_mb,
            100.0 * p.requests_per_s / r.requests_per_s.max(1e-9)
        );
    }
}

/// One calendar answer's size on the wire in each coding.
pub struct WireSizes {
    pub appointments: usize,
    /// `(coding, wire bytes, body bytes)`: plain, gzip, br.
    pub codings: Vec<(&'static str, u64, usize)>,
}

impl WireSizes {
    pub fn print(&self) {
        let plain = self.codings.first().map_or(1, |c| c.1.max(1));
        let each: Vec<String> = self
            .codings
            .iter()
            .map(|(name, wire, body)| {
                format!("{name} {wire} B ({body} B body, {:.0} %)", 100.0 * *wire as f64 / plain as f64)
            })
            .collect();
        println!("calendar of one doctor-week, {} appointments, on the wire: {}", self.appointments, each.join("; "));
    }
}

pub fn write_json(file: &Path, rows: &[Row]) -> Result<()> {
    let list: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "scenario": r.scenario,
                "requests_per_s": round2(r.requests_per_s),
                "p50_ms": round2(r.p50_ms),
                "p99_ms": round2(r.p99_ms),
                "errors": r.errors,
                "bytes_per_request": r.bytes_per_request.round(),
                "server_rss_mb": round2(r.server_rss_mb),
                "note": r.note,
            })
        })
        .collect();
    let text = serde_json::to_string_pretty(&list).context("encode json")?;
    std::fs::write(file, text + "\n").context("write --json file")
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
