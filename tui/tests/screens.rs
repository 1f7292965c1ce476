//! Screens driven through `App::update` with the results a server would
//! send, drawn into a `TestBackend`: what a user would see, without a terminal.

use healthsynx_shared::api::{Me, PatientCreated};
use std::any::Any;

use healthsynx_shared::api::{
    AgeBucket, CalendarFeedUrl, CashByMethod, CashReport, MfaState, MfaStatus, OpenBalance, OutstandingReport,
};
use healthsynx_shared::client::{Client, Fresh};
use healthsynx_shared::value::Currency;
use healthsynx_shared::{
    AccessLogEntry, Appointment, AppointmentStatus, AppointmentType, AuditEntry, Delivery, DeliveryStatus, Doctor,
    EventType, Invoice, InvoiceKind, InvoiceLine, InvoiceStatus, MedicalRecord, Money, Offer, OfferStatus, Outcome,
    Page, Patient, PatientType, Payment, PaymentKind, PaymentMethod, Prescription, Problem, RecordStatus, Resource,
    Role, Slot, User, WaitlistEntry, WaitlistStatus, Webhook,
};
use healthsynx_tui::app::{Action, App, DemoAccount, Msg};
use healthsynx_tui::components::billing::{Billing, BillingMsg};
use healthsynx_tui::components::booking::BookingMsg;
use healthsynx_tui::components::chart::ChartMsg;
use healthsynx_tui::components::editor::EditorMsg;
use healthsynx_tui::components::emergency::EmergencyMsg;
use healthsynx_tui::components::invoice::{self, InvoiceMsg};
use healthsynx_tui::components::waitlist::WaitlistMsg;
use healthsynx_tui::components::webhooks::WebhooksMsg;
use healthsynx_tui::keys::{self, ch, ctrl, key};
use healthsynx_tui::screens::{admin, doctor, front_desk, login, nurse, patient, security};
use healthsynx_tui::theme::Theme;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::style::Color;
use uuid::Uuid;

const SERVER: &str = "http://127.0.0.1:9";

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// 08:00 UTC on a Friday; every screen shows times in UTC here.
fn now() -> Timestamp {
    ts("2026-11-27T08:00:00Z")
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn user(n: u128, name: &str, role: Role, dept: Option<&str>) -> User {
    User {
        id: id(n),
        email: format!("{}@clinic.test", name.split(' ').next().unwrap().to_lowercase()),
        username: name.to_lowercase().replace(' ', ""),
        full_name: name.into(),
        role,
        department: dept.map(str::to_owned),
        active: true,
        created_at: now(),
    }
}

fn house() -> Doctor {
    Doctor { id: id(10), full_name: "Gregory House".into(), department: "cardiology".into() }
}

fn wilson() -> Doctor {
    Doctor { id: id(11), full_name: "James Wilson".into(), department: "cardiology".into() }
}

fn appt(n: u128, doctor: &Doctor, patient: &str, start: &str, status: AppointmentStatus) -> Appointment {
    let start = ts(start);
    Appointment {
        id: id(n),
        patient_id: id(100 + n),
        patient_name: patient.into(),
        doctor_id: doctor.id,
        doctor_name: doctor.full_name.clone(),
        department: doctor.department.clone(),
        start,
        end: start + jiff::SignedDuration::from_mins(30),
        status,
        reason: "Annual check-up".into(),
        version: 1,
        created_at: now(),
        updated_at: now(),
        type_id: None,
        resource_id: None,
        buffer_before: 0,
        buffer_after: 0,
        series_id: None,
    }
}

fn slot(start: &str) -> Slot {
    let start = ts(start);
    Slot { start, end: start + jiff::SignedDuration::from_mins(30) }
}

fn patient_profile(n: u128, name: &str) -> Patient {
    Patient {
        id: id(n),
        user_id: id(n + 1000),
        full_name: name.into(),
        email: format!("{}@example.org", name.split(' ').next().unwrap().to_lowercase()),
        date_of_birth: "1984-05-17".parse().unwrap(),
        phone: "+49 30 5550101".into(),
        insurance_id: Some("****5EA7".into()),
        patient_type: PatientType::Outpatient,
    }
}

fn record(version: u64, diagnosis: &str) -> MedicalRecord {
    MedicalRecord {
        id: id(500),
        appointment_id: id(1),
        patient_id: id(101),
        doctor_id: id(10),
        diagnosis: diagnosis.into(),
        notes: "BP 128/82.".into(),
        prescriptions: vec![Prescription {
            drug: "Ramipril".into(),
            dose: "5 mg".into(),
            frequency: "once daily".into(),
            days: 90,
        }],
        status: RecordStatus::Active,
        version,
        created_at: now(),
        updated_at: now(),
    }
}

/// A `200` answer to a conditional load.
fn changed<T>(value: T) -> Fresh<T> {
    Fresh::Changed { value, etag: None }
}

fn problem(status: u16, detail: &str) -> Problem {
    Problem::new(status, detail)
}

// ---- driving the app ----

fn app_with(theme: Theme, demo: Vec<DemoAccount>) -> App {
    App::new(SERVER, demo, TimeZone::UTC, now(), theme).unwrap()
}

fn app() -> App {
    app_with(Theme { color: true }, Vec::new())
}

fn press(app: &mut App, k: ratatui::crossterm::event::KeyEvent) {
    app.update(Action::Key(k));
}

fn typed(app: &mut App, s: &str) {
    for c in s.chars() {
        press(app, ch(c));
    }
}

/// A result for the screen that is up, as a task it spawned would deliver it.
fn net_status<M: Any + Send>(app: &mut App, status: Option<u16>, m: M) {
    app.update(Action::Net { screen: app.screen_id(), status, msg: Msg::new(m) });
}

fn net<M: Any + Send>(app: &mut App, m: M) {
    net_status(app, None, m);
}

fn net_err<M: Any + Send>(app: &mut App, status: u16, m: M) {
    net_status(app, Some(status), m);
}

/// The labels of the network calls queued since the last call.
fn tasks(app: &mut App) -> Vec<&'static str> {
    app.take_tasks().into_iter().map(|t| t.label).collect()
}

fn draw_at(app: &App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| app.draw(f)).unwrap();
    term
}

