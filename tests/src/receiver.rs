//! A real webhook receiver for the tests: `tests/webhook_receiver.py`,
//! which verifies each delivery with the `standardwebhooks` package and
//! answers as the URL's path asks (see the script).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Receiver {
    child: Child,
    port: u16,
    http: reqwest::Client,
}

impl Receiver {
    /// Starts the receiver (`pip install standardwebhooks`).
    pub fn start() -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/webhook_receiver.py");
        let mut child = Command::new("python3")
            .arg(script)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("run python3 (pip install standardwebhooks)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("the receiver's port");
        let port = line.trim().parse().unwrap_or_else(|_| panic!("the receiver did not start: {line:?}"));
        Receiver { child, port, http: reqwest::Client::new() }
    }

    /// The URL of one of the receiver's behaviours (`/ok`, `/fail/3`, `/hang-once`).
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The secret deliveries are checked with.
    pub async fn set_secret(&self, secret: &str) {
        let r = self.http.post(self.url("/secret")).body(secret.to_owned()).send().await.expect("receiver");
        assert!(r.status().is_success());
    }

    /// Every delivery received so far, in arrival order.
    pub async fn log(&self) -> Vec<Value> {
        let r = self.http.get(self.url("/log")).send().await.expect("receiver");
        r.json().await.expect("the receiver's log")
    }

    /// The log once `done` holds of it, or a panic after `within`.
    pub async fn wait_for(&self, within: Duration, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let until = Instant::now() + within;
        loop {
            let log = self.log().await;
            if done(&log) {
                return log;
            }
            assert!(Instant::now() < until, "the receiver did not see what was expected in {within:?}: {log:#?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
