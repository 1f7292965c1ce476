//! End to end in a real terminal: tmux runs `healthsynx --demo`, we press
//! keys as a front-desk user would, read the pane, and then ask the demo
//! server itself (through the API) whether the booking really exists. The
//! waitlist panel opens over the board and closes again.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use healthsynx_shared::api::{AppointmentQuery, PatientQuery};
use healthsynx_shared::client::Client;
use healthsynx_shared::{AppointmentStatus, Role};

/// A tmux server of our own (its own socket), killed when the test ends
/// however it ends.
struct Tmux {
    socket: String,
    session: String,
}

impl Tmux {
    fn start(cmd: &str) -> Tmux {
        let version = Command::new("tmux").arg("-V").output();
        assert!(
            version.is_ok_and(|o| o.status.success()),
            "tmux is not installed, and this test drives the client in a real terminal. \
             Install it with `apt-get install -y tmux` (CI does this in .ci/run)."
        );
        let id = format!("hsx-e2e-{}-{}", std::process::id(), jiff::Timestamp::now().as_millisecond());
        let t = Tmux { socket: id.clone(), session: id };
        // `remain-on-exit` keeps the pane readable if the client dies early.
        let out = t.run(&["new-session", "-d", "-s", &t.session, "-x", "100", "-y", "30", cmd]);
        assert!(out.status.success(), "tmux new-session failed: {}", String::from_utf8_lossy(&out.stderr));
        t.run(&["set-option", "-t", &t.session, "remain-on-exit", "on"]);
        t
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux").arg("-L").arg(&self.socket).args(args).output().expect("run tmux")
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.run(&["send-keys", "-t", &self.session, k]);
            // A real typist is slower than this; without a pause an Esc
            // followed by a key reads as Alt+key.
            std::thread::sleep(Duration::from_millis(60));
        }
    }

    fn text(&self, s: &str) {
        self.run(&["send-keys", "-t", &self.session, "-l", s]);
    }

    fn pane(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", &self.session]).stdout).into_owned()
    }

    /// Waits until the pane shows `want`, failing with the pane if it never does.
    fn wait_for(&self, want: &str) -> String {
        self.wait_for_any(&[want])
    }

    /// Waits until the pane shows one of `wants`.
    fn wait_for_any(&self, wants: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let pane = self.pane();
            if wants.iter().any(|w| pane.contains(w)) {
                return pane;
            }
            assert!(Instant::now() < deadline, "the screen never showed any of {wants:?}; it shows:\n{pane}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the pane no longer shows `gone`.
    fn wait_until_gone(&self, gone: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.pane().contains(gone) {
            assert!(Instant::now() < deadline, "the screen still shows {gone:?}:\n{}", self.pane());
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

#[test]
fn front_desk_books_and_checks_in_a_patient_in_a_real_terminal() {
    let bin = env!("CARGO_BIN_EXE_healthsynx");
    let t = Tmux::start(&format!("{bin} --demo"));

    // The role picker lists the demo logins in order; go down to the front desk.
    let logins = healthsynx_server::demo::LOGINS;
    let desk = logins.iter().position(|l| l.role == Role::Receptionist).expect("a front-desk demo login");
    t.wait_for("who are you today?");
    t.keys(&vec!["j"; desk]);
    t.keys(&["Enter"]);
    let pane = t.wait_for("Health Synx · Front desk ·");
    let url =
        pane.split_whitespace().find(|w| w.starts_with("http://")).expect("the header names the server").to_owned();
    // The day has loaded: a grid, or on a weekend or late evening an empty day.
    t.wait_for_any(&["Time ", "Nothing booked"]);

    // Someone to book for, asked of the same server the test checks at the end.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = Client::new(&url).unwrap();
    let patient = rt.block_on(async {
        client.login(logins[desk].email, logins[desk].password).await.unwrap();
        let page = client.patients(&PatientQuery::default()).await.unwrap();
        page.items.into_iter().next().expect("the demo clinic has patients").full_name
    });
    let first_name = patient.split(' ').next().unwrap_or(&patient).to_owned();

    // Book: doctor → a standard visit → first free time → patient → reason.
    t.keys(&["b"]);
    t.wait_for("1 · Doctor");
    t.keys(&["Enter"]);
    t.wait_for("2 · Kind of visit");
    t.wait_for("Standard visit");
    t.keys(&["Enter"]);
    t.wait_for("3 · Free times");
    t.keys(&["Enter"]);
    t.wait_for("4 · Patient");
    t.text(&first_name);
    t.wait_for(&format!("› {patient}"));
    t.keys(&["Enter"]);
    t.wait_for("5 · Reason");
    t.text("Tmux e2e visit");
    t.keys(&["Enter"]);
    let booked = format!("Booked: {patient} with");
    let pane = t.wait_for(&booked);
    // "Booked: Bruno Keller with Gregory House on Fri 27 Nov 13:00."
    let line = pane.lines().find(|l| l.contains(&booked)).unwrap_or_default().to_owned();
    let at = line.trim().trim_end_matches('.').rsplit(' ').next().unwrap_or_default().to_owned();
    let pane = t.wait_for(&format!("{at} {patient} · booked"));
    assert!(pane.contains("Health Synx · Front desk"), "{pane}");

    // The server has it.
    let booked_visit = || {
        rt.block_on(async {
            let q = AppointmentQuery { limit: Some(500), ..Default::default() };
            client.appointments(&q).await.unwrap().items.into_iter().find(|a| a.reason == "Tmux e2e visit")
        })
    };
    let a = booked_visit().expect("the API lists the appointment booked in the terminal");
    assert_eq!(a.patient_name, patient);

    // The booked cell is selected: check the patient in. Check-in opens two
    // hours before the start, so the first free time is either in the window
    // or the screen says why not.
    let in_window = a.start - jiff::SignedDuration::from_mins(120) <= jiff::Timestamp::now();
    t.keys(&["c"]);
    if in_window {
        t.wait_for(&format!("Checked in: {patient}"));
        t.wait_for(&format!("{at} {patient} · checked in"));
    } else {
        t.wait_for("check-in opens 120 minutes before the start time");
        t.wait_for(&format!("{at} {patient} · booked"));
    }
    let want = if in_window { AppointmentStatus::CheckedIn } else { AppointmentStatus::Scheduled };
    assert_eq!(booked_visit().unwrap().status, want, "the server agrees with the screen");

    // The waitlist panel: its title, its sections and an offer row (the
    // demo holds one for Alice) or the line saying there is none.
    t.keys(&["w"]);
    t.wait_for("┌ Waitlist");
    let pane = t.wait_for_any(&["expires in", "held until", "No open offers."]);
    assert!(pane.contains("Offers (") && pane.contains("Waiting ("), "{pane}");
    t.keys(&["Escape"]);
    t.wait_until_gone("┌ Waitlist");

    // q quits and gives the terminal back.
    t.keys(&["q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !t.run(&["display-message", "-p", "-t", &t.session, "#{pane_dead}"]).stdout.starts_with(b"1") {
        assert!(Instant::now() < deadline, "the client did not quit on q:\n{}", t.pane());
        std::thread::sleep(Duration::from_millis(100));
    }
}