fn text_of(term: &Terminal<TestBackend>) -> String {
    let buf = term.backend().buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        let line: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn screen(app: &App) -> String {
    text_of(&draw_at(app, 80, 24))
}

/// Both sizes the client must work at, as insta snapshots.
fn snapshots(name: &str, app: &App) {
    insta::assert_snapshot!(format!("{name}_80x24"), text_of(&draw_at(app, 80, 24)));
    insta::assert_snapshot!(format!("{name}_160x48"), text_of(&draw_at(app, 160, 48)));
}

fn log_in_as(app: &mut App, u: User) {
    let client = Client::new(SERVER).unwrap();
    net(app, login::Msg::Done(Ok((client, u))));
}

fn fill_login(app: &mut App) {
    typed(app, "frank@clinic.test");
    press(app, key(KeyCode::Tab));
    typed(app, "a wrong password");
    press(app, key(KeyCode::Enter));
    assert_eq!(tasks(app), ["logging in"]);
}

// ---- login ----

#[test]
fn login_screen_masks_the_password() {
    let mut app = app();
    typed(&mut app, "frank@clinic.test");
    press(&mut app, key(KeyCode::Tab));
    typed(&mut app, "secret");
    let s = screen(&app);
    assert!(s.contains("Email: frank@clinic.test"), "{s}");
    assert!(s.contains("Password: ••••••"), "{s}");
    assert!(!s.contains("secret"));
    snapshots("login", &app);
}

#[test]
fn bad_credentials_say_so_and_clear_the_password() {
    let mut app = app();
    fill_login(&mut app);
    net_err(&mut app, 401, login::Msg::Done(Err(problem(401, "invalid credentials"))));
    let s = screen(&app);
    assert!(s.contains("Wrong email or password"), "{s}");
    assert!(s.contains("Password: ▏") || s.contains("Password:"), "{s}");
    assert!(!s.contains("••••"), "the password is cleared: {s}");
}

#[test]
fn throttled_login_says_how_long_to_wait() {
    let mut app = app();
    fill_login(&mut app);
    let p = problem(429, "too many failed logins (retry after 30 s)");
    net_err(&mut app, 429, login::Msg::Done(Err(p)));
    let s = screen(&app);
    assert!(s.contains("Too many failed attempts"), "{s}");
    assert!(s.contains("for 30 s"), "{s}");
}

#[test]
fn unreachable_server_names_the_address() {
    let mut app = app();
    fill_login(&mut app);
    let p = problem(0, "server unreachable: connection refused");
    net_err(&mut app, 0, login::Msg::Done(Err(p)));
    let s = screen(&app);
    assert!(s.contains("Cannot reach the server at"), "{s}");
    assert!(s.contains("127.0.0.1:9"), "{s}");
    snapshots("login_unreachable", &app);
}

#[test]
fn demo_picker_logs_in_as_the_chosen_role() {
    let demo = vec![
        DemoAccount { role: Role::Admin, email: "admin@demo.test".into(), password: "pw-admin-long".into() },
        DemoAccount { role: Role::Receptionist, email: "desk@demo.test".into(), password: "pw-desk-long".into() },
    ];
    let mut app = app_with(Theme { color: true }, demo);
    let s = screen(&app);
    assert!(s.contains("Front desk  desk@demo.test"), "{s}");
    assert!(s.contains("Another account…"), "{s}");
    snapshots("demo_picker", &app);
    press(&mut app, ch('j'));
    press(&mut app, key(KeyCode::Enter));
    assert_eq!(tasks(&mut app), ["logging in"]);
    assert!(screen(&app).contains("Logging in…"));
}

// ---- front desk ----

fn front_desk() -> App {
    let mut app = app();
    log_in_as(&mut app, user(1, "Frank Desk", Role::Receptionist, None));
    assert_eq!(app.screen.title(), "Front desk");
    let mut queued = tasks(&mut app);
    queued.sort();
    assert_eq!(queued, ["loading doctors", "loading rooms"]);
    net(&mut app, front_desk::Msg::Rooms(Ok(vec![])));
    let general = Doctor { id: id(12), full_name: "Meredith Grey".into(), department: "general".into() };
    net(&mut app, front_desk::Msg::Doctors(Ok(vec![house(), wilson(), general])));
    assert_eq!(tasks(&mut app), ["loading the board"]);
    let day = jiff::civil::date(2026, 11, 27);
    let columns = vec![
        front_desk::Column {
            doctor: house(),
            appts: vec![
                appt(1, &house(), "Alice Moreau", "2026-11-27T09:00:00Z", AppointmentStatus::CheckedIn),
                appt(2, &house(), "Bruno Keller", "2026-11-27T10:00:00Z", AppointmentStatus::Scheduled),
            ],
            free: vec![slot("2026-11-27T09:30:00Z"), slot("2026-11-27T10:30:00Z")],
        },
        front_desk::Column {
            doctor: wilson(),
            appts: vec![appt(3, &wilson(), "Chiara Rossi", "2026-11-27T09:00:00Z", AppointmentStatus::NoShow)],
            free: vec![slot("2026-11-27T09:30:00Z"), slot("2026-11-27T10:00:00Z")],
        },
    ];
    let columns = columns.into_iter().map(front_desk::ColumnUpdate::from).collect();
    net(&mut app, front_desk::Msg::Board(day, "cardiology".into(), Ok(columns)));
    app
}

#[test]
fn front_desk_board_shows_doctors_side_by_side_with_time_down_the_left() {
    let app = front_desk();
    let s = screen(&app);
    assert!(s.contains("cardiology · Fri 27 Nov (today)"), "{s}");
    let header = s.lines().find(|l| l.contains("Time")).unwrap();
    assert!(header.contains("Gregory House") && header.contains("James Wilson"), "{s}");
    let nine = s.lines().find(|l| l.contains("09:00")).unwrap();
    assert!(nine.contains("Alice Moreau · checked in") && nine.contains("Chiara Rossi · no-show"), "{s}");
    let half_past = s.lines().find(|l| l.contains("09:30")).unwrap();
    assert!(half_past.matches("free").count() == 2, "{s}");
    assert!(s.contains("10:00 Bruno Keller · booked"), "{s}");
    snapshots("front_desk_board", &app);
}

#[test]
fn status_bar_lists_the_keys_of_the_selected_cell() {
    let mut app = front_desk();
    let bar = |app: &App| screen(app).lines().last().unwrap().to_owned();
    // 09:00 Alice is already checked in: nothing to check in.
    assert!(bar(&app).contains("Enter details") && !bar(&app).contains("check in"), "{}", bar(&app));
    press(&mut app, ch('j')); // 09:30, free
    assert!(bar(&app).contains("Enter book here"), "{}", bar(&app));
    press(&mut app, ch('j')); // 10:00 Bruno, booked
    assert!(bar(&app).contains("c check in") && bar(&app).contains("x cancel"), "{}", bar(&app));
}

#[test]
fn checking_in_reports_and_refreshes_the_board() {
    let mut app = front_desk();
    press(&mut app, ch('j'));
    press(&mut app, ch('j')); // 10:00, Bruno
    press(&mut app, ch('c'));
    assert_eq!(tasks(&mut app), ["Checked in"]);
    let mut a = appt(2, &house(), "Bruno Keller", "2026-11-27T10:00:00Z", AppointmentStatus::CheckedIn);
    a.version = 2;
    net(&mut app, front_desk::Msg::Changed("Checked in", Ok(a)));
    assert_eq!(tasks(&mut app), ["loading the board"]);
    assert!(screen(&app).contains("Checked in: Bruno Keller (10:00 with Gregory House)."));
}

#[test]
fn a_refused_action_is_shown_plainly_and_the_board_refreshes() {
    let mut app = front_desk();
    press(&mut app, ch('j'));
    press(&mut app, ch('j')); // 10:00 Bruno, booked; a colleague checks him in meanwhile
    press(&mut app, ch('n'));
    assert_eq!(tasks(&mut app), ["Marked as no-show"]);
    let p = problem(409, "a checked-in appointment cannot become a no-show");
    net_err(&mut app, 409, front_desk::Msg::Changed("Marked as no-show", Err(p)));
    assert_eq!(tasks(&mut app), ["loading the board"]);
    let s = screen(&app);
    assert!(s.contains("Not marked as no-show: conflict: a checked-in appointment"), "{s}");
}

fn booking_msg(app: &mut App, m: BookingMsg) {
    net(app, m);
}

fn echo_type() -> AppointmentType {
    AppointmentType {
        id: id(700),
        department: "cardiology".into(),
        name: "Echocardiogram".into(),
        minutes: 45,
        buffer_before: 0,
        buffer_after: 15,
        price: Money { amount: 14000, currency: "EUR".parse().unwrap() },
        patient_bookable: false,
        resource_kind: Some("echo".into()),
        active: true,
        version: 1,
    }
}

fn echo_machine() -> Resource {
    Resource {
        id: id(800),
        kind: "echo".into(),
        name: "Echo machine".into(),
        department: "cardiology".into(),
        active: true,
        version: 1,
    }
}

#[test]
fn the_board_shows_rooms_after_the_doctors_and_buffers_shaded() {
    let mut app = front_desk();
    net(&mut app, front_desk::Msg::Rooms(Ok(vec![echo_machine()])));
    let mut echo = appt(1, &house(), "Alice Moreau", "2026-11-27T09:00:00Z", AppointmentStatus::CheckedIn);
    // A 30-minute visit with half an hour of clean-up after it.
    (echo.type_id, echo.resource_id, echo.buffer_after) = (Some(echo_type().id), Some(echo_machine().id), 30);
    let columns = vec![
        front_desk::Column {
            doctor: house(),
            appts: vec![echo, appt(2, &house(), "Bruno Keller", "2026-11-27T10:00:00Z", AppointmentStatus::Scheduled)],
            free: vec![slot("2026-11-27T10:30:00Z")],
        },
        front_desk::Column {
            doctor: wilson(),
            appts: vec![appt(3, &wilson(), "Chiara Rossi", "2026-11-27T09:00:00Z", AppointmentStatus::NoShow)],
            free: vec![slot("2026-11-27T09:30:00Z"), slot("2026-11-27T10:00:00Z")],
        },
    ];
    let columns = columns.into_iter().map(front_desk::ColumnUpdate::from).collect();
    net(&mut app, front_desk::Msg::Board(jiff::civil::date(2026, 11, 27), "cardiology".into(), Ok(columns)));
    let s = text_of(&draw_at(&app, 100, 24));
    let header = s.lines().find(|l| l.contains("Time")).unwrap();
    assert!(header.contains("Gregory House") && header.contains("▣ Echo machine"), "{s}");
    let nine = s.lines().find(|l| l.contains("09:00")).unwrap();
    assert_eq!(nine.matches("Alice Moreau · checked in").count(), 2, "the doctor's and the room's: {s}");
    let half_past = s.lines().find(|l| l.contains("09:30")).unwrap();
    assert_eq!(half_past.matches("░░ buffer · Alice Moreau").count(), 2, "the doctor's and the room's: {s}");
    assert!(half_past.contains("free"), "James Wilson is free then: {s}");
    let ten = s.lines().find(|l| l.contains("10:00")).unwrap();
    assert!(ten.contains("Bruno Keller · booked") && !ten.contains("buffer"), "{s}");
    assert!(s.contains("░ buffer"), "the legend names the shading: {s}");
    snapshots("front_desk_board_rooms", &app);
    // The cell of the room at 09:00 is a visit: its details open.
    for _ in 0..2 {
        press(&mut app, key(KeyCode::Tab));
    }
    press(&mut app, key(KeyCode::Enter));
    assert!(screen(&app).contains("Patient: Alice Moreau"), "{}", screen(&app));
}

#[test]
fn booking_goes_doctor_then_slot_then_patient_then_reason() {
    let mut app = front_desk();
    press(&mut app, ch('b'));
    let s = screen(&app);
    assert!(s.contains("1 · Doctor") && s.contains("Meredith Grey"), "{s}");
    snapshots("booking_doctor", &app);

    press(&mut app, key(KeyCode::Enter));
    assert_eq!(tasks(&mut app), ["loading visit types"]);
    assert!(screen(&app).contains("Loading kinds of visit…"));
    booking_msg(&mut app, BookingMsg::Types("cardiology".into(), Ok((vec![echo_type()], vec![echo_machine()]))));
    let s = screen(&app);
    assert!(s.contains("2 · Kind of visit") && s.contains("Standard visit"), "{s}");
    assert!(s.contains("Echocardiogram") && s.contains("45 min +0/15 · needs echo · 140.00 EUR"), "{s}");
    snapshots("booking_type", &app);

    press(&mut app, key(KeyCode::Down));
    press(&mut app, key(KeyCode::Enter));
    assert_eq!(tasks(&mut app), ["loading free slots"]);
    assert!(screen(&app).contains("Loading free times…"));
    let long = |s: &str| Slot { end: ts(s) + jiff::SignedDuration::from_mins(45), ..slot(s) };
    booking_msg(
        &mut app,
        BookingMsg::Slots(id(10), Ok(vec![long("2026-11-27T09:30:00Z"), long("2026-11-30T09:00:00Z")])),
    );
    let s = screen(&app);
    assert!(s.contains("Free times for Echocardiogram"), "{s}");
    assert!(s.contains("Fri 27 Nov 09:30–10:15") && s.contains("Mon 30 Nov 09:00–09:45"), "{s}");
    assert!(s.contains("Visit: Echocardiogram"), "{s}");
    snapshots("booking_slot", &app);

    press(&mut app, key(KeyCode::Down));
    press(&mut app, key(KeyCode::Enter));
    assert_eq!(tasks(&mut app), ["searching patients"]);
    typed(&mut app, "dmi");
    assert_eq!(tasks(&mut app).len(), 3, "one search per keystroke");
    let page = Page { items: vec![patient_profile(104, "Dmitri Volkov")], next_cursor: None };
    booking_msg(&mut app, BookingMsg::Patients("dmi".into(), Ok(page)));
    let s = screen(&app);
    assert!(s.contains("Find: dmi") && s.contains("Dmitri Volkov"), "{s}");
    assert!(s.contains("When: Mon 30 Nov 09:00"), "{s}");
    snapshots("booking_patient", &app);

    // Enter before the search for what was typed answers waits for it,
    // rather than pick from the older list on screen.
    typed(&mut app, "t");
    tasks(&mut app);
    press(&mut app, key(KeyCode::Enter));
    assert!(screen(&app).contains("Still searching…"));
    let page = Page { items: vec![patient_profile(104, "Dmitri Volkov")], next_cursor: None };
    booking_msg(&mut app, BookingMsg::Patients("dmit".into(), Ok(page)));
    typed(&mut app, "Knee pain");
    let s = screen(&app);
    assert!(s.contains("5 · Reason") && s.contains("Reason: Knee pain"), "{s}");
    assert!(s.contains("Patient: Dmitri Volkov"), "{s}");
    press(&mut app, key(KeyCode::Enter));
    assert_eq!(tasks(&mut app), ["booking"]);
    assert!(screen(&app).contains("Saving…"));

    let mut booked = appt(9, &house(), "Dmitri Volkov", "2026-11-30T09:00:00Z", AppointmentStatus::Scheduled);
    (booked.type_id, booked.resource_id) = (Some(echo_type().id), Some(echo_machine().id));
    booking_msg(&mut app, BookingMsg::Done(Ok(booked)));
    assert_eq!(tasks(&mut app), ["loading the board"]);
    let s = screen(&app);
    assert!(s.contains("Booked: Dmitri Volkov with Gregory House on Mon 30 Nov 09:00, in Echo machine."), "{s}");
    assert!(s.contains("Mon 30 Nov"), "the board moves to the booked day: {s}");
}

#[test]
fn the_front_desk_books_a_weekly_series_from_the_reason_step() {
    use healthsynx_shared::{Every, Series, SeriesRule, Skipped};
    let mut app = front_desk();
    press(&mut app, ch('j')); // 09:30, a free cell of Gregory House
    press(&mut app, key(KeyCode::Enter));
    assert_eq!(tasks(&mut app), ["searching patients"]);
    let page = Page { items: vec![patient_profile(104, "Dmitri Volkov")], next_cursor: None };
    booking_msg(&mut app, BookingMsg::Patients(String::new(), Ok(page)));
    press(&mut app, key(KeyCode::Enter));
    assert!(screen(&app).contains("Repeat: once (Tab: repeat every week, 2 weeks, month)"), "{}", screen(&app));
    press(&mut app, key(KeyCode::Tab));
    press(&mut app, key(KeyCode::Up));
    let s = screen(&app);
    assert!(s.contains("Repeat: every week, 7 visits"), "{s}");
    assert!(s.contains("Enter books the series") && s.contains("↑↓ visits"), "{s}");
    snapshots("booking_series", &app);
    press(&mut app, key(KeyCode::Enter));
    assert_eq!(tasks(&mut app), ["booking the series"]);
    let week = jiff::SignedDuration::from_hours(24 * 7);
    let occurrences: Vec<Appointment> = (0..6)
        .map(|k| {
            let mut a = appt(20 + k, &house(), "Dmitri Volkov", "2026-11-27T09:30:00Z", AppointmentStatus::Scheduled);
            a.start += week * (k as i32);
            a.end += week * (k as i32);
            a
        })
        .collect();
    let series = Series {
        id: id(900),
        patient_id: id(104),
        doctor_id: house().id,
        type_id: None,
        start: ts("2026-11-27T09:30:00Z"),
        rule: SeriesRule { every: Every::Week, count: Some(7), until: None },
        occurrences,
        skipped: vec![Skipped {
            start: ts("2027-01-08T09:30:00Z"),
            why: "the doctor already has an appointment".into(),
        }],
        created_at: now(),
    };
    booking_msg(&mut app, BookingMsg::SeriesDone(Ok(series)));
    let s = text_of(&draw_at(&app, 160, 48));
    assert!(
        s.contains("Booked: Dmitri Volkov with Gregory House on Fri 27 Nov 09:30, and 5 more of the series; 1 time was taken and skipped."),
        "{s}"
    );
}

#[test]
fn a_booking_conflict_explains_and_offers_fresh_slots() {
    let mut app = front_desk();
    press(&mut app, ch('j')); // 09:30, a free cell of Gregory House
    press(&mut app, key(KeyCode::Enter));
    assert_eq!(tasks(&mut app), ["searching patients"]);
    let page = Page { items: vec![patient_profile(104, "Dmitri Volkov")], next_cursor: None };
    booking_msg(&mut app, BookingMsg::Patients(String::new(), Ok(page)));
    press(&mut app, key(KeyCode::Enter));
    press(&mut app, key(KeyCode::Enter));
    assert_eq!(tasks(&mut app), ["booking"]);
    let p = problem(409, "the doctor already has an appointment at that time");
    net_err(&mut app, 409, BookingMsg::Done(Err(p)));
    let mut queued = tasks(&mut app);
    queued.sort();
    assert_eq!(queued, ["loading free slots", "loading the board"]);
    let s = screen(&app);
    assert!(s.contains("Someone else just booked that time"), "{s}");
    assert!(s.contains("pick another"), "{s}");
    snapshots("booking_conflict", &app);
}

#[test]
fn find_patient_opens_a_card_and_books_for_them() {
    let mut app = front_desk();
    press(&mut app, ch('/'));
    assert_eq!(tasks(&mut app), ["searching patients"]);
    typed(&mut app, "ali");
    tasks(&mut app);
    let mut alice = patient_profile(101, "Alice Moreau");
    alice.insurance_id = Some("INS-12345678".into());
    booking_msg_search(&mut app, "ali", vec![alice]);
    press(&mut app, key(KeyCode::Enter));
    let s = screen(&app);
    assert!(s.contains("Insurance: INS-12345678"), "front desk sees insurance in clear: {s}");
    press(&mut app, ch('b'));
    let s = screen(&app);
    assert!(s.contains("1 · Doctor") && s.contains("Patient: Alice Moreau"), "{s}");
}

fn booking_msg_search(app: &mut App, q: &str, items: Vec<Patient>) {
    net(app, front_desk::Msg::Search(q.into(), Ok(Page { items, next_cursor: None })));
}

#[test]
fn registering_a_patient_checks_the_form_then_shows_the_activation_code() {
    let mut app = front_desk();
    press(&mut app, ch('N'));
    typed(&mut app, "Erin Hale");
    press(&mut app, key(KeyCode::Tab));
    typed(&mut app, "erin@example.org");
    press(&mut app, key(KeyCode::Tab));
    typed(&mut app, "17.05.1984");
    press(&mut app, key(KeyCode::Enter));
    assert!(tasks(&mut app).is_empty());
    assert!(screen(&app).contains("Date of birth must look like 1984-05-17."));
    for _ in 0..10 {
        press(&mut app, key(KeyCode::Backspace));
    }
    typed(&mut app, "1984-05-17");
    press(&mut app, key(KeyCode::Tab));
    typed(&mut app, "+49 30 1234567");
    press(&mut app, key(KeyCode::Enter));
    assert_eq!(tasks(&mut app), ["registering the patient"]);
    let created = PatientCreated {
        patient: patient_profile(120, "Erin Hale"),
        activation_token: Some(healthsynx_shared::api::ResetToken {
            token: "one-time-code-123".into(),
            expires_at: ts("2026-11-27T09:00:00Z"),
        }),
    };
    net(&mut app, front_desk::Msg::Registered(Ok(created)));
    let s = screen(&app);
    assert!(s.contains("Registered Erin Hale.") && s.contains("one-time-code-123"), "{s}");
}

// ---- help, colour ----

#[test]
fn help_lists_every_key_of_the_screen_and_closes_on_any_key() {
    let mut app = front_desk();
    press(&mut app, ch('?'));
    let s = screen(&app);
    for k in ["find patient", "new patient", "department", "refresh", "log out", "quit"] {
        assert!(s.contains(k), "help lacks {k}: {s}");
    }
    snapshots("help_front_desk", &app);
    press(&mut app, ch('x'));
    assert!(!screen(&app).contains("Keys on this screen"));
    assert!(!app.quit);
}

#[test]
fn no_color_paints_nothing_in_colour() {
    let mut app = app_with(Theme { color: false }, Vec::new());
    log_in_as(&mut app, user(1, "Frank Desk", Role::Receptionist, None));
    let mut coloured = front_desk();
    coloured.theme = Theme { color: false };
    for a in [&app, &coloured] {
        let term = draw_at(a, 80, 24);
        let buf = term.backend().buffer();
        for cell in buf.content() {
            assert_eq!((cell.fg, cell.bg), (Color::Reset, Color::Reset), "a coloured cell {cell:?}");
        }
    }
    // With colour on, the board does use colour.
    let mut coloured = front_desk();
    coloured.theme = Theme { color: true };
    let term = draw_at(&coloured, 80, 24);
    assert!(term.backend().buffer().content().iter().any(|c| c.fg != Color::Reset));
}

#[test]
fn q_quits_but_is_text_inside_a_field() {
    let mut app = front_desk();
    press(&mut app, ch('/'));
    typed(&mut app, "q");
    assert!(!app.quit);
    press(&mut app, key(KeyCode::Esc));
    press(&mut app, ch('q'));
    assert!(app.quit);
}

// ---- doctor ----

fn doctor_app() -> App {
    let mut app = app();
    log_in_as(&mut app, user(10, "Gregory House", Role::Doctor, Some("cardiology")));
    assert_eq!(tasks(&mut app), ["loading my calendar"]);
    let appts = vec![
        appt(1, &house(), "Alice Moreau", "2026-11-27T09:00:00Z", AppointmentStatus::CheckedIn),
        appt(2, &house(), "Bruno Keller", "2026-11-27T10:00:00Z", AppointmentStatus::Scheduled),
    ];
    let day = jiff::civil::date(2026, 11, 27);
    net(&mut app, doctor::Msg::Calendar(day, false, Ok(changed(appts))));
    app
}

fn open_chart(app: &mut App) {
    press(app, key(KeyCode::Enter));
    let mut queued = tasks(app);
    queued.sort();
    assert_eq!(queued, ["loading appointments", "loading records", "loading the patient"]);
    net(app, ChartMsg::Patient(Ok(patient_profile(101, "Alice Moreau"))));
    let visits = vec![appt(1, &house(), "Alice Moreau", "2026-11-27T09:00:00Z", AppointmentStatus::CheckedIn)];
    net(app, ChartMsg::Appointments(Ok(Page { items: visits, next_cursor: None })));
    let page = Page { items: vec![record(2, "Essential hypertension")], next_cursor: None };
    net(app, ChartMsg::Records(Ok(page)));
}

#[test]
fn chart_lists_records_by_their_visit_not_by_when_they_were_written() {
    let mut app = doctor_app();
    open_chart(&mut app);
    let older_visit = appt(7, &house(), "Alice Moreau", "2026-11-20T14:00:00Z", AppointmentStatus::Completed);
    net(&mut app, ChartMsg::Appointments(Ok(Page { items: vec![older_visit], next_cursor: None })));
    let written_late = MedicalRecord {
        id: id(501),
        appointment_id: id(7),
        diagnosis: "Seasonal allergic rhinitis".into(),
        created_at: now() + jiff::SignedDuration::from_hours(24),
        ..record(1, "")
    };
    let page = Page { items: vec![written_late, record(2, "Essential hypertension")], next_cursor: None };
    net(&mut app, ChartMsg::Records(Ok(page)));
    let s = screen(&app);
    let row = |text: &str| s.lines().position(|l| l.contains(text)).unwrap_or_else(|| panic!("{text}: {s}"));
    assert!(row("Essential hypertension") < row("Seasonal allergic rhinitis"), "newest visit first: {s}");
    assert!(s.lines().any(|l| l.contains("2026-11-20 14:00") && l.contains("Seasonal")), "the visit's time: {s}");
}

fn editor_msg(app: &mut App, status: Option<u16>, m: EditorMsg) {
    net_status(app, status, m);
}

#[test]
fn doctor_day_lists_my_appointments() {
    let app = doctor_app();
    let s = screen(&app);
    assert!(s.contains("My day · Fri 27 Nov (today)"), "{s}");
    assert!(s.contains("09:00–09:30  Alice Moreau") && s.contains("checked in"), "{s}");
    snapshots("doctor_day", &app);
}

#[test]
fn doctor_week_view_lays_out_days_side_by_side() {
    let mut app = doctor_app();
    press(&mut app, ch('w'));
    assert_eq!(tasks(&mut app), ["loading my calendar"]);
    let appts = vec![
        appt(1, &house(), "Alice Moreau", "2026-11-27T09:00:00Z", AppointmentStatus::CheckedIn),
        appt(4, &house(), "Dmitri Volkov", "2026-11-23T09:00:00Z", AppointmentStatus::Completed),
    ];
    net(&mut app, doctor::Msg::Calendar(jiff::civil::date(2026, 11, 27), true, Ok(changed(appts))));
    let s = screen(&app);
    assert!(s.contains("My week · Mon 23 Nov – Sun 29 Nov"), "{s}");
    let row = s.lines().find(|l| l.contains("09:00")).unwrap();
    assert!(row.contains("Volkov") && row.contains("Moreau"), "{s}");
    snapshots("doctor_week", &app);
}

#[test]
fn chart_shows_the_masked_insurance_and_the_records() {
    let mut app = doctor_app();
    open_chart(&mut app);
    let s = screen(&app);
    assert!(s.contains("Insurance: ****5EA7"), "{s}");
    assert!(s.contains("Essential hypertension (yours)"), "{s}");
    assert!(s.lines().last().unwrap().contains("e edit record"), "{s}");
    snapshots("doctor_chart", &app);
}

#[test]
fn a_stale_save_is_explained_and_their_version_shown_beside_my_text() {
    let mut app = doctor_app();
    open_chart(&mut app);
    press(&mut app, ch('e'));
    press(&mut app, key(KeyCode::End));
    typed(&mut app, ", stable");
    press(&mut app, ctrl('s'));
    assert_eq!(tasks(&mut app), ["saving the record"]);
    editor_msg(&mut app, Some(412), EditorMsg::Saved(Err(problem(412, "version mismatch"))));
    assert_eq!(tasks(&mut app), ["loading their version"]);
    editor_msg(&mut app, None, EditorMsg::Latest(Ok(record(3, "Hypertension, colleague's wording"))));
    let s = screen(&app);
    assert!(s.contains("Not saved: someone else changed this record"), "{s}");
    assert!(s.contains("Essential hypertension, stable"), "my text is kept: {s}");
    assert!(s.contains("Their version 3"), "{s}");
    snapshots("editor_412", &app);

    // Saving again now knowingly replaces version 3.
    press(&mut app, ctrl('s'));
    assert_eq!(tasks(&mut app), ["saving the record"]);
    assert!(screen(&app).contains("Edit record · Alice Moreau · v3"), "{}", screen(&app));
}

#[test]
fn an_ended_session_goes_to_login_and_keeps_unsaved_edits() {
    let mut app = doctor_app();
    open_chart(&mut app);
    press(&mut app, ch('e'));
    typed(&mut app, "Draft: ");
    press(&mut app, ctrl('s'));
    tasks(&mut app);
    editor_msg(&mut app, Some(401), EditorMsg::Saved(Err(problem(401, "token family revoked"))));
    let s = screen(&app);
    assert_eq!(app.screen.title(), "Log in");
    assert!(s.contains("Your session has ended"), "{s}");
    assert!(s.contains("Email: gregory@clinic.test"), "{s}");

    log_in_as(&mut app, user(10, "Gregory House", Role::Doctor, Some("cardiology")));
    let s = screen(&app);
    assert!(s.contains("Draft: Essential hypertension"), "the edit survived: {s}");
    assert!(s.contains("Welcome back"), "{s}");
}

#[test]
fn new_record_is_offered_only_for_my_appointment_without_one() {
    let mut app = doctor_app();
    press(&mut app, ch('j')); // Bruno, no record yet
    press(&mut app, key(KeyCode::Enter));
    tasks(&mut app);
    net(&mut app, ChartMsg::Records(Ok(Page { items: vec![], next_cursor: None })));
    assert!(screen(&app).lines().last().unwrap().contains("N new record"));
    press(&mut app, ch('N'));
    typed(&mut app, "Costochondritis");
    let s = screen(&app);
    assert!(s.contains("New record") && s.contains("Costochondritis"), "{s}");
}

// ---- nurse, patient, admin ----

fn nurse_day() -> Vec<Appointment> {
    vec![
        appt(1, &house(), "Alice Moreau", "2026-11-27T09:00:00Z", AppointmentStatus::Scheduled),
        appt(3, &wilson(), "Chiara Rossi", "2026-11-27T09:30:00Z", AppointmentStatus::CheckedIn),
    ]
}

fn nurse_app() -> App {
    let mut app = app();
    log_in_as(&mut app, user(20, "Joy Nightingale", Role::Nurse, Some("cardiology")));
    assert_eq!(tasks(&mut app), ["loading the day"]);
    let day = jiff::civil::date(2026, 11, 27);
    net(&mut app, nurse::Msg::Day(day, Ok(changed(Page { items: nurse_day(), next_cursor: None }))));
    app
}

#[test]
fn nurse_sees_the_department_day_and_checks_in() {
    let mut app = nurse_app();
    let s = screen(&app);
    assert!(s.contains("cardiology · Fri 27 Nov (today)"), "{s}");
    assert!(s.contains("Alice Moreau") && s.contains("James Wilson"), "{s}");
    snapshots("nurse_day", &app);
    press(&mut app, ch('c'));
    assert_eq!(tasks(&mut app), ["checking in"]);

    // `/` narrows the list; the keys then act on what is shown.
    press(&mut app, ch('/'));
    typed(&mut app, "chi");
    press(&mut app, key(KeyCode::Enter));
    let s = screen(&app);
    assert!(s.contains("Chiara Rossi") && !s.contains("Alice Moreau"), "{s}");
    press(&mut app, key(KeyCode::Enter));
    let mut queued = tasks(&mut app);
    queued.sort();
    assert_eq!(queued, ["loading appointments", "loading records", "loading the patient"]);
    let s = screen(&app);
    assert!(s.contains("Chiara Rossi") && s.contains("James Wilson"), "the chart of the filtered row: {s}");
}

fn patient_app() -> App {
    let mut app = app();
    log_in_as(&mut app, user(1101, "Alice Moreau", Role::Patient, None));
    let mut queued = tasks(&mut app);
    queued.sort();
    assert_eq!(
        queued,
        [
            "loading doctors",
            "loading my appointments",
            "loading my bills",
            "loading my profile",
            "loading my records",
            "loading my waitlist",
            "loading who looked at my data"
        ]
    );
    let me = Me {
        user: user(1101, "Alice Moreau", Role::Patient, None),
        patient: Some(patient_profile(101, "Alice Moreau")),
    };
    net(&mut app, patient::Msg::Me(Ok(me)));
    let items = vec![
        appt(1, &house(), "Alice Moreau", "2026-11-27T09:00:00Z", AppointmentStatus::Scheduled),
        appt(2, &house(), "Alice Moreau", "2026-11-30T10:00:00Z", AppointmentStatus::Scheduled),
        appt(3, &wilson(), "Alice Moreau", "2026-11-20T10:00:00Z", AppointmentStatus::Completed),
    ];
    net(&mut app, patient::Msg::Appointments(Ok(Page { items, next_cursor: None })));
    let log = vec![AccessLogEntry {
        at: ts("2026-11-27T07:30:00Z"),
        actor_name: "Gregory House".into(),
        actor_role: Some(Role::Doctor),
        action: "record.read".into(),
        target_type: "record".into(),
        emergency: false,
        reason: None,
    }];
    net(&mut app, patient::Msg::AccessLog(Ok(Page { items: log, next_cursor: None })));
    app
}

#[test]
fn patient_cancel_shows_the_window_and_refuses_late_cancels() {
    let mut app = patient_app();
    let s = screen(&app);
    assert!(s.contains("Fri 27 Nov 09:00  Gregory House"), "{s}");
    assert!(!s.contains("Fri 20 Nov"), "past visits are on their own tab: {s}");
    assert!(s.contains("Cancelling online closed Thu 26 Nov 09:00"), "{s}");
    snapshots("patient_upcoming", &app);
    press(&mut app, ch('x'));
    assert!(screen(&app).contains("Too late to cancel online"));
    assert!(tasks(&mut app).is_empty());

    press(&mut app, ch('j'));
    let s = screen(&app);
    assert!(s.contains("You can cancel this online until Sun 29 Nov 10:00"), "{s}");
    press(&mut app, ch('x'));
    assert!(screen(&app).contains("Online cancelling is open until Sun 29 Nov 10:00"));
    press(&mut app, key(KeyCode::Enter));
    assert_eq!(tasks(&mut app), ["cancelling"]);
}

#[test]
fn patient_sees_who_looked_at_their_data() {
    let mut app = patient_app();
    for _ in 0..4 {
        press(&mut app, key(KeyCode::Tab));
    }
    let s = screen(&app);
    assert!(s.contains("Gregory House") && s.contains("record.read"), "{s}");
    snapshots("patient_access_log", &app);
}

#[test]
fn patient_books_for_themselves_without_a_patient_step() {
    let mut app = patient_app();
    net(&mut app, patient::Msg::Doctors(Ok(vec![house()])));
    press(&mut app, ch('b'));
    press(&mut app, key(KeyCode::Enter));
    assert_eq!(tasks(&mut app), ["loading visit types"]);
    // Only the kinds of visit bookable online are offered: here none, so the times come next.
    net(&mut app, BookingMsg::Types("cardiology".into(), Ok((vec![echo_type()], vec![]))));
    assert_eq!(tasks(&mut app), ["loading free slots"]);
    net(&mut app, BookingMsg::Slots(id(10), Ok(vec![slot("2026-12-01T09:00:00Z")])));
    press(&mut app, key(KeyCode::Enter));
    let s = screen(&app);
    assert!(s.contains("5 · Reason") && s.contains("Patient: Alice Moreau"), "{s}");
}

// ---- waitlist ----

/// An open offer of a held half hour to `patient`.
fn offer(n: u128, patient: &str, doctor: &Doctor, start: &str, expires: &str) -> Offer {
    let start = ts(start);
    Offer {
        id: id(n),
        waitlist_id: id(n + 50),
        appointment_id: id(n + 70),
        patient_id: id(101),
        patient_name: patient.into(),
        doctor_id: doctor.id,
        doctor_name: doctor.full_name.clone(),
        department: doctor.department.clone(),
        type_id: None,
        resource_id: None,
        start,
        end: start + jiff::SignedDuration::from_mins(30),
        expires_at: ts(expires),
        status: OfferStatus::Open,
        created_at: now(),
    }
}

/// `patient` waiting for `doctor` (or any cardiology doctor) from `earliest` to `latest`.
fn entry(
    n: u128,
    patient: &str,
    doctor: Option<&Doctor>,
    window: (&str, &str),
    status: WaitlistStatus,
) -> WaitlistEntry {
    WaitlistEntry {
        id: id(n),
        patient_id: id(100 + n),
        patient_name: patient.into(),
        doctor_id: doctor.map(|d| d.id),
        department: "cardiology".into(),
        type_id: None,
        earliest: ts(window.0),
        latest: ts(window.1),
        note: None,
        status,
        offer_id: None,
        created_at: ts("2026-11-26T15:20:00Z"),
    }
}

/// One offer (Alice's) and, besides Alice's offered entry, two patients waiting.
fn waitlist_rows() -> (Vec<Offer>, Vec<WaitlistEntry>) {
    let offers = vec![offer(600, "Alice Moreau", &house(), "2026-11-30T09:00:00Z", "2026-11-27T08:14:00Z")];
    let now_to_dec = ("2026-11-27T07:00:00Z", "2026-12-04T07:00:00Z");
    let mut bruno = entry(651, "Bruno Keller", None, now_to_dec, WaitlistStatus::Waiting);
    bruno.note = Some("Mornings only, works afternoons".into());
    let entries = vec![
        entry(650, "Alice Moreau", Some(&house()), now_to_dec, WaitlistStatus::Offered),
        bruno,
        entry(
            652,
            "Chiara Rossi",
            Some(&wilson()),
            ("2026-12-01T08:00:00Z", "2026-12-11T17:00:00Z"),
            WaitlistStatus::Waiting,
        ),
    ];
    (offers, entries)
}

fn front_desk_waitlist() -> App {
    let mut app = front_desk();
    press(&mut app, ch('w'));
    assert_eq!(tasks(&mut app), ["loading the waitlist"]);
    net(&mut app, WaitlistMsg::Loaded(Ok(waitlist_rows())));
    app
}

/// The board with Dmitri's 10:30 with House held for his waitlist offer.
fn front_desk_with_held() -> App {
    let mut app = front_desk();
    let held = appt(5, &house(), "Dmitri Volkov", "2026-11-27T10:30:00Z", AppointmentStatus::Held);
    let columns = vec![
        front_desk::Column {
            doctor: house(),
            appts: vec![
                appt(1, &house(), "Alice Moreau", "2026-11-27T09:00:00Z", AppointmentStatus::CheckedIn),
                appt(2, &house(), "Bruno Keller", "2026-11-27T10:00:00Z", AppointmentStatus::Scheduled),
                held,
            ],
            free: vec![slot("2026-11-27T09:30:00Z")],
        },
        front_desk::Column { doctor: wilson(), appts: vec![], free: vec![slot("2026-11-27T10:30:00Z")] },
    ];
    let columns = columns.into_iter().map(front_desk::ColumnUpdate::from).collect();
    net(&mut app, front_desk::Msg::Board(jiff::civil::date(2026, 11, 27), "cardiology".into(), Ok(columns)));
    for _ in 0..3 {
        press(&mut app, ch('j'));
    }
    app
}

#[test]
fn a_held_time_on_the_board_is_neither_checked_in_nor_cancelled() {
    let mut app = front_desk_with_held();
    let s = screen(&app);
    assert!(s.contains("10:30 Dmitri Volkov · offer held"), "{s}");
    let bar = s.lines().last().unwrap().to_owned();
    assert!(bar.contains("Enter details") && !bar.contains("check in") && !bar.contains("cancel"), "{bar}");
    press(&mut app, key(KeyCode::Enter));
    let s = screen(&app);
    assert!(s.contains("Status:  offer held") && s.contains("not yet booked"), "{s}");
    assert!(s.contains("w answer in the waitlist"), "{s}");
    // Opened on the held time, the panel selects its offer.
    press(&mut app, ch('w'));
    assert_eq!(tasks(&mut app), ["loading the waitlist"]);
    let (mut offers, entries) = waitlist_rows();
    let mut dmitri = offer(601, "Dmitri Volkov", &house(), "2026-11-27T10:30:00Z", "2026-11-27T08:20:00Z");
    dmitri.appointment_id = id(5);
    offers.push(dmitri);
    net(&mut app, WaitlistMsg::Loaded(Ok((offers, entries))));
    let s = screen(&app);
    assert!(s.lines().any(|l| l.contains("› Dmitri Volkov")), "{s}");
}

#[test]
fn the_front_desk_waitlist_lists_offers_then_who_waits() {
    let app = front_desk_waitlist();
    let s = text_of(&draw_at(&app, 100, 30));
    assert!(s.contains("Waitlist") && s.contains("Offers (1)") && s.contains("Waiting (3)"), "{s}");
    let offer = s.lines().find(|l| l.contains("› Alice Moreau")).unwrap();
    assert!(
        offer.contains("Gregory House") && offer.contains("Mon 30 Nov 09:00") && offer.contains("expires in 14 min")
    );
    let bruno = s.lines().find(|l| l.contains("Bruno Keller") && !l.contains(" · ")).unwrap();
    assert!(bruno.contains("any cardiology doctor") && bruno.contains("until Fri 4 Dec") && bruno.contains("waiting"));
    assert!(bruno.contains("Mornings only"), "the note, where it fits: {bruno}");
    let chiara = s.lines().find(|l| l.contains("Chiara Rossi") && !l.contains(" · ")).unwrap();
    assert!(chiara.contains("James Wilson") && chiara.contains("Tue 1 Dec – Fri 11 Dec"), "{chiara}");
    let bar = s.lines().last().unwrap();
    assert!(bar.contains("a accept offer") && bar.contains("d decline offer") && bar.contains("Esc close"), "{bar}");
    assert!(!bar.contains("remove"), "x is for entries: {bar}");
    snapshots("front_desk_waitlist", &app);
}

#[test]
fn the_front_desk_accepts_an_offer_for_the_patient_and_the_board_follows() {
    let mut app = front_desk_waitlist();
    press(&mut app, ch('a'));
    assert_eq!(tasks(&mut app), ["accepting the offer"]);
    press(&mut app, ch('a'));
    assert!(tasks(&mut app).is_empty(), "one answer at a time");
    let booked = appt(670, &house(), "Alice Moreau", "2026-11-30T09:00:00Z", AppointmentStatus::Scheduled);
    net(&mut app, WaitlistMsg::Accepted(Ok(booked)));
    let s = screen(&app);
    assert!(s.contains("Booked: Alice Moreau with Gregory House on Mon 30 Nov 09:00 from the waitlist."), "{s}");
    let mut queued = tasks(&mut app);
    queued.sort();
    assert_eq!(queued, ["loading the board", "loading the waitlist"]);
    assert!(s.contains("Offers (1)"), "the panel stays open until Esc: {s}");
}

#[test]
fn a_late_answer_says_why_and_the_panel_reloads() {
    let mut app = front_desk_waitlist();
    press(&mut app, ch('d'));
    assert_eq!(tasks(&mut app), ["declining the offer"]);
    net_err(&mut app, 409, WaitlistMsg::Declined(Err(problem(409, "this offer has expired"))));
    assert!(screen(&app).contains("Not declined: conflict: this offer has expired"));
    let mut queued = tasks(&mut app);
    queued.sort();
    assert_eq!(queued, ["loading the board", "loading the waitlist"]);
    let (_, entries) = waitlist_rows();
    let declined = offer(600, "Alice Moreau", &house(), "2026-11-30T09:00:00Z", "2026-11-27T08:14:00Z");
    net(&mut app, WaitlistMsg::Declined(Ok(declined)));
    assert!(screen(&app).contains("Declined for Alice Moreau: the time goes to the next patient."));
    net(&mut app, WaitlistMsg::Loaded(Ok((vec![], entries))));
    assert!(screen(&app).contains("No open offers."));
}

#[test]
fn the_front_desk_removes_an_entry_after_asking() {
    let mut app = front_desk_waitlist();
    press(&mut app, ch('j'));
    press(&mut app, ch('j'));
    press(&mut app, ch('x'));
    let s = screen(&app);
    assert!(s.contains("Take Bruno Keller off the waitlist for any cardiology doctor?"), "{s}");
    press(&mut app, key(KeyCode::Esc));
    assert!(!screen(&app).contains("Take Bruno Keller off"));
    assert!(tasks(&mut app).is_empty());
    press(&mut app, ch('x'));
    press(&mut app, key(KeyCode::Enter));
    assert_eq!(tasks(&mut app), ["taking the patient off the waitlist"]);
    net(&mut app, WaitlistMsg::Left("Bruno Keller".into(), Ok(())));
    assert!(screen(&app).contains("Bruno Keller left the waitlist."));
    // Closed, the board is back.
    press(&mut app, key(KeyCode::Esc));
    assert!(!screen(&app).contains("Offers ("));
}

#[test]
fn an_expired_offer_leaves_the_panel_at_its_time() {
    let mut app = front_desk_waitlist();
    app.update(Action::Tick(ts("2026-11-27T08:14:00Z")));
    let s = screen(&app);
    assert!(s.contains("Offers (0)") && s.contains("No open offers."), "{s}");
}

#[test]
fn a_doctor_is_not_offered_the_chart_of_a_held_time() {
    let mut app = doctor_app();
    let appts = vec![appt(5, &house(), "Dmitri Volkov", "2026-11-27T10:30:00Z", AppointmentStatus::Held)];
    net(&mut app, doctor::Msg::Calendar(jiff::civil::date(2026, 11, 27), false, Ok(changed(appts))));
    let s = screen(&app);
    assert!(s.contains("Dmitri Volkov") && s.contains("offer held"), "{s}");
    let bar = s.lines().last().unwrap();
    assert!(!bar.contains("open patient") && !bar.contains("follow-up") && !bar.contains("no-show"), "{bar}");
}

/// Alice has a time held for her (today 11:00 with House, 25 minutes left
/// to answer) and two waitlist entries.
fn patient_with_offer() -> App {
    let mut app = patient_with_records();
    let mut items = vec![
        appt(1, &house(), "Alice Moreau", "2026-11-27T09:00:00Z", AppointmentStatus::Scheduled),
        appt(2, &house(), "Alice Moreau", "2026-11-30T10:00:00Z", AppointmentStatus::Scheduled),
    ];
    items.push(appt(670, &house(), "Alice Moreau", "2026-11-27T11:00:00Z", AppointmentStatus::Held));
    net(&mut app, patient::Msg::Appointments(Ok(Page { items, next_cursor: None })));
    let offers = vec![offer(600, "Alice Moreau", &house(), "2026-11-27T11:00:00Z", "2026-11-27T08:25:00Z")];
    let now_to_dec = ("2026-11-27T07:00:00Z", "2026-12-04T07:00:00Z");
    let mut any =
        entry(653, "Alice Moreau", None, ("2026-11-27T07:00:00Z", "2026-12-25T07:00:00Z"), WaitlistStatus::Waiting);
    any.note = Some("mornings please".into());
    let entries = vec![entry(650, "Alice Moreau", Some(&house()), now_to_dec, WaitlistStatus::Offered), any];
    net(&mut app, patient::Msg::Waitlist(Ok((offers, entries))));
    app
}

#[test]
fn a_patient_sees_the_time_held_for_them_at_the_top_and_accepts_it() {
    let mut app = patient_with_offer();
    let s = screen(&app);
    assert!(s.contains("An earlier time is free"), "{s}");
    assert!(s.contains("Fri 27 Nov 11:00 with Gregory House — held for you until 08:25 (25 min left)."), "{s}");
    assert!(s.contains("Fri 27 Nov 11:00  Gregory House       offer held"), "the held time in the list: {s}");
    let bar = s.lines().last().unwrap();
    assert!(bar.starts_with("a accept  d decline"), "{bar}");
    snapshots("patient_offer", &app);

    press(&mut app, ch('a'));
    assert_eq!(tasks(&mut app), ["accepting the offer"]);
    assert!(screen(&app).contains("Sending your answer…"));
    press(&mut app, ch('a'));
    assert!(tasks(&mut app).is_empty(), "one answer at a time");
    let booked = appt(670, &house(), "Alice Moreau", "2026-11-27T11:00:00Z", AppointmentStatus::Scheduled);
    net(&mut app, patient::Msg::Accepted(Ok(booked.clone())));
    assert!(screen(&app).contains("Booked: Fri 27 Nov 11:00 with Gregory House, from the waitlist."));
    let mut queued = tasks(&mut app);
    queued.sort();
    assert_eq!(queued, ["loading my appointments", "loading my waitlist"]);
    net(&mut app, patient::Msg::Waitlist(Ok((vec![], vec![]))));
    let items = vec![booked];
    net(&mut app, patient::Msg::Appointments(Ok(Page { items, next_cursor: None })));
    let s = screen(&app);
    assert!(!s.contains("An earlier time is free"), "{s}");
    assert!(s.contains("Fri 27 Nov 11:00  Gregory House       booked"), "{s}");
}

#[test]
fn a_second_offer_is_named_and_waits_its_turn() {
    let mut app = patient_with_offer();
    let offers = vec![
        offer(600, "Alice Moreau", &house(), "2026-11-27T11:00:00Z", "2026-11-27T08:25:00Z"),
        offer(601, "Alice Moreau", &wilson(), "2026-11-28T09:00:00Z", "2026-11-27T08:40:00Z"),
    ];
    net(&mut app, patient::Msg::Waitlist(Ok((offers, vec![]))));
    let s = screen(&app);
    assert!(s.contains("Fri 27 Nov 11:00 with Gregory House"), "the one to expire first: {s}");
    assert!(s.contains("Also held for you: Sat 28 Nov 09:00 with James Wilson; answer this one first."), "{s}");
    // Once the first has run out, the second is the one to answer.
    app.update(Action::Tick(ts("2026-11-27T08:25:00Z")));
    let s = screen(&app);
    assert!(s.contains("Sat 28 Nov 09:00 with James Wilson — held for you until 08:40 (15 min left)."), "{s}");
    assert!(!s.contains("Also held for you"), "{s}");
}

#[test]
fn a_patient_declines_and_hears_where_the_time_goes() {
    let mut app = patient_with_offer();
    press(&mut app, ch('d'));
    assert_eq!(tasks(&mut app), ["declining the offer"]);
    net_err(&mut app, 409, patient::Msg::Declined(Err(problem(409, "this offer has expired"))));
    assert!(screen(&app).contains("Not declined: conflict: this offer has expired"));
    let declined = offer(600, "Alice Moreau", &house(), "2026-11-27T11:00:00Z", "2026-11-27T08:25:00Z");
    net(&mut app, patient::Msg::Declined(Ok(declined)));
    assert!(screen(&app).contains("Declined: the time goes to the next patient. You stay on the waitlist."));
}

#[test]
fn a_patient_lists_their_waitlist_and_leaves_it_after_asking() {
    let mut app = patient_with_offer();
    press(&mut app, key(KeyCode::Tab));
    press(&mut app, key(KeyCode::Tab));
    let s = screen(&app);
    assert!(s.contains("Gregory House           until Fri 4 Dec         offered"), "{s}");
    assert!(s.contains("any cardiology doctor   until Fri 25 Dec        waiting  mornings please"), "{s}");
    let wide = text_of(&draw_at(&app, 100, 30));
    assert!(wide.lines().last().unwrap().contains("x leave waitlist"), "{wide}");
    press(&mut app, ch('x'));
    assert!(screen(&app).contains("Leave the waitlist for Gregory House?"));
    press(&mut app, key(KeyCode::Enter));
    assert_eq!(tasks(&mut app), ["leaving the waitlist"]);
    net(&mut app, patient::Msg::Left("Gregory House".into(), Ok(())));
    assert!(screen(&app).contains("You left the waitlist for Gregory House."));
    let mut queued = tasks(&mut app);
    queued.sort();
    assert_eq!(queued, ["loading my appointments", "loading my waitlist"]);
}

#[test]
fn a_patient_joins_the_waitlist_for_any_doctor_of_a_department() {
    let mut app = patient_with_records();
    press(&mut app, ch('w'));
    let s = screen(&app);
    assert!(s.contains("Join the waitlist") && s.contains("James Wilson") && s.contains("Any doctor"), "{s}");
    assert!(s.contains("◂ the next 7 days ▸  (until Fri 4 Dec)"), "{s}");
    press(&mut app, key(KeyCode::Down));
    press(&mut app, key(KeyCode::Down));
    press(&mut app, key(KeyCode::Right));
    typed(&mut app, "mornings, please");
    let s = screen(&app);
    assert!(
        s.contains("› Any doctor") && s.contains("the next 14 days") && s.contains("Note: mornings, please"),
        "{s}"
    );
    snapshots("patient_join_waitlist", &app);
    press(&mut app, key(KeyCode::Enter));
    assert_eq!(tasks(&mut app), ["joining the waitlist"]);
    net_err(&mut app, 409, patient::Msg::Joined(Err(problem(409, "the patient is already on the waitlist for this"))));
    let s = screen(&app);
    assert!(s.contains("Not on the waitlist: conflict: the patient is already on the waitlist for this"), "{s}");
    assert!(s.contains("Join the waitlist"), "the form stays to change: {s}");
    press(&mut app, key(KeyCode::Enter));
    assert_eq!(tasks(&mut app), ["joining the waitlist"]);
    let joined =
        entry(653, "Alice Moreau", None, ("2026-11-27T08:00:00Z", "2026-12-11T08:00:00Z"), WaitlistStatus::Waiting);
    net(&mut app, patient::Msg::Joined(Ok(joined)));
    let s = screen(&app);
    assert!(s.contains("You are on the waitlist for any cardiology doctor until Fri 11 Dec."), "{s}");
    assert!(!s.contains("Join the waitlist"), "{s}");
    assert_eq!(tasks(&mut app), ["loading my waitlist"]);
}

fn admin_app() -> App {
    let mut app = app();
    log_in_as(&mut app, user(30, "Ada Admin", Role::Admin, None));
    let mut queued = tasks(&mut app);
    queued.sort();
    assert_eq!(queued, ["loading the audit log", "loading users"]);
    let users =
        vec![user(30, "Ada Admin", Role::Admin, None), user(10, "Gregory House", Role::Doctor, Some("cardiology"))];
    net(&mut app, admin::Msg::Users(String::new(), Ok(Page { items: users, next_cursor: None })));
    app
}

fn audit_entry(seq: u64) -> AuditEntry {
    AuditEntry {
        seq,
        at: now(),
        actor_id: Some(id(10)),
        actor_role: Some(Role::Doctor),
        action: "record.read".into(),
        target_type: "record".into(),
        target_id: Some(id(500)),
        patient_id: Some(id(101)),
        outcome: Outcome::Success,
        client_addr: Some("127.0.0.1".into()),
        grant_id: None,
        prev_hash: "00".into(),
        hash: "ab".into(),
    }
}

#[test]
fn admin_resets_a_password_and_verifies_the_chain() {
    let mut app = admin_app();
    snapshots("admin_users", &app);
    press(&mut app, ch('j'));
    press(&mut app, ch('r'));
    assert_eq!(tasks(&mut app), ["issuing a reset token"]);
    let tok = healthsynx_shared::api::ResetToken { token: "reset-abc".into(), expires_at: ts("2026-11-27T09:00:00Z") };
    net(&mut app, admin::Msg::Reset("Gregory House".into(), Ok(tok)));
    let s = screen(&app);
    assert!(s.contains("for Gregory House") && s.contains("reset-abc"), "{s}");
    press(&mut app, key(KeyCode::Esc));

    press(&mut app, key(KeyCode::Tab));
    net(&mut app, admin::Msg::Audit(false, Ok(Page { items: vec![audit_entry(7)], next_cursor: None })));
    press(&mut app, ch('v'));
    assert_eq!(tasks(&mut app), ["verifying the audit chain"]);
    let report = healthsynx_shared::api::ChainReport { ok: false, entries: None, first_bad: Some(5) };
    net(&mut app, admin::Msg::Verified(Ok(report)));
    let s = screen(&app);
    assert!(s.contains("#7") && s.contains("record.read"), "{s}");
    assert!(s.contains("BROKEN at entry #5"), "{s}");
    snapshots("admin_audit_broken_chain", &app);
}

#[test]
fn logging_out_of_the_demo_returns_to_the_role_picker() {
    let demo = vec![DemoAccount { role: Role::Receptionist, email: "desk@demo.test".into(), password: "pw".into() }];
    let mut app = app_with(Theme { color: true }, demo);
    log_in_as(&mut app, user(1, "Frank Desk", Role::Receptionist, None));
    tasks(&mut app);
    press(&mut app, ch('L'));
    let mut queued = app.take_tasks();
    assert_eq!(queued.iter().map(|t| t.label).collect::<Vec<_>>(), ["logging out"]);
    let s = screen(&app);
    assert!(s.contains("who are you today?") && s.contains("Logged out."), "{s}");
    // Its end is counted, so the spinner stops.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let done = rt.block_on(queued.remove(0).fut);
    let busy = app.in_flight();
    app.update(done);
    assert_eq!(app.in_flight(), busy - 1);
}

#[test]
fn doctor_edits_weekly_hours_and_adds_time_off() {
    use healthsynx_shared::{Availability, AvailabilityRule, TimeOff};
    let mut app = doctor_app();
    press(&mut app, ch('a'));
    assert_eq!(tasks(&mut app), ["loading availability"]);
    let rule = |weekday, start: &str, end: &str| AvailabilityRule {
        weekday,
        start: start.parse().unwrap(),
        end: end.parse().unwrap(),
        slot_minutes: 30,
    };
    let avail = Availability {
        rules: vec![rule(1, "09:00", "12:00"), rule(1, "13:00", "17:00")],
        time_off: vec![TimeOff {
            id: id(900),
            start: ts("2026-12-24T00:00:00Z"),
            end: ts("2026-12-27T00:00:00Z"),
            reason: "Holidays".into(),
        }],
    };
    net(&mut app, doctor::AvailMsg::Loaded(Ok(avail)));
    let s = screen(&app);
    assert!(s.contains("Mon 09:00-12:00 30") && s.contains("Thu 24 Dec 00:00 → Sun 27 Dec 00:00  Holidays"), "{s}");
    snapshots("doctor_availability", &app);

    // A line that does not parse is named before anything is sent.
    typed(&mut app, "Someday ");
    press(&mut app, ctrl('s'));
    assert!(tasks(&mut app).is_empty());
    assert!(screen(&app).contains("Line 1 should read like: Mon 09:00-12:00 30"));
    for _ in 0.."Someday ".len() {
        press(&mut app, key(KeyCode::Backspace));
    }
    press(&mut app, ctrl('s'));
    assert_eq!(tasks(&mut app), ["saving availability"]);

    press(&mut app, key(KeyCode::Tab));
    press(&mut app, ch('a'));
    typed(&mut app, "2026-12-31 13:00");
    press(&mut app, key(KeyCode::Tab));
    typed(&mut app, "2027-01-02");
    press(&mut app, key(KeyCode::Enter));
    assert_eq!(tasks(&mut app), ["adding time off"]);
}

#[test]
fn patient_reads_their_records() {
    let mut app = patient_app();
    net(
        &mut app,
        patient::Msg::Records(Ok(Page { items: vec![record(1, "Essential hypertension")], next_cursor: None })),
    );
    for _ in 0..3 {
        press(&mut app, key(KeyCode::Tab));
    }
    press(&mut app, key(KeyCode::Enter));
    let s = screen(&app);
    assert!(s.contains("Diagnosis: Essential hypertension") && s.contains("Ramipril; 5 mg; once daily; 90"), "{s}");
    assert!(!s.contains("e edit"), "patients only read: {s}");
    snapshots("patient_record", &app);
}

#[test]
fn help_fits_a_small_terminal_in_two_columns() {
    let mut app = doctor_app();
    open_chart(&mut app);
    press(&mut app, ch('?'));
    let s = text_of(&draw_at(&app, 80, 24));
    for k in ["read record", "edit record", "retract record", "log out", "quit now"] {
        assert!(s.contains(k), "help lacks {k}: {s}");
    }
}

#[test]
fn doctor_books_a_follow_up_for_the_selected_patient() {
    let mut app = doctor_app();
    press(&mut app, ch('j')); // Bruno
    press(&mut app, ch('f'));
    assert_eq!(tasks(&mut app), ["loading free slots"]);
    let slots = vec![slot("2026-12-04T09:00:00Z")];
    net(&mut app, BookingMsg::Slots(id(10), Ok(slots)));
    press(&mut app, key(KeyCode::Enter));
    let s = screen(&app);
    assert!(s.contains("Patient: Bruno Keller") && s.contains("Reason: Follow-up: Annual check-up"), "{s}");
    press(&mut app, key(KeyCode::Enter));
    assert_eq!(tasks(&mut app), ["booking"]);
    let a = appt(7, &house(), "Bruno Keller", "2026-12-04T09:00:00Z", AppointmentStatus::Scheduled);
    net(&mut app, BookingMsg::Done(Ok(a)));
    assert!(screen(&app).contains("Follow-up booked: Bruno Keller on Fri 4 Dec 09:00."));
}

#[test]
fn chart_lists_every_saved_version_of_a_record() {
    use healthsynx_shared::RecordVersion;
    let mut app = doctor_app();
    open_chart(&mut app);
    press(&mut app, ch('v'));
    assert_eq!(tasks(&mut app), ["loading versions"]);
    let versions = vec![
        RecordVersion {
            version: 1,
            changed_by: id(10),
            changed_at: now(),
            changed_fields: vec![],
            record: record(1, "x"),
        },
        RecordVersion {
            version: 2,
            changed_by: id(10),
            changed_at: ts("2026-11-27T08:30:00Z"),
            changed_fields: vec!["diagnosis".into(), "notes".into()],
            record: record(2, "y"),
        },
    ];
    net(&mut app, ChartMsg::History(Ok(versions)));
    let s = screen(&app);
    assert!(s.contains("v1   2026-11-27 08:00  by you       created"), "{s}");
    assert!(s.contains("v2   2026-11-27 08:30  by you       diagnosis, notes"), "{s}");
    press(&mut app, key(KeyCode::Esc));
    assert!(!screen(&app).contains("Every saved version"));
}

// ---- key tables: what the bar shows is what the keys do ----

/// Every key a walk tries: printable ASCII and the named keys.
fn every_key() -> Vec<KeyEvent> {
    let named = [
        KeyCode::Up,
        KeyCode::Down,
        KeyCode::Left,
        KeyCode::Right,
        KeyCode::Tab,
        KeyCode::BackTab,
        KeyCode::Enter,
        KeyCode::Esc,
        KeyCode::PageUp,
        KeyCode::PageDown,
        KeyCode::Home,
        KeyCode::End,
        KeyCode::Backspace,
        KeyCode::Delete,
    ];
    let f_keys = (1..=12).map(KeyCode::F);
    (' '..='~').map(KeyCode::Char).chain(named).chain(f_keys).map(key).collect()
}

fn is_global(k: &KeyEvent) -> bool {
    [keys::HELP, keys::SECURITY, keys::LOG_OUT, keys::QUIT, keys::QUIT_NOW]
        .iter()
        .any(|c| c.keys.iter().any(|p| p.matches(k)))
}

/// What a key can change: everything drawn (styles too), quitting, and the tasks it queues.
fn after(app: &mut App, k: Option<KeyEvent>) -> (Buffer, bool, Vec<&'static str>) {
    tasks(app);
    if let Some(k) = k {
        press(app, k);
    }
    let buffer = draw_at(app, 120, 40).backend().buffer().clone();
    (buffer, app.quit, tasks(app))
}

/// Walks the key table of the state `make` builds: every command the
/// screen lists names the Enter/Esc/Tab it answers and does something (one
/// of its keys changes what is drawn or queues a task), and, unless a text
/// field has the keyboard, every other key that is not global does nothing.
fn walk(name: &str, make: impl Fn() -> App) {
    let app = make();
    let listed = app.screen.commands();
    assert!(!listed.is_empty(), "{name}: no keys listed");
    let before = after(&mut make(), None);
    for c in listed.iter().filter(|c| !c.keys.is_empty()) {
        for (code, word) in [(KeyCode::Enter, "Enter"), (KeyCode::Esc, "Esc"), (KeyCode::Tab, "Tab")] {
            let bound = c.keys.iter().any(|p| p.code == code);
            assert!(
                !bound || c.key.contains(word),
                "{name}: `{} {}` answers {word} but does not say so",
                c.key,
                c.what
            );
        }
        let acts = c.keys.iter().any(|p| after(&mut make(), Some(p.event())) != before);
        assert!(acts, "{name}: `{} {}` is listed but none of its keys does anything", c.key, c.what);
    }
    if app.screen.typing() {
        return;
    }
    for k in every_key() {
        if is_global(&k) || listed.iter().any(|c| c.keys.iter().any(|p| p.matches(&k))) {
            continue;
        }
        let now = after(&mut make(), Some(k));
        assert!(now == before, "{name}: {:?} is not listed but acts (queued {:?})", k.code, now.2);
    }
}

/// `make`, then `keys` pressed.
fn then(make: impl Fn() -> App, keys: &[KeyEvent]) -> impl Fn() -> App {
    let keys = keys.to_vec();
    move || {
        let mut app = make();
        for k in &keys {
            press(&mut app, *k);
        }
        app
    }
}

fn demo_login() -> App {
    let demo = vec![
        DemoAccount { role: Role::Admin, email: "admin@demo.test".into(), password: "pw-admin-long".into() },
        DemoAccount { role: Role::Receptionist, email: "desk@demo.test".into(), password: "pw-desk-long".into() },
    ];
    app_with(Theme { color: true }, demo)
}

#[test]
fn login_keys_are_the_listed_keys() {
    walk("role picker", demo_login);
    walk("login form", then(demo_login, &[key(KeyCode::End), key(KeyCode::Enter)]));
    walk("login form without demo", app);
}

/// `make` (the find pop-up), with the search for `q` answered.
fn with_patients(make: impl Fn() -> App, q: &str) -> impl Fn() -> App {
    let q = q.to_owned();
    move || {
        let mut app = make();
        let items = vec![patient_profile(101, "Alice Moreau"), patient_profile(104, "Dmitri Volkov")];
        booking_msg_search(&mut app, &q, items);
        app
    }
}

fn registered(mut app: App) -> App {
    let created = PatientCreated { patient: patient_profile(120, "Erin Hale"), activation_token: None };
    net(&mut app, front_desk::Msg::Registered(Ok(created)));
    app
}

fn booking_at_slot_step() -> App {
    let mut app = then(front_desk, &[ch('b'), key(KeyCode::Enter)])();
    let slots = vec![slot("2026-11-27T09:30:00Z"), slot("2026-11-30T09:00:00Z")];
    booking_msg(&mut app, BookingMsg::Slots(id(10), Ok(slots)));
    app
}

fn booking_at_patient_step() -> App {
    let mut app = then(booking_at_slot_step, &[key(KeyCode::Enter)])();
    let items = vec![patient_profile(101, "Alice Moreau"), patient_profile(104, "Dmitri Volkov")];
    booking_msg(&mut app, BookingMsg::Patients(String::new(), Ok(Page { items, next_cursor: None })));
    app
}

#[test]
fn front_desk_keys_are_the_listed_keys() {
    walk("board, checked-in cell", front_desk);
    walk("board, free cell", then(front_desk, &[ch('j')]));
    walk("board, booked cell", then(front_desk, &[ch('j'), ch('j')]));
    walk("details, checked in", then(front_desk, &[key(KeyCode::Enter)]));
    walk("details, booked", then(front_desk, &[ch('j'), ch('j'), key(KeyCode::Enter)]));
    walk("cancel", then(front_desk, &[ch('j'), ch('j'), ch('x')]));
    let find = || with_patients(then(front_desk, &[ch('/')]), "")();
    walk("find", find);
    walk("patient card", then(find, &[key(KeyCode::Enter)]));
    walk("register", then(front_desk, &[ch('N')]));
    walk("registered", || registered(then(front_desk, &[ch('N')])()));
    walk("booking, doctor", then(front_desk, &[ch('b')]));
    walk("booking, slot", booking_at_slot_step);
    walk("booking, patient", booking_at_patient_step);
    walk("booking, reason", then(booking_at_patient_step, &[key(KeyCode::Enter)]));
    walk("board, held cell", front_desk_with_held);
    walk("details, held", then(front_desk_with_held, &[key(KeyCode::Enter)]));
    walk("waitlist, loading", then(front_desk, &[ch('w')]));
    walk("waitlist, offer", front_desk_waitlist);
    walk("waitlist, entry", then(front_desk_waitlist, &[ch('j')]));
    walk("waitlist, remove?", then(front_desk_waitlist, &[ch('j'), ch('j'), ch('x')]));
    walk("board, completed cell", front_desk_with_completed);
    walk("details, completed", then(front_desk_with_completed, &[key(KeyCode::Enter)]));
    walk("billing, loading", then(front_desk, &[ch('B')]));
    walk("billing", front_desk_billing);
    walk("billing, nothing open", || {
        let mut app = then(front_desk, &[ch('B')])();
        let mut empty = billing();
        empty.drafts.clear();
        empty.outstanding.invoices.clear();
        net(&mut app, BillingMsg::Loaded(Ok(empty)));
        app
    });
    walk("invoice, loading", then(front_desk_billing, &[ch('j'), key(KeyCode::Enter)]));
    walk("invoice, part-paid", front_desk_invoice);
    walk("invoice, paid in full", || {
        let mut app = then(front_desk_billing, &[ch('j'), ch('j'), key(KeyCode::Enter)])();
        let mut paid = alice_invoice();
        paid.payments[0].amount = paid.total;
        (paid.paid, paid.balance, paid.status) = (paid.total, 0, InvoiceStatus::Paid);
        net(&mut app, InvoiceMsg::Loaded(id(700), Ok(paid)));
        app
    });
    walk("invoice, draft", then(front_desk_billing, &[key(KeyCode::Enter)]));
    walk("invoice, issue?", then(front_desk_billing, &[key(KeyCode::Enter), ch('i')]));
    walk("invoice, payment", front_desk_payment);
    walk("invoice, void", then(front_desk_invoice, &[ch('v')]));
    walk("invoice, refund?", then(front_desk_invoice, &[ch('r')]));
    walk("invoice, refunding", then(front_desk_invoice, &[ch('r'), ch('y')]));
    walk("invoice, part-refunded", front_desk_part_refunded);
    walk("invoice, refund row", then(front_desk_part_refunded, &[ch('j')]));
    walk("invoice, a new draft", front_desk_drafted);
}

fn chart_app() -> App {
    let mut app = doctor_app();
    open_chart(&mut app);
    app
}

fn availability_app() -> App {
    use healthsynx_shared::{Availability, AvailabilityRule, TimeOff};
    let mut app = then(doctor_app, &[ch('a')])();
    let rule = AvailabilityRule {
        weekday: 1,
        start: "09:00".parse().unwrap(),
        end: "12:00".parse().unwrap(),
        slot_minutes: 30,
    };
    let off = |n, day: &str| TimeOff {
        id: id(n),
        start: ts(day),
        end: ts(day) + jiff::SignedDuration::from_hours(24),
        reason: "Off".into(),
    };
    let avail = Availability {
        rules: vec![rule],
        time_off: vec![off(900, "2026-12-24T00:00:00Z"), off(901, "2026-12-31T00:00:00Z")],
    };
    net(&mut app, doctor::AvailMsg::Loaded(Ok(avail)));
    app
}

fn week_app() -> App {
    let mut app = then(doctor_app, &[ch('w')])();
    let appts = vec![
        appt(1, &house(), "Alice Moreau", "2026-11-27T09:00:00Z", AppointmentStatus::CheckedIn),
        appt(4, &house(), "Dmitri Volkov", "2026-11-23T10:00:00Z", AppointmentStatus::Scheduled),
    ];
    net(&mut app, doctor::Msg::Calendar(jiff::civil::date(2026, 11, 27), true, Ok(changed(appts))));
    app
}

#[test]
fn doctor_keys_are_the_listed_keys() {
    walk("day, checked in", doctor_app);
    walk("day, booked", then(doctor_app, &[ch('j')]));
    walk("week", week_app);
    walk("chart", chart_app);
    walk("chart, a record read", then(chart_app, &[key(KeyCode::Enter)]));
    walk("chart, retract?", then(chart_app, &[ch('D')]));
    walk("chart, versions", then(chart_app, &[ch('v')]));
    walk("editor", then(chart_app, &[ch('e')]));
    walk("weekly hours", availability_app);
    walk("time off", then(availability_app, &[key(KeyCode::Tab)]));
    walk("time off form", then(availability_app, &[key(KeyCode::Tab), ch('a')]));
    walk("follow-up", then(doctor_app, &[ch('f')]));
    walk("emergency request", then(doctor_app, &[ch('E')]));
    walk("emergency matches", || {
        let mut app = doctor_app();
        emergency_found(&mut app);
        app
    });
    walk("emergency reason", || {
        let mut app = doctor_app();
        emergency_found(&mut app);
        press(&mut app, key(KeyCode::Enter));
        app
    });
    walk("emergency chart", doctor_emergency_chart);
}

#[test]
fn nurse_keys_are_the_listed_keys() {
    walk("day", nurse_app);
    walk("day, checked in", then(nurse_app, &[ch('j')]));
    walk("filter", then(nurse_app, &[ch('/')]));
    walk("emergency request", then(nurse_app, &[ch('E')]));
    walk("emergency matches", || {
        let mut app = nurse_app();
        emergency_found(&mut app);
        app
    });
    walk("emergency chart", nurse_emergency_chart);
    walk("chart", || {
        let mut app = then(nurse_app, &[key(KeyCode::Enter)])();
        net(&mut app, ChartMsg::Records(Ok(Page { items: vec![record(1, "x"), record(2, "y")], next_cursor: None })));
        app
    });
}

fn patient_with_records() -> App {
    let mut app = patient_app();
    let items = vec![record(1, "Essential hypertension"), record(2, "Follow-up")];
    net(&mut app, patient::Msg::Records(Ok(Page { items, next_cursor: None })));
    net(&mut app, patient::Msg::Doctors(Ok(vec![house(), wilson()])));
    app
}

#[test]
fn patient_keys_are_the_listed_keys() {
    let tab = key(KeyCode::Tab);
    walk("upcoming, too late to cancel", patient_with_records);
    walk("upcoming, cancellable", then(patient_with_records, &[ch('j')]));
    walk("cancel", then(patient_with_records, &[ch('j'), ch('x')]));
    walk("past", then(patient_with_records, &[tab]));
    walk("waitlist, empty", then(patient_with_records, &[tab, tab]));
    walk("records", then(patient_with_records, &[tab, tab, tab]));
    walk("a record", then(patient_with_records, &[tab, tab, tab, key(KeyCode::Enter)]));
    walk("access log", then(patient_with_records, &[tab, tab, tab, tab]));
    walk("booking", then(patient_with_records, &[ch('b')]));
    walk("offer", patient_with_offer);
    walk("waitlist", then(patient_with_offer, &[tab, tab]));
    walk("leave waitlist?", then(patient_with_offer, &[tab, tab, ch('x')]));
    walk("join waitlist", then(patient_with_offer, &[ch('w')]));
    walk("bills", patient_bills);
    walk("bills, none", || {
        let mut app = then(patient_with_records, &[tab, tab, tab, tab, tab])();
        net(&mut app, patient::Msg::Bills(Ok(Page { items: vec![], next_cursor: None })));
        app
    });
    walk("a bill", then(patient_bills, &[key(KeyCode::Enter)]));
}

fn admin_with_audit() -> App {
    let mut app = admin_app();
    let page = Page { items: vec![audit_entry(7), audit_entry(8)], next_cursor: Some("c".into()) };
    net(&mut app, admin::Msg::Audit(false, Ok(page)));
    app
}

#[test]
fn admin_keys_are_the_listed_keys() {
    let tab = key(KeyCode::Tab);
    walk("users", admin_with_audit);
    walk("search", then(admin_with_audit, &[ch('/')]));
    walk("new user", then(admin_with_audit, &[ch('a')]));
    walk("reset token", || {
        let mut app = admin_with_audit();
        let tok = healthsynx_shared::api::ResetToken { token: "t".into(), expires_at: now() };
        net(&mut app, admin::Msg::Reset("Gregory House".into(), Ok(tok)));
        app
    });
    walk("audit", then(admin_with_audit, &[tab]));
    walk("audit entry", then(admin_with_audit, &[tab, key(KeyCode::Enter)]));
    walk("audit filter", then(admin_with_audit, &[tab, ch('/')]));
    walk("chain report", || {
        let mut app = then(admin_with_audit, &[tab])();
        let report = healthsynx_shared::api::ChainReport { ok: true, entries: Some(2), first_bad: None };
        net(&mut app, admin::Msg::Verified(Ok(report)));
        app
    });
    walk("break-glass queue", admin_with_grants);
    walk("break-glass review", then(admin_with_grants, &[key(KeyCode::Enter)]));
    walk("break-glass queue, empty", || {
        let mut app = then(admin_with_audit, &[tab, tab])();
        net(&mut app, admin::Msg::Grants(Ok(Page { items: vec![], next_cursor: None })));
        app
    });
    walk("webhooks, loading", then(admin_with_audit, &[tab, tab, tab]));
    walk("webhooks, none", || {
        let mut app = then(admin_with_audit, &[tab, tab, tab])();
        net(&mut app, WebhooksMsg::Loaded(Ok(vec![])));
        app
    });
    walk("webhooks, active", admin_webhooks);
    walk("webhooks, disabled", then(admin_webhooks, &[ch('j')]));
    walk("webhooks, add", then(admin_webhooks, &[ch('a')]));
    walk("webhooks, delete?", then(admin_webhooks, &[ch('x')]));
    walk("webhooks, secret", admin_webhook_secret);
    walk("deliveries, loading", then(admin_webhooks, &[key(KeyCode::Enter)]));
    walk("deliveries, dead", admin_webhook_deliveries);
    walk("deliveries, delivered", then(admin_webhook_deliveries, &[ch('j')]));
    walk("deliveries, none dead", || {
        let mut app = then(admin_webhook_deliveries, &[ch('f'), ch('f')])();
        let filter = Some(DeliveryStatus::Dead);
        let page = Ok(Page { items: vec![], next_cursor: None });
        net(&mut app, WebhooksMsg::Deliveries { webhook: id(801), filter, more: false, page });
        app
    });
}

/// A screen that breaks the rule on purpose: `x` and `z` count presses,
/// `y` does nothing. `Hidden` lists only `x`; `Dead` lists all three.
enum Broken {
    Hidden(u32),
    Dead(u32),
}

impl Broken {
    fn count(&mut self) -> &mut u32 {
        match self {
            Broken::Hidden(n) | Broken::Dead(n) => n,
        }
    }
}

const X: keys::Cmd = keys::Cmd { key: "x", what: "count", keys: &[keys::char('x')] };
const Y: keys::Cmd = keys::Cmd { key: "y", what: "nothing", keys: &[keys::char('y')] };
const Z: keys::Cmd = keys::Cmd { key: "z", what: "count", keys: &[keys::char('z')] };

impl healthsynx_tui::screens::Screen for Broken {
    fn title(&self) -> &'static str {
        "Broken"
    }
    fn commands(&self) -> Vec<keys::Cmd> {
        match self {
            Broken::Hidden(_) => vec![X],
            Broken::Dead(_) => vec![X, Y, Z],
        }
    }
    fn typing(&self) -> bool {
        false
    }
    fn on_key(&mut self, k: KeyEvent, _: &mut healthsynx_tui::app::Ctx) -> healthsynx_tui::app::Handled {
        if keys::is_char(&k, 'x') || keys::is_char(&k, 'z') {
            *self.count() += 1;
            return healthsynx_tui::app::Handled::Consumed;
        }
        healthsynx_tui::app::Handled::Ignored
    }
    fn on_msg(&mut self, _: Msg, _: &mut healthsynx_tui::app::Ctx) {}
    fn draw(&self, f: &mut ratatui::Frame, area: ratatui::layout::Rect, _: &healthsynx_tui::app::View) {
        let (Broken::Hidden(n) | Broken::Dead(n)) = self;
        f.render_widget(ratatui::widgets::Paragraph::new(format!("pressed {n}")), area);
    }
}

