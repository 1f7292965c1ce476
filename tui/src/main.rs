//! `healthsynx`: the Health Synx terminal client.
use clap::Parser;

/// Health Synx terminal client.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Server to talk to.
    #[arg(long, env = "HEALTHSYNX_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// Start a seeded demo server in-process and pick a role.
    #[arg(long)]
    demo: bool,
}

fn main() {
    let _args = Args::parse();
    eprintln!("the terminal client is not built yet; see `healthsynx --help`");
    std::process::exit(2);
}
