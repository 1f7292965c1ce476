//! `healthsynx`: the Health Synx terminal client.
#![deny(clippy::unwrap_used)]

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use healthsynx_tui::app::{Action, App};
use healthsynx_tui::theme::Theme;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use ratatui::DefaultTerminal;
use ratatui::crossterm::event::{self, Event};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

/// Health Synx terminal client.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Server to talk to.
    #[arg(long, env = "HEALTHSYNX_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// Start a seeded demo server in-process and pick a role.
    #[cfg(feature = "demo")]
    #[arg(long)]
    demo: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("healthsynx: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("healthsynx: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(feature = "demo")]
async fn run(args: Args) -> anyhow::Result<()> {
    // The demo server lives as long as this function: dropping it stops
    // the server and removes its temporary data directory.
    let demo = if args.demo { Some(healthsynx_tui::demo::start().await?) } else { None };
    let (server, accounts) = match &demo {
        Some(d) => (d.server.url(), d.accounts.clone()),
        None => (args.server, Vec::new()),
    };
    run_app(App::new(&server, accounts, TimeZone::system(), Timestamp::now(), Theme::from_env())?).await
}

#[cfg(not(feature = "demo"))]
async fn run(args: Args) -> anyhow::Result<()> {
    run_app(App::new(&args.server, Vec::new(), TimeZone::system(), Timestamp::now(), Theme::from_env())?).await
}

async fn run_app(mut app: App) -> anyhow::Result<()> {
    // `try_init` installs a panic hook that restores the terminal first.
    let mut terminal = ratatui::try_init().context("this needs an interactive terminal")?;
    let result = event_loop(&mut terminal, &mut app).await;
    ratatui::restore();
    result
}

async fn event_loop(terminal: &mut DefaultTerminal, app: &mut App) -> anyhow::Result<()> {
    let (tx, mut rx) = unbounded_channel::<Action>();
    spawn_input(tx.clone());
    let mut tick = tokio::time::interval(Duration::from_millis(120));
    loop {
        for task in app.take_tasks() {
            let tx = tx.clone();
            tokio::spawn(async move {
                let action = tokio::spawn(task.fut).await.unwrap_or(Action::TaskPanicked);
                // The receiver only goes away when the app quits.
                let _ = tx.send(action);
            });
        }
        terminal.draw(|f| app.draw(f)).context("draw")?;
        if app.quit {
            return match app.fatal.take() {
                Some(why) => Err(anyhow::anyhow!(why)),
                None => Ok(()),
            };
        }
        tokio::select! {
            Some(action) = rx.recv() => app.update(action),
            _ = tick.tick() => app.update(Action::Tick(Timestamp::now())),
        }
    }
}

/// Reads terminal events on a plain thread: `event::read` blocks, and it
/// must never hold up drawing or network results.
fn spawn_input(tx: UnboundedSender<Action>) {
    std::thread::spawn(move || {
        loop {
            let action = match event::read() {
                Ok(Event::Key(key)) => Action::Key(key),
                Ok(Event::Resize(..)) => Action::Resize,
                Ok(_) => continue,
                Err(_) => return,
            };
            if tx.send(action).is_err() {
                return;
            }
        }
    });
}