fn walk_fails(broken: fn() -> Broken) -> String {
    let make = move || {
        let mut app = app();
        app.screen = Box::new(broken());
        app
    };
    let err = std::panic::catch_unwind(|| walk("broken", make)).expect_err("the walk passed a broken screen");
    err.downcast::<String>().map(|s| *s).unwrap_or_default()
}

#[test]
fn a_walk_catches_a_hidden_key_and_a_listed_key_that_does_nothing() {
    let hidden = walk_fails(|| Broken::Hidden(0));
    assert!(hidden.contains("Char('z') is not listed but acts"), "{hidden}");
    let dead = walk_fails(|| Broken::Dead(0));
    assert!(dead.contains("`y nothing` is listed but none of its keys does anything"), "{dead}");
}

#[test]
fn the_auto_refresh_asks_conditionally_and_a_304_keeps_the_board_and_selection() {
    let mut app = front_desk();
    press(&mut app, ch('j'));
    press(&mut app, ch('j')); // Bruno
    let shown = screen(&app);
    app.update(Action::Tick(now() + jiff::SignedDuration::from_secs(29)));
    assert!(tasks(&mut app).is_empty(), "not yet due");
    app.update(Action::Tick(now() + jiff::SignedDuration::from_secs(31)));
    assert_eq!(tasks(&mut app), ["loading the board"]);
    let unchanged = |d: Doctor| front_desk::ColumnUpdate { doctor: d, appts: Fresh::Unchanged, free: Fresh::Unchanged };
    let day = jiff::civil::date(2026, 11, 27);
    net(&mut app, front_desk::Msg::Board(day, "cardiology".into(), Ok(vec![unchanged(house()), unchanged(wilson())])));
    assert_eq!(screen(&app), shown, "a 304 changes nothing on screen");
    assert!(screen(&app).lines().last().unwrap().contains("c check in"), "Bruno is still selected");

    // One column changed: only it is replaced.
    app.update(Action::Tick(now() + jiff::SignedDuration::from_secs(62)));
    assert_eq!(tasks(&mut app), ["loading the board"]);
    let mut bruno = appt(2, &house(), "Bruno Keller", "2026-11-27T10:00:00Z", AppointmentStatus::CheckedIn);
    bruno.version = 2;
    let alice = appt(1, &house(), "Alice Moreau", "2026-11-27T09:00:00Z", AppointmentStatus::CheckedIn);
    let house_col = front_desk::ColumnUpdate {
        doctor: house(),
        appts: Fresh::Changed { value: vec![alice, bruno], etag: Some("\"2\"".into()) },
        free: Fresh::Unchanged,
    };
    net(&mut app, front_desk::Msg::Board(day, "cardiology".into(), Ok(vec![house_col, unchanged(wilson())])));
    let s = screen(&app);
    assert!(s.contains("10:00 Bruno Keller · checked in") && s.contains("Chiara Rossi · no-show"), "{s}");
}

#[test]
fn the_doctor_and_nurse_keep_their_lists_on_a_304() {
    let mut app = doctor_app();
    press(&mut app, ch('j'));
    let shown = screen(&app);
    app.update(Action::Tick(now() + jiff::SignedDuration::from_secs(30)));
    assert_eq!(tasks(&mut app), ["loading my calendar"]);
    net(&mut app, doctor::Msg::Calendar(jiff::civil::date(2026, 11, 27), false, Ok(Fresh::Unchanged)));
    assert_eq!(screen(&app), shown);

    let mut app = nurse_app();
    press(&mut app, ch('j'));
    let shown = screen(&app);
    app.update(Action::Tick(now() + jiff::SignedDuration::from_secs(30)));
    assert_eq!(tasks(&mut app), ["loading the day"]);
    net(&mut app, nurse::Msg::Day(jiff::civil::date(2026, 11, 27), Ok(Fresh::Unchanged)));
    assert_eq!(screen(&app), shown);
}

// ---- break-glass ----

const OUTSIDE: u128 = 777;
const REASON: &str = "Collapsed in the corridor, needs allergy history";

fn emergency_granted(app: &mut App) {
    let grant = healthsynx_shared::api::BreakGlassGranted {
        grant_id: id(900),
        expires_at: now() + jiff::SignedDuration::from_mins(52),
    };
    net(app, EmergencyMsg::Granted(id(OUTSIDE), Ok(grant)));
}

fn outside_match(n: u128, name: &str) -> healthsynx_shared::api::EmergencyMatch {
    healthsynx_shared::api::EmergencyMatch {
        patient_id: id(n),
        full_name: name.into(),
        date_of_birth: jiff::civil::date(1971, 3, 2),
    }
}

/// `E`, "zoe" searched, and two patients found.
fn emergency_found(app: &mut App) {
    press(app, ch('E'));
    typed(app, "zoe");
    press(app, key(KeyCode::Enter));
    assert_eq!(tasks(app), ["searching the clinic's patients"]);
    let found = vec![outside_match(OUTSIDE, "Zoe Outside"), outside_match(778, "Zoey Other")];
    net(app, EmergencyMsg::Found("zoe".into(), Ok(found)));
}

/// The first patient found picked, a reason typed, sent.
fn ask_emergency(app: &mut App) {
    emergency_found(app);
    press(app, key(KeyCode::Enter));
    typed(app, REASON);
    press(app, key(KeyCode::Enter));
}

fn nurse_emergency_chart() -> App {
    let mut app = nurse_app();
    ask_emergency(&mut app);
    tasks(&mut app);
    emergency_granted(&mut app);
    net(&mut app, ChartMsg::Patient(Ok(patient_profile(OUTSIDE, "Zoe Outside"))));
    net(&mut app, ChartMsg::Records(Ok(Page { items: vec![record(1, "Penicillin allergy")], next_cursor: None })));
    let a = appt(9, &wilson(), "Zoe Outside", "2026-11-20T10:00:00Z", AppointmentStatus::Completed);
    net(&mut app, ChartMsg::Appointments(Ok(Page { items: vec![a], next_cursor: None })));
    app
}

fn doctor_emergency_chart() -> App {
    let mut app = doctor_app();
    ask_emergency(&mut app);
    tasks(&mut app);
    emergency_granted(&mut app);
    net(&mut app, ChartMsg::Patient(Ok(patient_profile(OUTSIDE, "Zoe Outside"))));
    net(&mut app, ChartMsg::Records(Ok(Page { items: vec![record(1, "Penicillin allergy")], next_cursor: None })));
    app
}

#[test]
fn emergency_access_checks_the_reason_before_sending_then_marks_the_chart() {
    let mut app = nurse_app();
    press(&mut app, ch('E'));
    let s = screen(&app);
    assert!(s.contains("Emergency access") && s.contains("Patient name"), "{s}");
    typed(&mut app, "zo");
    press(&mut app, key(KeyCode::Enter));
    assert!(tasks(&mut app).is_empty(), "two letters are not searched");
    assert!(screen(&app).contains("at least 3 letters"), "{}", screen(&app));
    press(&mut app, key(KeyCode::Esc));
    emergency_found(&mut app);
    let s = screen(&app);
    assert!(s.contains("Zoe Outside") && s.contains("Zoey Other") && s.contains("born 1971-03-02"), "{s}");
    snapshots("nurse_emergency_search", &app);
    // The second one is picked, then back to the first.
    press(&mut app, key(KeyCode::Down));
    press(&mut app, key(KeyCode::Enter));
    assert!(screen(&app).contains("Zoey Other (born"), "{}", screen(&app));
    press(&mut app, key(KeyCode::Esc));
    press(&mut app, key(KeyCode::Up));
    press(&mut app, key(KeyCode::Enter));
    assert!(screen(&app).contains("Zoe Outside (born"), "{}", screen(&app));
    typed(&mut app, "urgent");
    press(&mut app, key(KeyCode::Enter));
    assert!(tasks(&mut app).is_empty(), "a short reason is not sent");
    assert!(screen(&app).contains("at least 20 characters"), "{}", screen(&app));
    typed(&mut app, ": found unconscious, needs history");
    press(&mut app, key(KeyCode::Enter));
    assert_eq!(tasks(&mut app), ["requesting emergency access"]);
    emergency_granted(&mut app);
    let mut queued = tasks(&mut app);
    queued.sort();
    assert_eq!(queued, ["loading appointments", "loading records", "loading the patient"]);
    let app = nurse_emergency_chart();
    let s = screen(&app);
    assert!(s.contains("EMERGENCY ACCESS — expires in 52 min"), "{s}");
    assert!(s.contains("Zoe Outside") && s.contains("Penicillin allergy") && s.contains("James Wilson"), "{s}");
    snapshots("nurse_emergency_chart", &app);
}

#[test]
fn an_emergency_search_that_finds_nobody_says_so_and_a_new_name_searches_again() {
    let mut app = doctor_app();
    press(&mut app, ch('E'));
    typed(&mut app, "xavier");
    press(&mut app, key(KeyCode::Enter));
    assert_eq!(tasks(&mut app), ["searching the clinic's patients"]);
    net(&mut app, EmergencyMsg::Found("xavier".into(), Ok(vec![])));
    assert!(screen(&app).contains("No patient's name contains “xavier”"), "{}", screen(&app));
    press(&mut app, key(KeyCode::Backspace));
    press(&mut app, key(KeyCode::Enter));
    assert_eq!(tasks(&mut app), ["searching the clinic's patients"], "an edited name is a new search");
}

#[test]
fn a_refused_emergency_request_says_why_and_stays_open() {
    let mut app = doctor_app();
    ask_emergency(&mut app);
    assert_eq!(tasks(&mut app), ["requesting emergency access"]);
    net_err(&mut app, 404, EmergencyMsg::Granted(id(OUTSIDE), Err(problem(404, "not found"))));
    let s = screen(&app);
    assert!(s.contains("no longer on record") && s.contains("Emergency access"), "{s}");
    let s = screen(&doctor_emergency_chart());
    assert!(s.contains("EMERGENCY ACCESS") && !s.contains("new record"), "read only: {s}");
}

fn grant(n: u128, actor: &str, patient: &str) -> healthsynx_shared::api::BreakGlassGrant {
    healthsynx_shared::api::BreakGlassGrant {
        id: id(n),
        actor_id: id(20),
        actor_name: actor.into(),
        actor_role: Role::Nurse,
        patient_id: id(OUTSIDE),
        patient_name: patient.into(),
        reason: REASON.into(),
        created_at: ts("2026-11-27T07:00:00Z"),
        expires_at: ts("2026-11-27T08:00:00Z"),
        reviewed_at: None,
        reviewed_by: None,
        review_note: None,
    }
}

fn admin_with_grants() -> App {
    let mut app = then(admin_with_audit, &[key(KeyCode::Tab), key(KeyCode::Tab)])();
    let items = vec![grant(901, "Joy Nightingale", "Zoe Outside"), grant(902, "Gregory House", "Yuri Else")];
    net(&mut app, admin::Msg::Grants(Ok(Page { items, next_cursor: None })));
    app
}

#[test]
fn admin_reviews_the_break_glass_queue_with_a_note() {
    let mut app = then(admin_with_audit, &[key(KeyCode::Tab)])();
    press(&mut app, key(KeyCode::Tab));
    assert_eq!(tasks(&mut app), ["loading the break-glass queue"]);
    let mut app = admin_with_grants();
    let s = screen(&app);
    assert!(
        s.contains("Joy Nightingale") && s.contains("Zoe Outside") && s.contains("Collapsed in the corridor"),
        "{s}"
    );
    snapshots("admin_break_glass", &app);
    tasks(&mut app);
    press(&mut app, key(KeyCode::Enter));
    press(&mut app, key(KeyCode::Enter));
    assert!(tasks(&mut app).is_empty(), "an empty note is not sent");
    typed(&mut app, "Confirmed with the ER: justified");
    press(&mut app, key(KeyCode::Enter));
    assert_eq!(tasks(&mut app), ["closing the review"]);
    let mut done = grant(901, "Joy Nightingale", "Zoe Outside");
    done.reviewed_at = Some(now());
    net(&mut app, admin::Msg::Reviewed(Ok(done)));
    assert_eq!(tasks(&mut app), ["loading the break-glass queue"]);
    assert!(screen(&app).contains("Review closed"), "{}", screen(&app));
}

#[test]
fn a_patient_sees_emergency_access_marked_with_the_reason() {
    let mut app = patient_app();
    let log = vec![AccessLogEntry {
        at: ts("2026-11-27T07:40:00Z"),
        actor_name: "Stephen Strange".into(),
        actor_role: Some(Role::Doctor),
        action: "record.list".into(),
        target_type: "patient".into(),
        emergency: true,
        reason: Some(REASON.into()),
    }];
    net(&mut app, patient::Msg::AccessLog(Ok(Page { items: log, next_cursor: None })));
    for _ in 0..4 {
        press(&mut app, key(KeyCode::Tab));
    }
    let s = text_of(&draw_at(&app, 160, 48));
    assert!(s.contains("Stephen Strange") && s.contains("EMERGENCY: Collapsed in the corridor"), "{s}");
}

// ---- second factor and sessions ----

fn session(n: u128, current: bool) -> healthsynx_shared::api::Session {
    healthsynx_shared::api::Session {
        id: id(n),
        created_at: Some(ts("2026-12-01T08:00:00Z")),
        last_used_at: Some(ts("2026-12-01T09:30:00Z")),
        expires_at: ts("2026-12-02T08:00:00Z"),
        client_addr: Some(format!("10.0.0.{n}")),
        user_agent: Some(if current { "healthsynx-tui" } else { "curl/8.5" }.into()),
        current,
    }
}

fn factor(totp: MfaState, left: usize) -> security::Msg {
    security::Msg::Factor(Ok(MfaStatus { totp, recovery_codes_left: left, required: true }))
}

/// Admin home, then `S`, with two sessions loaded and no second factor.
fn security_app() -> App {
    let mut app = admin_with_audit();
    press(&mut app, ch('S'));
    assert_eq!(tasks(&mut app), ["loading sessions", "loading the second factor"]);
    net(&mut app, security::Msg::Sessions(Ok(vec![session(1, true), session(2, false)])));
    net(&mut app, factor(MfaState::Off, 0));
    app
}

/// The same with a second factor on.
fn security_factor_on_app() -> App {
    let mut app = security_app();
    net(&mut app, factor(MfaState::On, 7));
    app
}

fn enrolment() -> healthsynx_shared::api::TotpEnrolment {
    let secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP".to_owned();
    let otpauth_url = format!("otpauth://totp/Health%20Synx:ada%40clinic.test?secret={secret}&issuer=Health%20Synx");
    healthsynx_shared::api::TotpEnrolment { secret, otpauth_url }
}

fn enrolling_app() -> App {
    let mut app = then(security_app, &[ch('e')])();
    assert_eq!(tasks(&mut app), ["setting up"]);
    net(&mut app, security::Msg::Enrolment(Ok(enrolment())));
    app
}

fn codes_app() -> App {
    let mut app = enrolling_app();
    typed(&mut app, "123456");
    press(&mut app, key(KeyCode::Enter));
    assert_eq!(tasks(&mut app), ["confirming"]);
    let codes = (0..10).map(|n| format!("aaaa-bbbb-cccc-{n:04}")).collect();
    net(&mut app, security::Msg::Confirmed(Ok(healthsynx_shared::api::RecoveryCodes { recovery_codes: codes })));
    app
}

fn code_login() -> App {
    // From the demo picker: the code step replaces it.
    let mut app = demo_login();
    press(&mut app, key(KeyCode::Enter));
    assert_eq!(tasks(&mut app), ["logging in"]);
    net(&mut app, login::Msg::Code(Client::new(SERVER).unwrap(), "mfa-token".into()));
    app
}

#[test]
fn security_is_a_key_away_from_home_and_esc_brings_home_back() {
    let mut app = security_app();
    let text = screen(&app);
    assert!(text.contains("this one"), "{text}");
    assert!(text.contains("10.0.0.2") && text.contains("curl/8.5"), "{text}");
    assert!(app.commands().iter().all(|c| c.key != "S"), "no Security over Security");
    // The other login may be ended; our own is not offered.
    assert!(!app.screen.commands().iter().any(|c| c.key == "x"));
    press(&mut app, ch('j'));
    press(&mut app, ch('x'));
    assert_eq!(tasks(&mut app), ["ending session"]);
    net(&mut app, security::Msg::Revoked(Ok(())));
    assert_eq!(tasks(&mut app), ["loading sessions", "loading the second factor"]);
    press(&mut app, key(KeyCode::Esc));
    assert!(screen(&app).contains("Ada Admin") && !screen(&app).contains("Sessions"));
    assert!(app.commands().iter().any(|c| c.key == "S"));
}

#[test]
fn enrolling_shows_the_qr_code_and_secret_then_the_recovery_codes_once() {
    let mut app = enrolling_app();
    let text = text_of(&draw_at(&app, 120, 45));
    assert!(text.contains("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"), "{text}");
    assert!(text.contains('▀') || text.contains('▄'), "a QR code of half blocks:\n{text}");
    // Too short a code is refused before any round trip.
    typed(&mut app, "12");
    press(&mut app, key(KeyCode::Enter));
    assert!(tasks(&mut app).is_empty());
    let app = codes_app();
    let text = screen(&app);
    assert!(text.contains("aaaa-bbbb-cccc-0009") && text.contains("shown only now"), "{text}");
}

#[test]
fn a_login_with_a_second_factor_asks_for_the_code() {
    let mut app = code_login();
    assert!(screen(&app).contains("second factor") && !screen(&app).contains("Pick a role"), "{}", screen(&app));
    typed(&mut app, "654321");
    press(&mut app, key(KeyCode::Enter));
    assert_eq!(tasks(&mut app), ["verifying the code"]);
    net_err(&mut app, 401, login::Msg::Done(Err(problem(401, "invalid code"))));
    assert!(screen(&app).contains("Code not accepted"), "{}", screen(&app));
    press(&mut app, key(KeyCode::Esc));
    assert!(screen(&app).contains("Password"));
}

#[test]
fn a_login_that_must_enrol_goes_to_the_enrolment_and_back_to_login() {
    let mut app = app();
    fill_login(&mut app);
    net(&mut app, login::Msg::Enrol(Client::new(SERVER).unwrap()));
    assert_eq!(tasks(&mut app), ["setting up"]);
    net(&mut app, security::Msg::Enrolment(Ok(enrolment())));
    assert!(screen(&app).contains("Your role must log in with a second factor"), "{}", screen(&app));
    press(&mut app, key(KeyCode::Esc));
    assert!(screen(&app).contains("Password"));
}

#[test]
fn the_security_view_shows_the_factor_and_removes_it_with_a_code() {
    let app = security_app();
    let text = screen(&app);
    assert!(text.contains("Second factor: off") && text.contains("your role must have one"), "{text}");
    assert!(!app.screen.commands().iter().any(|c| c.key == "d"), "nothing to remove");
    let mut app = security_factor_on_app();
    let text = screen(&app);
    assert!(text.contains("Second factor: on") && text.contains("7 recovery codes left"), "{text}");
    assert!(!app.screen.commands().iter().any(|c| c.key == "e"), "no second enrolment over one that is on");
    snapshots("security_factor_on", &app);
    press(&mut app, ch('d'));
    assert!(screen(&app).contains("Remove the second factor"), "{}", screen(&app));
    press(&mut app, key(KeyCode::Enter));
    assert!(tasks(&mut app).is_empty(), "no code, no request");
    typed(&mut app, "654321");
    press(&mut app, key(KeyCode::Enter));
    assert_eq!(tasks(&mut app), ["removing the second factor"]);
    net_err(&mut app, 422, security::Msg::Removed(Err(problem(422, "bad code"))));
    assert!(screen(&app).contains("That code is not right"), "{}", screen(&app));
    typed(&mut app, "123456");
    press(&mut app, key(KeyCode::Enter));
    assert_eq!(tasks(&mut app), ["removing the second factor"]);
    net(&mut app, security::Msg::Removed(Ok(())));
    assert_eq!(tasks(&mut app), ["loading sessions", "loading the second factor"]);
    assert!(screen(&app).contains("Second factor removed"), "{}", screen(&app));
}

/// A doctor's home, then `S`: the same view, with the calendar feed.
fn doctor_security_app() -> App {
    let mut app = doctor_app();
    press(&mut app, ch('S'));
    assert_eq!(tasks(&mut app), ["loading sessions", "loading the second factor"]);
    net(&mut app, security::Msg::Sessions(Ok(vec![session(1, true)])));
    net(&mut app, factor(MfaState::On, 10));
    app
}

#[test]
fn a_doctor_makes_and_ends_a_calendar_feed_url_in_the_security_view() {
    let mut app = doctor_security_app();
    let s = screen(&app);
    assert!(s.contains("c makes a URL for your phone's calendar"), "{s}");
    assert!(app.commands().iter().any(|c| c.key == "c") && app.commands().iter().any(|c| c.key == "C"));
    press(&mut app, ch('c'));
    assert_eq!(tasks(&mut app), ["making a feed URL"]);
    let url = "http://127.0.0.1:8080/feeds/kX9v2cQmZ0pW4rT7yB1nE5sH8jL3aD6fG0uI2oP4qR6.ics".to_owned();
    net(&mut app, security::Msg::Feed(Ok(CalendarFeedUrl { url: url.clone() })));
    let s = screen(&app);
    assert!(s.contains("Calendar feed:") && s.contains("http://127.0.0.1:8080/feeds/kX9v"), "the URL is shown: {s}");
    assert!(s.contains("any older one stopped working"), "{s}");
    snapshots("security_feed", &app);
    press(&mut app, ch('C'));
    assert_eq!(tasks(&mut app), ["ending the feed"]);
    net(&mut app, security::Msg::FeedEnded(Ok(())));
    let s = screen(&app);
    assert!(s.contains("Calendar feed ended") && !s.contains("/feeds/"), "{s}");
    press(&mut app, ch('C'));
    assert_eq!(tasks(&mut app), ["ending the feed"]);
    net_err(&mut app, 404, security::Msg::FeedEnded(Err(problem(404, "none"))));
    assert!(screen(&app).contains("There is no calendar feed to end"));
    let admin = security_app();
    assert!(admin.commands().iter().all(|c| c.key != "c" && c.key != "C"), "admins keep no feed");
}

#[test]
fn security_keys_are_the_listed_keys() {
    walk("sessions, a doctor", doctor_security_app);
    walk("sessions", security_app);
    walk("sessions, factor on", security_factor_on_app);
    walk("removing the factor", then(security_factor_on_app, &[ch('d')]));
    walk("sessions, another login", then(security_app, &[ch('j')]));
    walk("enrolment", enrolling_app);
    walk("recovery codes", codes_app);
    walk("login, code", code_login);
}

// ---- billing ----

fn eur() -> Currency {
    Currency::parse("EUR").unwrap()
}

/// One of a visit, `unit` minor units at `tax_bp` basis points of tax.
fn bill_line(description: &str, unit: i64, tax_bp: u32) -> InvoiceLine {
    let tax = unit * i64::from(tax_bp) / 10_000;
    InvoiceLine {
        description: description.into(),
        appointment_id: None,
        quantity: 1,
        unit_amount: unit,
        tax_rate_bp: tax_bp,
        net: unit,
        tax,
        total: unit + tax,
    }
}

fn payment(n: u128, invoice: u128, amount: i64, method: PaymentMethod, at: &str) -> Payment {
    Payment {
        id: id(n),
        invoice_id: id(invoice),
        patient_id: id(101),
        kind: PaymentKind::Payment,
        amount,
        currency: eur(),
        method,
        reference: Some("slip 4711".into()),
        refunds: None,
        refunded: 0,
        received_at: ts(at),
        received_by: id(1),
    }
}

/// An invoice of `lines` with its totals, `payments` paid on it.
fn invoice_of(
    n: u128,
    patient: &str,
    number: Option<&str>,
    lines: Vec<InvoiceLine>,
    payments: Vec<Payment>,
) -> Invoice {
    let subtotal = lines.iter().map(|l| l.net).sum();
    let tax = lines.iter().map(|l| l.tax).sum();
    let total = lines.iter().map(|l| l.total).sum::<i64>();
    let paid = payments.iter().map(|p| p.amount).sum::<i64>();
    let issued = number.is_some();
    Invoice {
        id: id(n),
        kind: InvoiceKind::Invoice,
        number: number.map(str::to_owned),
        patient_id: id(101),
        patient_name: patient.into(),
        status: if issued { InvoiceStatus::Issued } else { InvoiceStatus::Draft },
        currency: eur(),
        lines,
        subtotal,
        tax,
        total,
        paid,
        balance: if issued { total - paid } else { 0 },
        issued_at: issued.then(|| ts("2026-11-20T10:15:00Z")),
        credits: None,
        credited_by: None,
        void_reason: None,
        payments,
        created_at: ts("2026-11-20T10:00:00Z"),
        version: 1,
    }
}

/// Alice's issued invoice for a consultation and an ECG (196.35 EUR), 100.00 paid by card.
fn alice_invoice() -> Invoice {
    let lines = vec![bill_line("Cardiology consultation", 12_000, 1900), bill_line("ECG", 4_500, 1900)];
    let paid = vec![payment(710, 700, 10_000, PaymentMethod::Card, "2026-11-20T10:20:00Z")];
    invoice_of(700, "Alice Moreau", Some("2026-000014"), lines, paid)
}

/// Bruno's draft for yesterday's visit, not yet issued.
fn bruno_draft() -> Invoice {
    let mut draft = invoice_of(701, "Bruno Keller", None, vec![bill_line("Standard visit", 8_000, 0)], vec![]);
    draft.patient_id = id(102);
    draft.created_at = ts("2026-11-26T16:00:00Z");
    draft
}

fn open_balance(inv: &Invoice, age_days: i64) -> OpenBalance {
    OpenBalance {
        invoice_id: inv.id,
        number: inv.number.clone().unwrap(),
        patient_id: inv.patient_id,
        patient_name: inv.patient_name.clone(),
        issued_at: inv.issued_at.unwrap(),
        age_days,
        balance: inv.balance,
    }
}

/// A draft, two invoices with money owed, and today's cash-up.
fn billing() -> Billing {
    let alice = alice_invoice();
    let mut chiara = invoice_of(702, "Chiara Rossi", Some("2026-000009"), vec![bill_line("ECG", 4_500, 0)], vec![]);
    chiara.issued_at = Some(ts("2026-10-02T09:00:00Z"));
    let invoices = vec![open_balance(&chiara, 56), open_balance(&alice, 7)];
    let total = invoices.iter().map(|o| o.balance).sum();
    let buckets = vec![
        AgeBucket { label: "0-30".into(), invoices: 1, balance: alice.balance },
        AgeBucket { label: "31-60".into(), invoices: 1, balance: chiara.balance },
        AgeBucket { label: "61-90".into(), invoices: 0, balance: 0 },
        AgeBucket { label: ">90".into(), invoices: 0, balance: 0 },
    ];
    let outstanding = OutstandingReport { as_of: now(), currency: eur(), buckets, total, invoices };
    let by = |method, payments, refunds, amount| CashByMethod { method, payments, refunds, amount };
    let methods = vec![
        by(PaymentMethod::Cash, 2, 0, 6_000),
        by(PaymentMethod::Card, 3, 1, 21_450),
        by(PaymentMethod::Transfer, 0, 0, 0),
        by(PaymentMethod::Insurance, 1, 0, 12_000),
    ];
    let cash = CashReport {
        date: jiff::civil::date(2026, 11, 27),
        currency: eur(),
        total: methods.iter().map(|m| m.amount).sum(),
        methods,
        payments: vec![],
    };
    Billing { drafts: vec![bruno_draft()], outstanding, cash }
}

fn front_desk_billing() -> App {
    let mut app = front_desk();
    press(&mut app, ch('B'));
    assert_eq!(tasks(&mut app), ["loading billing"]);
    net(&mut app, BillingMsg::Loaded(Ok(billing())));
    app
}

/// Alice's part-paid invoice, opened from the billing view.
fn front_desk_invoice() -> App {
    let mut app = front_desk_billing();
    press(&mut app, ch('j'));
    press(&mut app, ch('j'));
    press(&mut app, key(KeyCode::Enter));
    assert_eq!(tasks(&mut app), ["loading the invoice"]);
    net(&mut app, InvoiceMsg::Loaded(id(700), Ok(alice_invoice())));
    app
}

/// Alice's invoice after 40.00 of the card payment went back: the payment, then its refund.
fn part_refunded_invoice() -> Invoice {
    let mut inv = alice_invoice();
    inv.payments[0].refunded = 4_000;
    let mut refund = payment(712, 700, -4_000, PaymentMethod::Card, "2026-11-21T09:00:00Z");
    (refund.kind, refund.refunds, refund.reference) = (PaymentKind::Refund, Some(id(710)), None);
    inv.payments.push(refund);
    (inv.paid, inv.balance) = (6_000, inv.total - 6_000);
    inv
}

fn front_desk_part_refunded() -> App {
    let mut app = front_desk_invoice();
    net(&mut app, InvoiceMsg::Loaded(id(700), Ok(part_refunded_invoice())));
    app
}

fn front_desk_payment() -> App {
    let mut app = front_desk_invoice();
    press(&mut app, ch('p'));
    app
}

/// The board with Alice's 09:00 with House done.
fn front_desk_with_completed() -> App {
    let mut app = front_desk();
    let columns = vec![
        front_desk::Column {
            doctor: house(),
            appts: vec![
                appt(1, &house(), "Alice Moreau", "2026-11-27T09:00:00Z", AppointmentStatus::Completed),
                appt(2, &house(), "Bruno Keller", "2026-11-27T10:00:00Z", AppointmentStatus::Scheduled),
            ],
            free: vec![slot("2026-11-27T09:30:00Z")],
        },
        front_desk::Column { doctor: wilson(), appts: vec![], free: vec![] },
    ];
    let columns = columns.into_iter().map(front_desk::ColumnUpdate::from).collect();
    net(&mut app, front_desk::Msg::Board(jiff::civil::date(2026, 11, 27), "cardiology".into(), Ok(columns)));
    app
}

/// Alice's visit billed from the board: its draft is open.
fn front_desk_drafted() -> App {
    let mut app = front_desk_with_completed();
    press(&mut app, ch('$'));
    assert_eq!(tasks(&mut app), ["making a draft invoice"]);
    let draft = invoice_of(703, "Alice Moreau", None, vec![bill_line("Cardiology consultation", 12_000, 1900)], vec![]);
    net(&mut app, BillingMsg::Drafted(Ok(draft)));
    app
}

fn bar(app: &App) -> String {
    screen(app).lines().last().unwrap().to_owned()
}

fn keys_listed(app: &App) -> Vec<&'static str> {
    app.screen.commands().iter().map(|c| c.key).collect()
}

#[test]
fn the_billing_view_lists_open_invoices_and_the_days_cash_up() {
    let app = front_desk_billing();
    let s = screen(&app);
    assert!(s.contains("Open invoices (3) · owed 141.35 EUR"), "{s}");
    let draft = s.lines().find(|l| l.contains("› draft")).unwrap();
    assert!(draft.contains("Bruno Keller") && draft.contains("80.00 EUR") && draft.contains("0 d"), "{draft}");
    let chiara = s.lines().find(|l| l.contains("2026-000009")).unwrap();
    assert!(
        chiara.contains("Chiara Rossi") && chiara.contains("2026-10-02") && chiara.contains("45.00 EUR"),
        "{chiara}"
    );
    assert!(chiara.contains("56 d"), "{chiara}");
    assert!(s.contains("Cash-up · Fri 27 Nov"), "{s}");
    let card = s.lines().find(|l| l.contains("card ")).unwrap();
    assert!(card.contains("  3 ") && card.contains("214.50 EUR"), "payments, refunds, amount: {card}");
    assert!(s.lines().any(|l| l.contains("Total") && l.contains("394.50 EUR")), "{s}");
    assert!(s.contains("Draft for Bruno Keller, 80.00 EUR in total"), "the selected row explained: {s}");
    let bar = bar(&app);
    assert!(bar.contains("Enter open invoice") && bar.contains("g refresh") && bar.contains("Esc close"), "{bar}");
    snapshots("front_desk_billing", &app);
    // Wide, the cash-up stands beside the invoices.
    let wide = text_of(&draw_at(&app, 160, 48));
    let row = wide.lines().find(|l| l.contains("2026-000014")).unwrap();
    assert!(row.contains("Alice Moreau") && row.contains("96.35 EUR") && row.contains("7 d"), "{row}");
    assert!(wide.lines().any(|l| l.contains("Open invoices") && l.contains("Cash-up")), "{wide}");
}

#[test]
fn an_issued_invoice_shows_its_lines_totals_and_payments() {
    let mut app = front_desk_invoice();
    let s = screen(&app);
    assert!(s.contains("Invoice 2026-000014") && s.contains("Status: issued") && s.contains("Kind:   invoice"), "{s}");
    assert!(s.contains("Patient: Alice Moreau") && s.contains("Issued:  2026-11-20"), "{s}");
    let ecg = s.lines().find(|l| l.contains("ECG")).unwrap();
    assert!(ecg.contains("45.00 EUR") && ecg.contains("19%"), "{ecg}");
    for (label, amount) in
        [("Subtotal", "165.00 EUR"), ("Tax", "31.35 EUR"), ("Total", "196.35 EUR"), ("Paid", "100.00 EUR")]
    {
        assert!(s.lines().any(|l| l.contains(label) && l.contains(amount)), "{label} {amount}: {s}");
    }
    assert!(s.lines().any(|l| l.contains("Balance") && l.contains("96.35 EUR")), "{s}");
    assert!(s.contains("2026-11-20 10:20  card") && s.contains("slip 4711"), "{s}");
    let keys = keys_listed(&app);
    assert_eq!(keys, ["p", "r", "s", "v", "Esc"], "no issuing an issued invoice");
    snapshots("front_desk_invoice", &app);
    // Esc goes back to the list, a second Esc to the board.
    press(&mut app, key(KeyCode::Esc));
    assert!(screen(&app).contains("Open invoices (3)"));
    press(&mut app, key(KeyCode::Esc));
    assert!(screen(&app).contains("Gregory House") && !screen(&app).contains("Open invoices"));
}

#[test]
fn the_payment_form_starts_at_the_balance_and_refuses_what_does_not_parse() {
    let mut app = front_desk_payment();
    let s = screen(&app);
    assert!(s.contains("Amount: 96.35▏ EUR") && s.contains("Method: ◂ cash ▸"), "{s}");
    assert!(s.contains("Alice Moreau: invoice 2026-000014 owes 96.35 EUR."), "{s}");
    snapshots("front_desk_payment", &app);
    for (typed_in, why) in
        [("12.345", "EUR has 2 decimal places; 12.345 has 3."), ("abc", "The amount must be a number like 45.00.")]
    {
        press(&mut app, ctrl('u'));
        typed(&mut app, typed_in);
        press(&mut app, key(KeyCode::Enter));
        assert!(tasks(&mut app).is_empty(), "{typed_in} is not sent");
        assert!(screen(&app).contains(why), "{typed_in}: {}", screen(&app));
    }
    press(&mut app, ctrl('u'));
    typed(&mut app, "120");
    press(&mut app, key(KeyCode::Right));
    assert!(screen(&app).contains("Method: ◂ card ▸"));
    press(&mut app, key(KeyCode::Tab));
    typed(&mut app, "slip 4712");
    press(&mut app, key(KeyCode::Enter));
    assert_eq!(tasks(&mut app), ["taking the payment"]);
    press(&mut app, key(KeyCode::Enter));
    assert!(tasks(&mut app).is_empty(), "one payment at a time");
    // More than the balance: the server's reason, and the form stays as typed.
    let over = problem(409, "the payment of 12000 is more than the balance of 9635");
    net_err(&mut app, 409, InvoiceMsg::Paid(Err(over)));
    let s = text_of(&draw_at(&app, 120, 24));
    assert!(s.contains("Payment not taken: conflict: the payment of 12000 is more than the balance of 9635"), "{s}");
    assert!(s.contains("Amount: 120"), "{s}");
    assert_eq!(tasks(&mut app), ["loading billing"]);
    press(&mut app, key(KeyCode::BackTab));
    press(&mut app, ctrl('u'));
    typed(&mut app, "50");
    press(&mut app, key(KeyCode::Enter));
    assert_eq!(tasks(&mut app), ["taking the payment"]);
    net(&mut app, InvoiceMsg::Paid(Ok(payment(711, 700, 5_000, PaymentMethod::Card, "2026-11-27T08:00:00Z"))));
    let s = screen(&app);
    assert!(s.contains("Payment taken: 50.00 EUR by card.") && !s.contains("Take a payment"), "{s}");
    let mut queued = tasks(&mut app);
    queued.sort();
    assert_eq!(queued, ["loading billing", "loading the invoice"]);
}

#[test]
fn a_completed_visit_is_billed_from_the_board_and_its_draft_issued() {
    let app = front_desk();
    assert!(!keys_listed(&app).contains(&"$"), "a checked-in visit is not billed yet");
    let mut app = front_desk_with_completed();
    assert!(keys_listed(&app).contains(&"$"), "{:?}", keys_listed(&app));
    assert!(bar(&app).contains("$ bill visit"), "{}", bar(&app));
    press(&mut app, ch('j'));
    assert!(!keys_listed(&app).contains(&"$"), "a free time has nothing to bill");
    press(&mut app, ch('j'));
    assert!(!keys_listed(&app).contains(&"$"), "a booked visit is not billed yet");
    press(&mut app, ch('k'));
    press(&mut app, ch('k'));
    press(&mut app, ch('$'));
    assert_eq!(tasks(&mut app), ["making a draft invoice"]);
    press(&mut app, ch('$'));
    assert!(tasks(&mut app).is_empty(), "one draft at a time");
    let billed = problem(409, "the appointment is already billed on another invoice");
    net_err(&mut app, 409, BillingMsg::Drafted(Err(billed)));
    assert!(screen(&app).contains("Not billed: conflict: the appointment is already billed on another invoice"));
    press(&mut app, ch('$'));
    assert_eq!(tasks(&mut app), ["making a draft invoice"]);
    net_err(&mut app, 422, BillingMsg::Drafted(Err(problem(422, "the visit has no type to price it"))));
    assert!(screen(&app).contains("Not billed: not accepted: the visit has no type to price it"));

    let mut app = front_desk_drafted();
    let s = screen(&app);
    assert!(s.contains("Draft invoice for Alice Moreau: 142.80 EUR. i issues it."), "{s}");
    assert!(s.contains("Draft invoice") && s.contains("Status: draft") && s.contains("Issued:  —"), "{s}");
    assert_eq!(keys_listed(&app), ["i", "s", "v", "Esc"], "no payment on a draft");
    press(&mut app, ch('i'));
    assert!(screen(&app).contains("Issue this draft to Alice Moreau for 142.80 EUR?"));
    press(&mut app, ch('n'));
    assert!(!screen(&app).contains("Issue this draft"));
    assert!(tasks(&mut app).is_empty());
    press(&mut app, ch('i'));
    press(&mut app, ch('y'));
    assert_eq!(tasks(&mut app), ["issuing the invoice"]);
    let mut issued = invoice_of(
        703,
        "Alice Moreau",
        Some("2026-000015"),
        vec![bill_line("Cardiology consultation", 12_000, 1900)],
        vec![],
    );
    issued.issued_at = Some(now());
    net(&mut app, InvoiceMsg::Issued(Ok(issued)));
    let s = screen(&app);
    assert!(s.contains("Issued invoice 2026-000015 to Alice Moreau for 142.80 EUR."), "{s}");
    assert!(s.contains("Invoice 2026-000015") && s.contains("Status: issued"), "{s}");
    assert_eq!(keys_listed(&app), ["p", "s", "v", "Esc"]);
    press(&mut app, key(KeyCode::Esc));
    assert!(screen(&app).contains("Time  Gregory House"), "back on the board");
}

#[test]
fn voiding_asks_why_and_names_the_credit_note() {
    let mut app = front_desk_invoice();
    press(&mut app, ch('v'));
    let s = screen(&app);
    assert!(s.contains("Void invoice 2026-000014? A credit note for -196.35 EUR cancels it."), "{s}");
    press(&mut app, key(KeyCode::Enter));
    assert!(tasks(&mut app).is_empty(), "no reason, no request");
    assert!(screen(&app).contains("Say why it is voided"));
    typed(&mut app, "billed to the wrong patient");
    press(&mut app, key(KeyCode::Enter));
    assert_eq!(tasks(&mut app), ["voiding the invoice"]);
    let paid = problem(409, "the invoice has 10000 paid on it: refund the payments before voiding it");
    net_err(&mut app, 409, InvoiceMsg::Voided(Err(paid)));
    assert!(screen(&app).contains("Not voided: conflict: the invoice has 10000 paid on it"), "{}", screen(&app));
    assert_eq!(tasks(&mut app), ["loading billing"], "a refusal may mean someone else changed it: the list reloads");
    press(&mut app, key(KeyCode::Enter));
    assert_eq!(tasks(&mut app), ["voiding the invoice"]);
    let mut note = alice_invoice();
    (note.id, note.kind, note.number, note.credits) =
        (id(704), InvoiceKind::CreditNote, Some("2026-000016".into()), Some(id(700)));
    (note.total, note.payments) = (-note.total, vec![]);
    net(&mut app, InvoiceMsg::Voided(Ok(note)));
    let s = screen(&app);
    assert!(s.contains("Voided: credit note 2026-000016 for -196.35 EUR cancels the invoice."), "{s}");
    let mut queued = tasks(&mut app);
    queued.sort();
    assert_eq!(queued, ["loading billing", "loading the invoice"]);
}

#[test]
fn a_pdf_is_fetched_then_saved_and_the_path_or_the_failure_shown() {
    let mut app = front_desk_invoice();
    press(&mut app, ch('s'));
    assert_eq!(tasks(&mut app), ["fetching the PDF"]);
    assert_eq!(invoice::pdf_name(&alice_invoice()), "invoice-2026-000014.pdf");
    let mut draft = bruno_draft();
    draft.id = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".parse().unwrap();
    assert_eq!(invoice::pdf_name(&draft), "invoice-draft-0190a1b2.pdf");
    net_err(&mut app, 404, InvoiceMsg::Pdf("invoice-2026-000014.pdf".into(), Err(problem(404, "no such invoice"))));
    assert!(screen(&app).contains("Could not fetch the PDF: not found"), "{}", screen(&app));
    // Saved where the name says (here an absolute path, so the test leaves the working directory alone).
    let dir = std::env::temp_dir().join(format!("hsx-screens-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("invoice-2026-000014.pdf");
    let name = path.to_string_lossy().into_owned();
    net(&mut app, InvoiceMsg::Pdf(name.clone(), Ok(b"%PDF-1.4 test".to_vec())));
    assert_eq!(std::fs::read(&path).unwrap(), b"%PDF-1.4 test");
    let notice = text_of(&draw_at(&app, 200, 24));
    assert!(notice.contains(&format!("Saved {name}")), "{notice}");
    std::fs::remove_dir_all(&dir).unwrap();
    let missing = dir.join("gone").join("x.pdf").to_string_lossy().into_owned();
    net(&mut app, InvoiceMsg::Pdf(missing.clone(), Ok(b"%PDF".to_vec())));
    let notice = text_of(&draw_at(&app, 200, 24));
    assert!(notice.contains(&format!("Could not save {missing}")), "{notice}");
}

/// Alice's bills: the part-paid invoice, and a paid one voided by a credit note.
fn patient_bills() -> App {
    let mut app = patient_with_records();
    for _ in 0..5 {
        press(&mut app, key(KeyCode::Tab));
    }
    let mut old = invoice_of(705, "Alice Moreau", Some("2026-000003"), vec![bill_line("ECG", 4_500, 1900)], vec![]);
    (old.status, old.balance, old.issued_at) = (InvoiceStatus::Void, 0, Some(ts("2026-09-14T09:00:00Z")));
    let mut note = old.clone();
    (note.id, note.kind, note.number, note.status) =
        (id(706), InvoiceKind::CreditNote, Some("2026-000004".into()), InvoiceStatus::Issued);
    (note.total, note.issued_at) = (-old.total, Some(ts("2026-09-15T09:00:00Z")));
    net(&mut app, patient::Msg::Bills(Ok(Page { items: vec![old, note, alice_invoice()], next_cursor: None })));
    app
}

#[test]
fn a_patient_reads_their_bills_and_saves_one_as_a_pdf() {
    let mut app = patient_bills();
    let s = screen(&app);
    assert!(s.contains("My bills"), "{s}");
    let first = s.lines().find(|l| l.contains("› ")).unwrap();
    assert!(first.contains("2026-000014") && first.contains("2026-11-20") && first.contains("issued"), "newest first");
    assert!(first.contains("196.35 EUR") && first.contains("96.35 EUR"), "{first}");
    let note = s.lines().find(|l| l.contains("2026-000004")).unwrap();
    assert!(note.contains("credit note") && note.contains("-53.55 EUR"), "{note}");
    assert!(s.lines().any(|l| l.contains("2026-000003") && l.contains("void")), "{s}");
    snapshots("patient_bills", &app);
    press(&mut app, ch('s'));
    assert_eq!(tasks(&mut app), ["fetching the PDF"]);
    press(&mut app, key(KeyCode::Enter));
    let s = screen(&app);
    assert!(s.contains("Invoice 2026-000014") && s.contains("Cardiology consultation"), "{s}");
    assert!(s.contains("s saves it as a PDF"), "{s}");
    assert_eq!(keys_listed(&app), ["s", "Esc"], "read-only: no issue, payment, refund or void");
    assert!(!screen(&app).contains("› 2026-11-20 10:20"), "no payment to pick: {}", screen(&app));
    press(&mut app, ch('p'));
    press(&mut app, ch('v'));
    press(&mut app, ch('r'));
    let s = screen(&app);
    assert!(tasks(&mut app).is_empty() && !s.contains("Take a payment") && !s.contains("Refund"), "{s}");
    press(&mut app, ch('s'));
    assert_eq!(tasks(&mut app), ["fetching the PDF"]);
    press(&mut app, key(KeyCode::Esc));
    assert!(screen(&app).contains("Number") && !screen(&app).contains("Subtotal"));
}

#[test]
fn a_payment_is_picked_refunded_after_asking_and_the_invoice_reloads() {
    let mut app = front_desk_invoice();
    let s = screen(&app);
    assert!(s.contains("› 2026-11-20 10:20  card"), "the payment is selected: {s}");
    assert!(bar(&app).contains("r refund"), "{}", bar(&app));
    press(&mut app, ch('r'));
    assert!(screen(&app).contains("Refund 100.00 EUR by card? y/n"), "{}", screen(&app));
    assert_eq!(keys_listed(&app), ["y", "n/Esc"]);
    press(&mut app, ch('n'));
    assert!(!screen(&app).contains("Refund 100.00 EUR") && tasks(&mut app).is_empty());
    press(&mut app, ch('r'));
    press(&mut app, ch('y'));
    assert_eq!(tasks(&mut app), ["refunding the payment"]);
    assert!(!keys_listed(&app).contains(&"r"), "one refund at a time");
    press(&mut app, ch('r'));
    assert!(tasks(&mut app).is_empty() && !screen(&app).contains("y/n"));
    let refused = problem(409, "the payment has nothing left to refund");
    net_err(&mut app, 409, InvoiceMsg::Refunded(Err(refused)));
    let s = text_of(&draw_at(&app, 120, 40));
    assert!(s.contains("Not refunded: conflict: the payment has nothing left to refund"), "{s}");
    assert_eq!(tasks(&mut app), ["loading billing"]);
    press(&mut app, ch('r'));
    press(&mut app, ch('y'));
    assert_eq!(tasks(&mut app), ["refunding the payment"]);
    let mut refund = payment(712, 700, -10_000, PaymentMethod::Card, "2026-11-27T08:00:00Z");
    (refund.kind, refund.refunds) = (PaymentKind::Refund, Some(id(710)));
    net(&mut app, InvoiceMsg::Refunded(Ok(refund)));
    let s = screen(&app);
    assert!(s.contains("Refunded 100.00 EUR by card.") && !s.contains("y/n"), "{s}");
    let mut queued = tasks(&mut app);
    queued.sort();
    assert_eq!(queued, ["loading billing", "loading the invoice"]);
}

#[test]
fn only_a_payment_with_money_left_on_it_can_be_refunded() {
    let mut app = front_desk_part_refunded();
    assert_eq!(keys_listed(&app), ["p", "r", "s", "v", "↑↓/jk", "Esc"]);
    press(&mut app, ch('r'));
    assert!(screen(&app).contains("Refund 60.00 EUR by card? y/n"), "what is left: {}", screen(&app));
    press(&mut app, key(KeyCode::Esc));
    press(&mut app, ch('j'));
    let s = screen(&app);
    let row = s.lines().find(|l| l.contains("› ")).unwrap();
    assert!(row.contains("refund, card") && row.contains("-40.00 EUR"), "the refund is selected: {row}");
    assert!(s.contains("refunded 40.00 EUR"), "{s}");
    assert_eq!(keys_listed(&app), ["p", "s", "v", "↑↓/jk", "Esc"], "a refund is not refunded");
    press(&mut app, ch('r'));
    assert!(tasks(&mut app).is_empty() && !screen(&app).contains("y/n"));
    press(&mut app, ch('k'));
    assert!(keys_listed(&app).contains(&"r"));
    // All of it given back: nothing left to refund, and the invoice can be voided.
    let mut back = part_refunded_invoice();
    back.payments[0].refunded = 10_000;
    back.payments[1].amount = -10_000;
    (back.paid, back.balance) = (0, back.total);
    net(&mut app, InvoiceMsg::Loaded(id(700), Ok(back)));
    assert_eq!(keys_listed(&app), ["p", "s", "v", "↑↓/jk", "Esc"]);
}

// ---- admin: webhooks ----

const HOOK_URL: &str = "https://hooks.example.org/healthsynx";

fn webhook(n: u128, url: &str, active: bool, events: &[EventType]) -> Webhook {
    Webhook {
        id: id(n),
        url: url.into(),
        events: events.to_vec(),
        secret: None,
        active,
        created_at: ts("2026-11-20T09:15:00Z"),
        version: 3,
    }
}

fn webhooks() -> Vec<Webhook> {
    let erp = "https://erp.example.com/api/v2/integrations/healthsynx/events/inbound";
    let mut disabled = webhook(802, erp, false, &[EventType::AppointmentBooked, EventType::InvoiceIssued]);
    disabled.version = 7;
    vec![webhook(801, HOOK_URL, true, &EventType::ALL), disabled]
}

/// The admin on the webhooks tab, two webhooks loaded: an active one selected, then a disabled one.
fn admin_webhooks() -> App {
    let tab = key(KeyCode::Tab);
    let mut app = then(admin_with_audit, &[tab, tab])();
    assert_eq!(tasks(&mut app), ["loading the break-glass queue"]);
    net(&mut app, admin::Msg::Grants(Ok(Page { items: vec![], next_cursor: None })));
    press(&mut app, tab);
    assert_eq!(tasks(&mut app), ["loading webhooks"]);
    net(&mut app, WebhooksMsg::Loaded(Ok(webhooks())));
    app
}

fn admin_webhook_secret() -> App {
    let mut app = admin_webhooks();
    press(&mut app, ch('a'));
    typed(&mut app, HOOK_URL);
    press(&mut app, key(KeyCode::Enter));
    assert_eq!(tasks(&mut app), ["adding the webhook"]);
    let made = webhook(803, HOOK_URL, true, &EventType::ALL);
    let secret = Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into());
    net(&mut app, WebhooksMsg::Created(Ok(Webhook { secret, ..made.clone() })));
    assert_eq!(tasks(&mut app), ["loading webhooks"], "the list reloads under the secret");
    net(&mut app, WebhooksMsg::Loaded(Ok([webhooks(), vec![made]].concat())));
    app
}

fn delivery(n: u128, status: DeliveryStatus, attempts: u32, last_status: Option<u16>, error: Option<&str>) -> Delivery {
    Delivery {
        id: id(n),
        webhook_id: id(801),
        event_id: id(n + 1000),
        event_type: EventType::AppointmentBooked,
        created_at: ts("2026-11-26T14:30:00Z"),
        status,
        attempts,
        next_attempt_at: None,
        last_attempt_at: Some(ts("2026-11-26T20:30:00Z")),
        last_status,
        last_error: error.map(str::to_owned),
        delivered_at: (status == DeliveryStatus::Delivered).then(|| ts("2026-11-26T14:30:01Z")),
    }
}

/// The first webhook's deliveries: a dead one (selected), then a delivered one.
fn admin_webhook_deliveries() -> App {
    let mut app = admin_webhooks();
    press(&mut app, key(KeyCode::Enter));
    assert_eq!(tasks(&mut app), ["loading deliveries"]);
    let mut delivered = delivery(902, DeliveryStatus::Delivered, 1, Some(200), None);
    delivered.event_type = EventType::InvoiceIssued;
    let items = vec![delivery(901, DeliveryStatus::Dead, 8, Some(500), Some("HTTP 500")), delivered];
    let page = Ok(Page { items, next_cursor: Some("next".into()) });
    net(&mut app, WebhooksMsg::Deliveries { webhook: id(801), filter: None, more: false, page });
    app
}

fn listed(app: &App) -> Vec<String> {
    app.screen.commands().iter().map(|c| format!("{} {}", c.key, c.what)).collect()
}

#[test]
fn admin_lists_webhooks_with_their_state_events_and_date() {
    let app = admin_webhooks();
    let s = screen(&app);
    assert!(s.contains("Webhooks (2)") && s.contains(HOOK_URL) && s.contains("all events"), "{s}");
    assert!(s.contains("disabled") && s.contains("booked invoice") && s.contains("2026-11-20"), "{s}");
    assert!(s.contains("https://erp.example.com/api/v2/inte…"), "a long URL is cut: {s}");
    snapshots("admin_webhooks", &app);
}

#[test]
fn only_the_toggle_that_applies_is_listed() {
    let mut app = admin_webhooks();
    let keys = listed(&app);
    assert!(keys.contains(&"d disable".to_owned()) && !keys.contains(&"e enable".to_owned()), "{keys:?}");
    press(&mut app, ch('e'));
    assert!(tasks(&mut app).is_empty(), "e does nothing on an active webhook");
    press(&mut app, ch('j'));
    let keys = listed(&app);
    assert!(keys.contains(&"e enable".to_owned()) && !keys.contains(&"d disable".to_owned()), "{keys:?}");
}

#[test]
fn creating_a_webhook_shows_its_secret_once_then_the_list() {
    let mut app = admin_webhooks();
    press(&mut app, ch('a'));
    press(&mut app, key(KeyCode::Enter));
    assert!(tasks(&mut app).is_empty(), "no URL, nothing sent");
    assert!(screen(&app).contains("Type the URL"), "{}", screen(&app));
    typed(&mut app, HOOK_URL);
    press(&mut app, key(KeyCode::Enter));
    assert_eq!(tasks(&mut app), ["adding the webhook"]);
    let mut app = admin_webhook_secret();
    let s = screen(&app);
    assert!(s.contains("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), "{s}");
    assert!(s.contains("Copy it now: it is not shown again."), "{s}");
    snapshots("admin_webhook_secret", &app);
    press(&mut app, key(KeyCode::Esc));
    let s = screen(&app);
    assert!(!s.contains("whsec_") && s.contains("Webhooks (3)"), "closed, and never shown again: {s}");
}

#[test]
fn a_refused_url_keeps_the_form_open_with_the_reason() {
    let mut app = admin_webhooks();
    press(&mut app, ch('a'));
    typed(&mut app, "https://nowhere.invalid/hook");
    press(&mut app, key(KeyCode::Enter));
    assert_eq!(tasks(&mut app), ["adding the webhook"]);
    let mut p = problem(422, "the request is not valid");
    let why = "names a host that does not resolve (nowhere.invalid)";
    p.errors.push(healthsynx_shared::api::FieldError::new("url", why));
    net_err(&mut app, 422, WebhooksMsg::Created(Err(p)));
    let s = screen(&app);
    assert!(s.contains("Add a webhook") && s.contains("URL: https://nowhere.invalid/hook"), "kept as typed: {s}");
    assert!(s.contains("URL names a host that does not resolve"), "{s}");
    assert!(tasks(&mut app).is_empty());
}

#[test]
fn retry_is_listed_only_on_a_dead_delivery() {
    let mut app = admin_webhook_deliveries();
    let s = screen(&app);
    assert!(s.contains("dead") && s.contains("HTTP 500") && s.contains("delivered") && s.contains("HTTP 200"), "{s}");
    assert!(s.contains("2026-11-26 14:30"), "created, in clinic time: {s}");
    snapshots("admin_webhook_deliveries", &app);
    assert!(listed(&app).contains(&"r retry".to_owned()), "{:?}", listed(&app));
    press(&mut app, ch('j'));
    assert!(!listed(&app).contains(&"r retry".to_owned()), "{:?}", listed(&app));
    press(&mut app, ch('r'));
    assert!(tasks(&mut app).is_empty(), "r does nothing on a delivered one");
    press(&mut app, ch('k'));
    press(&mut app, ch('r'));
    assert_eq!(tasks(&mut app), ["retrying the delivery"]);
    let mut again = delivery(901, DeliveryStatus::Pending, 0, Some(500), Some("HTTP 500"));
    again.next_attempt_at = Some(now());
    net(&mut app, WebhooksMsg::Retried(Ok(again)));
    assert_eq!(tasks(&mut app), ["loading deliveries"]);
    assert!(screen(&app).contains("Retrying: sent again now."), "{}", screen(&app));
}

#[test]
fn deliveries_filter_by_status_page_on_and_say_why_a_retry_was_refused() {
    let mut app = admin_webhook_deliveries();
    press(&mut app, ch(']'));
    assert_eq!(tasks(&mut app), ["loading deliveries"]);
    press(&mut app, ch('f'));
    assert_eq!(tasks(&mut app), ["loading deliveries"]);
    assert!(screen(&app).contains("· pending"), "{}", screen(&app));
    // The answer for "all", late, does not land under "pending".
    let page =
        Ok(Page { items: vec![delivery(905, DeliveryStatus::Dead, 8, None, Some("timed out"))], next_cursor: None });
    net(&mut app, WebhooksMsg::Deliveries { webhook: id(801), filter: None, more: true, page });
    assert!(!screen(&app).contains("timed out"), "{}", screen(&app));
    let mut app = admin_webhook_deliveries();
    press(&mut app, ch('r'));
    tasks(&mut app);
    let p = problem(409, "the webhook is disabled: enable it first");
    net_err(&mut app, 409, WebhooksMsg::Retried(Err(p)));
    let s = screen(&app);
    assert!(s.contains("Not retried: conflict: the webhook is disabled: enable it first"), "{s}");
    press(&mut app, key(KeyCode::Esc));
    assert!(screen(&app).contains("Webhooks (2)"), "Esc goes back to the list");
}

#[test]
fn deleting_a_webhook_asks_first() {
    let mut app = admin_webhooks();
    press(&mut app, ch('x'));
    assert!(screen(&app).contains(&format!("Delete the webhook to {HOOK_URL}?")), "{}", screen(&app));
    press(&mut app, ch('n'));
    assert!(tasks(&mut app).is_empty());
    press(&mut app, ch('x'));
    press(&mut app, ch('y'));
    assert_eq!(tasks(&mut app), ["deleting the webhook"]);
    net(&mut app, WebhooksMsg::Deleted(HOOK_URL.into(), Ok(())));
    assert_eq!(tasks(&mut app), ["loading webhooks"]);
    assert!(screen(&app).contains("Deleted the webhook"), "{}", screen(&app));
}

// ---- the requests themselves, through a stand-in server ----

/// A one-thread HTTP server on loopback that answers each request with the
/// next canned JSON body and keeps what was asked: `METHOD path`, the
/// `If-Match` header, the body.
struct StandIn {
    base: String,
    asked: std::sync::Arc<std::sync::Mutex<Vec<Asked>>>,
}

/// A request the stand-in got: `METHOD path`, its `If-Match`, its body.
type Asked = (String, Option<String>, String);

impl StandIn {
    fn start(answers: Vec<String>) -> StandIn {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = asked.clone();
        std::thread::spawn(move || {
            let mut answers = answers.into_iter();
            // One request a connection (`connection: close`), so none waits on another.
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let request = line.split(' ').take(2).collect::<Vec<_>>().join(" ");
                let (mut len, mut if_match) = (0, None);
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).unwrap();
                    let Some((name, value)) = h.trim_end().split_once(':') else { break };
                    match name.to_ascii_lowercase().as_str() {
                        "content-length" => len = value.trim().parse().unwrap(),
                        "if-match" => if_match = Some(value.trim().to_owned()),
                        _ => {}
                    }
                }
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                log.lock().unwrap().push((request, if_match, String::from_utf8(body).unwrap()));
                let answer = answers.next().unwrap_or_default();
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    answer.len()
                );
                stream.write_all(head.as_bytes()).unwrap();
                stream.write_all(answer.as_bytes()).unwrap();
            }
        });
        StandIn { base, asked }
    }

    /// The requests after the login.
    fn asked(&self) -> Vec<Asked> {
        self.asked.lock().unwrap().iter().skip(1).cloned().collect()
    }
}

/// The admin on the webhooks tab with a client logged in to `server`.
fn admin_against(server: &StandIn, rt: &tokio::runtime::Runtime) -> App {
    let mut app = app();
    let admin = user(30, "Ada Admin", Role::Admin, None);
    let client = Client::new(&server.base).unwrap();
    rt.block_on(client.login("admin@clinic.test", "pw")).unwrap();
    net(&mut app, login::Msg::Done(Ok((client, admin))));
    for _ in 0..3 {
        press(&mut app, key(KeyCode::Tab));
    }
    tasks(&mut app);
    net(&mut app, WebhooksMsg::Loaded(Ok(webhooks())));
    app
}

fn login_answer() -> String {
    let pair = healthsynx_shared::api::TokenPair {
        access: "a".into(),
        refresh: "r".into(),
        token_type: "Bearer".into(),
        access_expires_in: 900,
        user: user(30, "Ada Admin", Role::Admin, None),
    };
    serde_json::to_string(&pair).unwrap()
}

/// Runs the one task queued, labelled `label`, and hands its result to the app.
fn run_task(app: &mut App, rt: &tokio::runtime::Runtime, label: &str) {
    let mut queued = app.take_tasks();
    assert_eq!(queued.iter().map(|t| t.label).collect::<Vec<_>>(), [label]);
    let done = rt.block_on(queued.remove(0).fut);
    app.update(done);
}

#[test]
fn creating_sends_the_url_and_the_checked_events() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut made = webhook(803, HOOK_URL, true, &[EventType::AppointmentCancelled]);
    made.secret = Some("whsec_abc".into());
    let server = StandIn::start(vec![login_answer(), serde_json::to_string(&made).unwrap()]);
    let mut app = admin_against(&server, &rt);
    press(&mut app, ch('a'));
    typed(&mut app, HOOK_URL);
    // Every event starts checked: uncheck all but the second.
    press(&mut app, ch(' '));
    press(&mut app, key(KeyCode::Down));
    for _ in 0..4 {
        press(&mut app, key(KeyCode::Down));
        press(&mut app, ch(' '));
    }
    press(&mut app, key(KeyCode::Enter));
    run_task(&mut app, &rt, "adding the webhook");
    let asked = server.asked();
    assert_eq!(asked[0].0, "POST /api/webhooks");
    let sent: healthsynx_shared::api::NewWebhook = serde_json::from_str(&asked[0].2).unwrap();
    assert_eq!(sent.url, HOOK_URL);
    assert_eq!(sent.events, [EventType::AppointmentCancelled]);
    assert!(sent.active);
    assert!(screen(&app).contains("whsec_abc"), "{}", screen(&app));
}

#[test]
fn disabling_and_enabling_patch_active_on_the_version_shown() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let off = webhook(801, HOOK_URL, false, &EventType::ALL);
    let on = Webhook { active: true, version: 8, ..webhooks()[1].clone() };
    let answers = [off, on].map(|w| serde_json::to_string(&w).unwrap());
    let server = StandIn::start(std::iter::once(login_answer()).chain(answers).collect());
    let mut app = admin_against(&server, &rt);
    press(&mut app, ch('d'));
    run_task(&mut app, &rt, "disabling the webhook");
    assert!(screen(&app).contains("Disabled: nothing more is sent to"), "{}", screen(&app));
    tasks(&mut app);
    press(&mut app, ch('j'));
    press(&mut app, ch('e'));
    run_task(&mut app, &rt, "enabling the webhook");
    let asked = server.asked();
    let patches: Vec<(&str, Option<&str>, &str)> =
        asked.iter().map(|(r, m, b)| (r.as_str(), m.as_deref(), b.as_str())).collect();
    assert_eq!(
        patches,
        [
            (format!("PATCH /api/webhooks/{}", id(801)).as_str(), Some("\"3\""), r#"{"active":false}"#),
            (format!("PATCH /api/webhooks/{}", id(802)).as_str(), Some("\"7\""), r#"{"active":true}"#),
        ]
    );
}
