//! Front desk: today's board (a department's doctors side by side, then its
//! rooms and devices, time down the left, buffers shaded), booking, moving,
//! cancelling, check-in, no-show, finding and registering patients, the
//! waitlist (answering offers for patients on the phone), and billing
//! (a completed visit becomes a draft invoice; `B` shows what is open).

use std::collections::BTreeSet;

use healthsynx_shared::api::{AppointmentAction, CatalogQuery, NewPatient, PatientCreated, PatientQuery, RangeQuery};
use healthsynx_shared::client::{Client, Fresh};
use healthsynx_shared::value::Email;
use healthsynx_shared::{
    Appointment, AppointmentStatus, Doctor, Page, Patient, PatientType, Problem, Resource, Slot, validate,
};
use jiff::Timestamp;
use jiff::civil::Date;
use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::{self, Ctx, Handled, View, explain};
use crate::components::Outcome;
use crate::components::billing::{self, BillingMsg, BillingView};
use crate::components::booking::{BookingFlow, BookingHost, BookingOutcome};
use crate::components::day_nav::{self, DayNav};
use crate::components::invoice::{self, InvoiceMsg, InvoicePanel};
use crate::components::refresh::{AutoRefresh, Etags};
use crate::components::waitlist::{self, WaitlistMsg, WaitlistPanel};
use crate::keys::{
    self, Binding, Cmd, ENTER, ENTER_ESC, ESC, FIELDS, Keymap, LIST_ARROWS, bind, char, is_down, is_left, is_right,
    is_up,
};
use crate::screens::Screen;
use crate::theme::{Theme, status_word};
use crate::time;
use crate::ui::{self, Field, Form, Pick};

pub enum Msg {
    Doctors(Result<Vec<Doctor>, Problem>),
    Rooms(Result<Vec<Resource>, Problem>),
    Board(Date, String, Result<Vec<ColumnUpdate>, Problem>),
    /// An appointment action finished; the text says what was done.
    Changed(&'static str, Result<Appointment, Problem>),
    Search(String, Result<Page<Patient>, Problem>),
    Registered(Result<PatientCreated, Problem>),
}

fn reply(m: Msg) -> app::Msg {
    app::Msg::new(m)
}

/// One doctor's day.
#[derive(Debug, Clone)]
pub struct Column {
    pub doctor: Doctor,
    pub appts: Vec<Appointment>,
    pub free: Vec<Slot>,
}

/// One doctor's day as the server answered a (conditional) load.
#[derive(Debug, Clone)]
pub struct ColumnUpdate {
    pub doctor: Doctor,
    pub appts: Fresh<Vec<Appointment>>,
    pub free: Fresh<Vec<Slot>>,
}

impl From<Column> for ColumnUpdate {
    fn from(c: Column) -> Self {
        let appts = Fresh::Changed { value: c.appts, etag: None };
        ColumnUpdate { doctor: c.doctor, appts, free: Fresh::Changed { value: c.free, etag: None } }
    }
}

/// What one board cell holds.
enum Cell<'a> {
    Appt(&'a Appointment),
    /// Inside a longer appointment that started earlier.
    Cont(&'a Appointment),
    /// Bookable; with the appointment that was cancelled there, if any.
    Free(Slot, Option<&'a Appointment>),
    /// Busy before or after a visit (preparing, cleaning up).
    Buffer(&'a Appointment),
    Empty,
}

enum Modal {
    None,
    Details,
    Booking(Box<BookingFlow>),
    Cancel(Field),
    Find { query: Field, results: Vec<Patient>, pick: Pick, card: Option<Patient> },
    Register(Form),
    Registered(Box<PatientCreated>),
    Waitlist(Box<WaitlistPanel>),
    Billing(Box<BillingView>),
    // A draft just made for a visit, over the board.
    Invoice(Box<InvoicePanel>),
}

pub struct FrontDesk {
    pub nav: DayNav,
    doctors: Vec<Doctor>,
    departments: Vec<String>,
    dept: usize,
    columns: Vec<Column>,
    /// Every active room and device; the board shows its department's
    /// after the doctors, filled from the doctors' calendars.
    rooms: Vec<Resource>,
    /// Start times of the rows, the union over all columns.
    rows: Vec<Timestamp>,
    col: usize,
    row: usize,
    refresh: AutoRefresh,
    /// A doctor and time to select once the board has loaded.
    focus: Option<(uuid::Uuid, Timestamp)>,
    modal: Modal,
    /// A draft invoice is being made for the selected visit; one at a time.
    drafting: bool,
}

#[derive(Debug, Clone, Copy)]
pub enum Act {
    Go,
    Details,
    BookHere,
    Book,
    CheckIn,
    AskCancel,
    Reschedule,
    NoShow,
    Find,
    NewPatient,
    Day,
    Department,
    Refresh,
    Close,
    ConfirmCancel,
    FindGo,
    OpenCard,
    CloseCard,
    BookFor,
    NextField,
    Register,
    Waitlist,
    Billing,
    BillVisit,
}

type B = Binding<FrontDesk, Act>;

fn on_appt(s: &FrontDesk) -> bool {
    s.selected_appt().is_some()
}

fn booked(s: &FrontDesk) -> bool {
    s.selected_appt().is_some_and(|a| a.status == AppointmentStatus::Scheduled)
}

/// A time held for a waitlist offer, answered from the waitlist panel.
fn held(s: &FrontDesk) -> bool {
    s.selected_appt().is_some_and(|a| a.status == AppointmentStatus::Held)
}

/// A completed visit, which may be billed (once: the server refuses a second invoice).
fn billable(s: &FrontDesk) -> bool {
    !s.drafting && s.selected_appt().is_some_and(|a| a.status == AppointmentStatus::Completed)
}

fn can_book(s: &FrontDesk) -> bool {
    !s.doctors.is_empty()
}

const BOARD: &[B] = &[
    bind(keys::GRID_TAB, "←→↑↓/Tab", "move", Act::Go).when(|s| s.width() > 1 || s.rows.len() > 1),
    bind(ENTER, "Enter", "details", Act::Details).when(on_appt),
    bind(ENTER, "Enter", "book here", Act::BookHere).when(|s| !on_appt(s) && can_book(s)),
    bind(&[char('b')], "b", "book", Act::Book).when(can_book),
    bind(&[char('c')], "c", "check in", Act::CheckIn).when(booked),
    bind(&[char('x')], "x", "cancel", Act::AskCancel).when(booked),
    bind(&[char('r')], "r", "move", Act::Reschedule).when(booked),
    bind(&[char('n')], "n", "no-show", Act::NoShow).when(booked),
    bind(&[char('$')], "$", "bill visit", Act::BillVisit).when(billable),
    bind(&[char('w')], "w", "waitlist", Act::Waitlist),
    bind(&[char('/')], "/", "find patient", Act::Find),
    bind(&[char('B')], "B", "billing", Act::Billing),
    bind(&[char('N')], "N", "new patient", Act::NewPatient),
    bind(day_nav::STEP, "[ ]", "day", Act::Day),
    bind(&[char('d')], "d", "department", Act::Department).when(|s| !s.departments.is_empty()),
    bind(day_nav::TODAY, "t", "today", Act::Day),
    bind(&[char('g')], "g", "refresh", Act::Refresh),
];
const DETAILS: &[B] = &[
    bind(&[char('c')], "c", "check in", Act::CheckIn).when(booked),
    bind(&[char('x')], "x", "cancel", Act::AskCancel).when(booked),
    bind(&[char('n')], "n", "no-show", Act::NoShow).when(booked),
    bind(&[char('r')], "r", "move", Act::Reschedule).when(booked),
    bind(&[char('w')], "w", "answer in the waitlist", Act::Waitlist).when(held),
    bind(&[char('$')], "$", "bill visit", Act::BillVisit).when(billable),
    bind(ENTER_ESC, "Enter/Esc", "close", Act::Close),
];
const CANCEL: &[B] =
    &[bind(ENTER, "Enter", "cancel appointment", Act::ConfirmCancel), bind(ESC, "Esc", "keep it", Act::Close)];
const FIND: &[B] = &[
    bind(LIST_ARROWS, "↑↓", "move", Act::FindGo)
        .when(|s| matches!(&s.modal, Modal::Find { results, .. } if results.len() > 1)),
    bind(ENTER, "Enter", "open", Act::OpenCard)
        .when(|s| matches!(&s.modal, Modal::Find { results, .. } if !results.is_empty())),
    bind(ESC, "Esc", "close", Act::Close),
];
const CARD: &[B] = &[
    bind(&[char('b')], "b", "book for this patient", Act::BookFor).when(can_book),
    bind(ESC, "Esc", "back", Act::CloseCard),
];
const REGISTER: &[B] = &[
    bind(FIELDS, "Tab/↑↓", "next field", Act::NextField),
    bind(ENTER, "Enter", "register", Act::Register),
    bind(ESC, "Esc", "cancel", Act::Close),
];
const REGISTERED: &[B] = &[
    bind(&[char('b')], "b", "book for this patient", Act::BookFor).when(can_book),
    bind(ENTER_ESC, "Enter/Esc", "close", Act::Close),
];

impl Keymap for FrontDesk {
    type Action = Act;

    fn bindings(&self) -> &'static [B] {
        match &self.modal {
            Modal::None => BOARD,
            Modal::Details => DETAILS,
            Modal::Cancel(_) => CANCEL,
            Modal::Find { card: None, .. } => FIND,
            Modal::Find { card: Some(_), .. } => CARD,
            Modal::Register(_) => REGISTER,
            Modal::Registered(_) => REGISTERED,
            // The flow and the panels answer their own keys.
            Modal::Booking(_) | Modal::Waitlist(_) | Modal::Billing(_) | Modal::Invoice(_) => &[],
        }
    }

    fn text_field(&self) -> Option<&'static str> {
        match &self.modal {
            Modal::Cancel(_) => Some("reason"),
            Modal::Find { card: None, .. } => Some("search"),
            Modal::Register(_) => Some("patient details"),
            _ => None,
        }
    }
}

impl BookingHost for FrontDesk {
    fn flow(&self) -> Option<&BookingFlow> {
        match &self.modal {
            Modal::Booking(flow) => Some(flow),
            _ => None,
        }
    }

    fn flow_mut(&mut self) -> Option<&mut BookingFlow> {
        match &mut self.modal {
            Modal::Booking(flow) => Some(flow),
            _ => None,
        }
    }

    fn after_booking(&mut self, out: BookingOutcome, ctx: &mut Ctx) -> Handled {
        match out {
            BookingOutcome::Ignored => return Handled::Ignored,
            BookingOutcome::Open => {}
            BookingOutcome::Closed => self.modal = Modal::None,
            BookingOutcome::Conflict => self.reload(ctx),
            BookingOutcome::Done(booked) => {
                let moved = matches!(&self.modal, Modal::Booking(f) if f.is_move());
                self.modal = Modal::None;
                let a = &booked.appointment;
                ctx.info(format!(
                    "{}: {} with {} on {}{}.",
                    if moved { "Moved" } else { "Booked" },
                    a.patient_name,
                    a.doctor_name,
                    time::day_hm(a.start, ctx.tz),
                    booked.more()
                ));
                let a = a.clone();
                self.show(&a, ctx);
            }
        }
        Handled::Consumed
    }
}

impl Screen for FrontDesk {
    fn title(&self) -> &'static str {
        "Front desk"
    }

    fn commands(&self) -> Vec<Cmd> {
        match &self.modal {
            Modal::Waitlist(panel) => panel.commands(),
            Modal::Billing(view) => view.commands(),
            Modal::Invoice(panel) => panel.commands(),
            _ => self.host_commands(),
        }
    }

    fn typing(&self) -> bool {
        match &self.modal {
            Modal::Billing(view) => view.typing(),
            Modal::Invoice(panel) => panel.typing(),
            _ => self.host_typing(),
        }
    }

    fn on_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> Handled {
        if let Some(handled) = self.key_to_flow(key, ctx) {
            return handled;
        }
        let panel = match &mut self.modal {
            Modal::Waitlist(panel) => Some(panel.handle_key(key, ctx)),
            Modal::Billing(view) => Some(view.handle_key(key, ctx)),
            Modal::Invoice(panel) => Some(panel.handle_key(key, ctx)),
            _ => None,
        };
        if let Some(out) = panel {
            return match out {
                Outcome::Open => Handled::Consumed,
                Outcome::Ignored => Handled::Ignored,
                Outcome::Closed => {
                    self.modal = Modal::None;
                    Handled::Consumed
                }
            };
        }
        match keys::action(self, &key) {
            Some(a) => self.act(a, key, ctx),
            None if self.text_field().is_some() => self.type_key(key, ctx),
            None => return Handled::Ignored,
        }
        Handled::Consumed
    }

    fn on_msg(&mut self, msg: app::Msg, ctx: &mut Ctx) {
        let msg = match msg.take::<Msg>() {
            Ok(m) => return self.on_result(m, ctx),
            Err(m) => m,
        };
        let msg = match msg.take::<WaitlistMsg>() {
            Ok(m) => return self.on_waitlist(m, ctx),
            Err(m) => m,
        };
        let msg = match msg.take::<BillingMsg>() {
            Ok(m) => return self.on_billing(m, ctx),
            Err(m) => m,
        };
        match msg.take::<InvoiceMsg>() {
            Ok(m) => self.on_invoice(m, ctx),
            Err(m) => self.msg_to_flow(m, ctx),
        }
    }

    fn on_tick(&mut self, ctx: &mut Ctx) {
        if let Modal::Waitlist(panel) = &mut self.modal {
            panel.drop_expired(ctx.now);
        }
        if !self.refresh.due(ctx.now) {
            return;
        }
        match &self.modal {
            Modal::None => self.load(false, ctx),
            Modal::Waitlist(panel) => {
                panel.load(ctx);
                self.load(false, ctx);
            }
            _ => {}
        }
    }

    fn draw(&self, f: &mut Frame, area: Rect, v: &View) {
        self.draw_board(f, area, v);
    }
}

impl FrontDesk {
    pub fn new(ctx: &mut Ctx) -> Self {
        let client = ctx.client.clone();
        ctx.spawn("loading doctors", async move { client.doctors(None).await }, |r| reply(Msg::Doctors(r)));
        let client = ctx.client.clone();
        let all = CatalogQuery::default();
        ctx.spawn("loading rooms", async move { client.resources(&all).await }, |r| reply(Msg::Rooms(r)));
        FrontDesk {
            nav: DayNav::today(ctx),
            doctors: Vec::new(),
            departments: Vec::new(),
            dept: 0,
            columns: Vec::new(),
            rooms: Vec::new(),
            rows: Vec::new(),
            col: 0,
            row: 0,
            refresh: AutoRefresh::default(),
            focus: None,
            modal: Modal::None,
            drafting: false,
        }
    }

    fn department(&self) -> Option<&str> {
        self.departments.get(self.dept).map(String::as_str)
    }

    /// Loads the board anew (nothing is taken as known).
    fn reload(&mut self, ctx: &mut Ctx) {
        self.load(true, ctx);
    }

    /// Loads the board; unless `fresh`, each column sends the `ETag`s it was last shown with.
    fn load(&mut self, fresh: bool, ctx: &mut Ctx) {
        let Some(dept) = self.department().map(str::to_owned) else { return };
        let doctors: Vec<Doctor> = self.doctors.iter().filter(|d| d.department == dept).cloned().collect();
        let (from, to) = time::days_range(self.nav.day, 1, ctx.tz);
        let client = ctx.client.clone();
        let day = self.nav.day;
        let etags = self.refresh.start(ctx.now, fresh);
        ctx.spawn("loading the board", load_board(client, doctors, RangeQuery { from, to }, etags), move |r| {
            reply(Msg::Board(day, dept, r))
        });
    }

    /// The department's rooms and devices, shown after its doctors.
    fn room_columns(&self) -> Vec<&Resource> {
        self.rooms.iter().filter(|r| Some(r.department.as_str()) == self.department()).collect()
    }

    /// Columns on the board: doctors, then rooms.
    fn width(&self) -> usize {
        self.columns.len() + self.room_columns().len()
    }

    /// Every visit on the board.
    fn all_appts(&self) -> impl Iterator<Item = &Appointment> {
        self.columns.iter().flat_map(|c| c.appts.iter())
    }

    fn cell(&self, col: usize, row: usize) -> Cell<'_> {
        if col >= self.columns.len() {
            return self.room_cell(col - self.columns.len(), row);
        }
        let (Some(c), Some(&t)) = (self.columns.get(col), self.rows.get(row)) else { return Cell::Empty };
        // What matters most at the desk wins: a live appointment, then a
        // bookable time (even where one was cancelled), then a cancellation.
        let at: Vec<&Appointment> = c.appts.iter().filter(|a| a.start == t).collect();
        if let Some(a) = at.iter().find(|a| a.status.holds_time()) {
            return Cell::Appt(a);
        }
        if let Some(a) = c.appts.iter().find(|a| a.status.holds_time() && a.start < t && t < a.end) {
            return Cell::Cont(a);
        }
        match (c.free.iter().find(|s| s.start == t), at.first()) {
            (Some(s), cancelled) => Cell::Free(*s, cancelled.copied()),
            (None, Some(a)) => Cell::Appt(a),
            (None, None) => buffer_at(c.appts.iter(), t),
        }
    }

    /// A room's cell: the live visit holding it then, or its buffer.
    fn room_cell(&self, i: usize, row: usize) -> Cell<'_> {
        let (Some(room), Some(&t)) = (self.room_columns().get(i).map(|r| r.id), self.rows.get(row)) else {
            return Cell::Empty;
        };
        let held: Vec<&Appointment> =
            self.all_appts().filter(|a| a.resource_id == Some(room) && a.status.holds_time()).collect();
        match held.iter().find(|a| a.start <= t && t < a.end) {
            Some(a) if a.start == t => Cell::Appt(a),
            Some(a) => Cell::Cont(a),
            None => buffer_at(held.into_iter(), t),
        }
    }

    fn selected_appt(&self) -> Option<&Appointment> {
        match self.cell(self.col, self.row) {
            Cell::Appt(a) | Cell::Cont(a) => Some(a),
            _ => None,
        }
    }

    fn act(&mut self, a: Act, key: KeyEvent, ctx: &mut Ctx) {
        match a {
            Act::Go => self.go(&key),
            Act::Details => self.modal = Modal::Details,
            Act::BookHere => self.book_here(ctx),
            Act::Book => self.start_booking(None),
            Act::CheckIn => self.act_on_appt(AppointmentAction::CheckIn, "Checked in", ctx),
            Act::NoShow => self.act_on_appt(AppointmentAction::NoShow, "Marked as no-show", ctx),
            Act::AskCancel => {
                self.modal = Modal::Cancel(Field::new("Reason").hint("e.g. patient called, feeling better"))
            }
            Act::Reschedule => {
                if let Some(a) = self.selected_appt().cloned() {
                    self.modal = Modal::Booking(Box::new(BookingFlow::reschedule(a, ctx)));
                }
            }
            Act::Find => {
                let query = Field::new("Find").hint("name, email or username");
                self.modal = Modal::Find { query, results: Vec::new(), pick: Pick::default(), card: None };
                self.search(ctx);
            }
            Act::NewPatient => self.modal = Modal::Register(register_form()),
            Act::Day => {
                self.nav.press(&key, 1, ctx);
                self.reload(ctx);
            }
            Act::Department => {
                self.dept = (self.dept + 1) % self.departments.len().max(1);
                self.col = 0;
                self.reload(ctx);
            }
            Act::Refresh => self.reload(ctx),
            Act::Close => self.modal = Modal::None,
            Act::ConfirmCancel => {
                if let Modal::Cancel(reason) = &self.modal {
                    let reason = reason.text().to_owned();
                    self.modal = Modal::None;
                    self.cancel(reason, ctx);
                }
            }
            Act::FindGo => {
                if let Modal::Find { results, pick, .. } = &mut self.modal {
                    pick.go(&key, results.len());
                }
            }
            Act::OpenCard => {
                if let Modal::Find { results, pick, card, .. } = &mut self.modal {
                    *card = results.get(pick.sel).cloned();
                }
            }
            Act::CloseCard => {
                if let Modal::Find { card, .. } = &mut self.modal {
                    *card = None;
                }
            }
            Act::BookFor => {
                let patient = match &self.modal {
                    Modal::Find { card: Some(p), .. } => Some((p.id, p.full_name.clone())),
                    Modal::Registered(c) => Some((c.patient.id, c.patient.full_name.clone())),
                    _ => None,
                };
                self.start_booking(patient);
            }
            Act::NextField => {
                if let Modal::Register(form) = &mut self.modal {
                    form.handle(&key);
                }
            }
            Act::Register => {
                if let Modal::Register(form) = &self.modal {
                    let form = form.clone();
                    self.register(&form, ctx);
                }
            }
            Act::Waitlist => {
                // Opened on a held time, its offer is the one selected.
                let focus = self.selected_appt().filter(|a| a.status == AppointmentStatus::Held).map(|a| a.id);
                self.modal = Modal::Waitlist(Box::new(WaitlistPanel::open(self.doctors.clone(), focus, ctx)));
            }
            Act::Billing => self.modal = Modal::Billing(Box::new(BillingView::open(ctx))),
            Act::BillVisit => {
                if let Some(a) = self.selected_appt() {
                    billing::draft_for(a, ctx);
                    self.drafting = true;
                }
            }
        }
    }

    /// A billing result: the view takes it if open; a draft made for a
    /// visit opens over the board (unless something else was opened meanwhile).
    fn on_billing(&mut self, msg: BillingMsg, ctx: &mut Ctx) {
        match msg {
            BillingMsg::Drafted(r) => {
                self.drafting = false;
                billing::report_draft(&r, ctx);
                if let (Ok(inv), Modal::None | Modal::Details) = (r, &self.modal) {
                    self.modal = Modal::Invoice(Box::new(InvoicePanel::with(inv, true)));
                }
            }
            BillingMsg::Loaded(r) => {
                if let Modal::Billing(view) = &mut self.modal {
                    view.on_loaded(r, ctx);
                }
            }
        }
    }

    /// An invoice result, for the panel that is open (or only told).
    fn on_invoice(&mut self, msg: InvoiceMsg, ctx: &mut Ctx) {
        match &mut self.modal {
            Modal::Billing(view) => view.on_invoice(msg, ctx),
            Modal::Invoice(panel) => {
                panel.on_msg(msg, ctx);
            }
            _ => {
                invoice::report(&msg, ctx);
            }
        }
    }

    /// A waitlist result: the panel takes it if open, else only its outcome
    /// is told; after an answer the board shows the time as it now is.
    fn on_waitlist(&mut self, msg: WaitlistMsg, ctx: &mut Ctx) {
        let answered = match &mut self.modal {
            Modal::Waitlist(panel) => panel.on_msg(msg, ctx),
            _ => waitlist::report(&msg, ctx),
        };
        if answered {
            self.reload(ctx);
        }
    }

    /// A key for the field being typed into.
    fn type_key(&mut self, key: KeyEvent, ctx: &mut Ctx) {
        match &mut self.modal {
            Modal::Cancel(reason) => {
                reason.handle(&key);
            }
            Modal::Register(form) => {
                form.handle(&key);
            }
            Modal::Find { query, pick, .. } => {
                if !query.handle(&key) {
                    return;
                }
                *pick = Pick::default();
                self.search(ctx);
            }
            _ => {}
        }
    }

    fn go(&mut self, key: &KeyEvent) {
        let cols = self.width();
        if is_up(key) {
            self.row = self.row.saturating_sub(1);
        } else if is_down(key) {
            self.row = (self.row + 1).min(self.rows.len().saturating_sub(1));
        } else if is_left(key) {
            self.col = self.col.saturating_sub(1);
        } else if is_right(key) || key.code == KeyCode::Tab {
            self.col = if cols == 0 { 0 } else { (self.col + 1) % cols };
        }
    }

    fn book_here(&mut self, ctx: &mut Ctx) {
        let doctor = self.columns.get(self.col).map(|c| c.doctor.clone());
        match (self.cell(self.col, self.row), doctor) {
            (Cell::Free(slot, _), Some(doctor)) => {
                self.modal = Modal::Booking(Box::new(BookingFlow::at_slot(doctor, slot, ctx).with_series()));
            }
            _ => self.start_booking(None),
        }
    }

    fn start_booking(&mut self, patient: Option<(uuid::Uuid, String)>) {
        if self.doctors.is_empty() {
            return;
        }
        let pre = self.columns.get(self.col).map(|c| c.doctor.id);
        self.modal = Modal::Booking(Box::new(BookingFlow::new(self.doctors.clone(), pre, patient).with_series()));
    }

    /// Check-in, no-show: one call on the selected appointment.
    fn act_on_appt(&mut self, action: AppointmentAction, done: &'static str, ctx: &mut Ctx) {
        self.modal = Modal::None;
        let Some(id) = self.selected_appt().map(|a| a.id) else { return };
        let client = ctx.client.clone();
        ctx.spawn(done, async move { client.appointment_action(id, action).await }, move |r| {
            reply(Msg::Changed(done, r))
        });
    }

    fn search(&mut self, ctx: &mut Ctx) {
        let Modal::Find { query, .. } = &self.modal else { return };
        let q = query.text().to_owned();
        let client = ctx.client.clone();
        let pq = PatientQuery { q: (!q.is_empty()).then(|| q.clone()), limit: Some(50), cursor: None };
        ctx.spawn("searching patients", async move { client.patients(&pq).await }, move |r| reply(Msg::Search(q, r)));
    }

    fn cancel(&mut self, reason: String, ctx: &mut Ctx) {
        let Some(id) = self.selected_appt().map(|a| a.id) else { return };
        let client = ctx.client.clone();
        ctx.spawn("cancelling", async move { client.cancel(id, &reason).await }, |r| {
            reply(Msg::Changed("Cancelled", r))
        });
    }

    fn register(&mut self, form: &Form, ctx: &mut Ctx) {
        let new = match new_patient(form) {
            Ok(n) => n,
            Err(e) => {
                ctx.error(e);
                return;
            }
        };
        let client = ctx.client.clone();
        ctx.spawn("registering the patient", async move { client.create_patient(&new).await }, |r| {
            reply(Msg::Registered(r))
        });
    }

    /// Moves the board to an appointment's day and department and selects it.
    fn show(&mut self, a: &Appointment, ctx: &mut Ctx) {
        self.nav.day = time::date_of(a.start, ctx.tz);
        if let Some(i) = self.departments.iter().position(|d| *d == a.department) {
            self.dept = i;
        }
        self.focus = Some((a.doctor_id, a.start));
        self.reload(ctx);
    }

    fn on_result(&mut self, msg: Msg, ctx: &mut Ctx) {
        match msg {
            Msg::Doctors(Ok(doctors)) => {
                let depts: BTreeSet<String> = doctors.iter().map(|d| d.department.clone()).collect();
                self.departments = depts.into_iter().collect();
                self.doctors = doctors;
                self.reload(ctx);
            }
            Msg::Doctors(Err(p)) => ctx.problem("Could not load the doctors", &p),
            Msg::Rooms(Ok(rooms)) => self.rooms = rooms,
            Msg::Rooms(Err(p)) => ctx.problem("Could not load the rooms", &p),
            Msg::Board(day, dept, r) => {
                if day != self.nav.day || Some(dept.as_str()) != self.department() {
                    return; // an older request; a newer one is on its way
                }
                self.refresh.finish();
                match r {
                    Ok(updates) => self.update_columns(updates),
                    Err(p) => ctx.problem("Could not load the board", &p),
                }
            }
            Msg::Changed(done, Ok(a)) => {
                ctx.info(format!("{done}: {} ({} with {}).", a.patient_name, time::hm(a.start, ctx.tz), a.doctor_name));
                self.reload(ctx);
            }
            Msg::Changed(done, Err(p)) => {
                let what = done.to_lowercase();
                ctx.error(format!("Not {what}: {}. The board has been refreshed.", explain(&p)));
                self.reload(ctx);
            }
            Msg::Search(q, r) => {
                if let Modal::Find { query, results, pick, .. } = &mut self.modal
                    && q == query.text()
                {
                    match r {
                        Ok(page) => {
                            *results = page.items;
                            pick.clamp(results.len());
                        }
                        Err(p) => ctx.problem("Search failed", &p),
                    }
                }
            }
            Msg::Registered(Ok(created)) => {
                self.modal = Modal::Registered(Box::new(created));
            }
            Msg::Registered(Err(p)) => ctx.problem("Not registered", &p),
        }
    }

    /// Takes what changed; where the server answered 304, the column stays as shown.
    fn update_columns(&mut self, updates: Vec<ColumnUpdate>) {
        let mut changed = updates.len() != self.columns.len();
        let mut columns = Vec::with_capacity(updates.len());
        for u in updates {
            let old = self.columns.iter().find(|c| c.doctor.id == u.doctor.id);
            let appts = self.refresh.keep(&format!("calendar {}", u.doctor.id), u.appts);
            let free = self.refresh.keep(&format!("slots {}", u.doctor.id), u.free);
            changed |= appts.is_some() || free.is_some() || old.is_none();
            let appts = appts.or_else(|| old.map(|c| c.appts.clone())).unwrap_or_default();
            let free = free.or_else(|| old.map(|c| c.free.clone())).unwrap_or_default();
            columns.push(Column { doctor: u.doctor, appts, free });
        }
        if changed {
            self.set_columns(columns);
        }
    }

    fn set_columns(&mut self, columns: Vec<Column>) {
        let mut rows = BTreeSet::new();
        for c in &columns {
            rows.extend(c.appts.iter().map(|a| a.start));
            rows.extend(c.free.iter().map(|s| s.start));
            // A buffer gets a row where it starts, so its shading shows.
            for a in c.appts.iter().filter(|a| a.status.holds_time()) {
                rows.extend((a.buffer_before > 0).then(|| a.busy().0));
                rows.extend((a.buffer_after > 0).then_some(a.end));
            }
        }
        self.rows = rows.into_iter().collect();
        self.columns = columns;
        if let Some((doctor, start)) = self.focus.take() {
            self.col = self.columns.iter().position(|c| c.doctor.id == doctor).unwrap_or(self.col);
            self.row = self.rows.iter().position(|t| *t == start).unwrap_or(self.row);
        }
        self.col = self.col.min(self.width().saturating_sub(1));
        self.row = self.row.min(self.rows.len().saturating_sub(1));
    }

    fn draw_board(&self, f: &mut Frame, area: Rect, v: &View) {
        let t = v.theme;
        let when = self.nav.title(v);
        let dept = self.department().unwrap_or("…");
        let title = format!("{dept} · {when}");
        let b = ui::block(title, t);
        let inner = b.inner(area);
        f.render_widget(b, area);
        let [grid, legend] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(inner);
        self.draw_grid(f, grid, v);
        f.render_widget(Paragraph::new(legend_line(t)), legend);
        self.draw_modal(f, area, v);
    }

    fn draw_grid(&self, f: &mut Frame, area: Rect, v: &View) {
        let t = v.theme;
        if self.columns.is_empty() || self.rows.is_empty() {
            let text = if self.refresh.loading() {
                "Loading the board…".to_owned()
            } else {
                format!(
                    "Nothing booked and no free times on {}. Press ] for the next day, d for another department.",
                    time::day(self.nav.day)
                )
            };
            f.render_widget(
                Paragraph::new(Span::styled(text, t.dim())).wrap(ratatui::widgets::Wrap { trim: true }),
                area,
            );
            return;
        }
        const TIME_W: usize = 6;
        let width = area.width as usize;
        let cols = self.width();
        let per = ((width - TIME_W.min(width)) / cols).clamp(16, 30);
        let visible = ((width.saturating_sub(TIME_W)) / per).max(1);
        let first_col = self.col.saturating_sub(visible - 1);
        let body_h = (area.height as usize).saturating_sub(1).max(1);
        let first_row = self.row.saturating_sub(body_h - 1);
        let mut lines = Vec::new();
        let mut head = vec![Span::styled(format!("{:<TIME_W$}", "Time"), t.title())];
        let names = self.columns.iter().map(|c| c.doctor.full_name.clone());
        let names: Vec<String> = names.chain(self.room_columns().iter().map(|r| format!("▣ {}", r.name))).collect();
        for (i, name) in names.iter().enumerate().skip(first_col).take(visible) {
            let style = if i == self.col { t.focus() } else { t.title() };
            head.push(Span::styled(format!("{:<per$}", ui::fit(name, per - 1)), style));
        }
        if first_col + visible < cols {
            head.push(Span::styled("→", t.dim()));
        }
        lines.push(Line::from(head));
        for (r, ts) in self.rows.iter().enumerate().skip(first_row).take(body_h) {
            let mut spans = vec![Span::raw(format!("{:<TIME_W$}", time::hm(*ts, v.tz)))];
            for c in first_col..(first_col + visible).min(cols) {
                let (text, style) = cell_text(self.cell(c, r), t);
                let mut style = style;
                if c == self.col && r == self.row {
                    style = style.patch(t.selected());
                }
                spans.push(Span::styled(format!("{:<w$}", ui::fit(&text, per - 1), w = per - 1), style));
                spans.push(Span::raw(" "));
            }
            lines.push(Line::from(spans));
        }
        f.render_widget(Paragraph::new(lines), area);
    }

    fn draw_modal(&self, f: &mut Frame, area: Rect, v: &View) {
        let t = v.theme;
        match &self.modal {
            Modal::None => {}
            Modal::Booking(flow) => flow.draw(f, area, v),
            Modal::Waitlist(panel) => panel.draw(f, area, v),
            Modal::Billing(view) => view.draw(f, area, v),
            Modal::Invoice(panel) => panel.draw(f, area, v),
            Modal::Details => {
                if let Some(a) = self.selected_appt() {
                    let mut lines = appt_lines(a, v);
                    if a.status == AppointmentStatus::Held {
                        let text = "Held for the patient by a waitlist offer, not yet booked.";
                        lines.push(Line::from(Span::styled(text, t.dim())));
                    }
                    ui::draw_popup(f, area, "Appointment", lines, 64, t);
                }
            }
            Modal::Cancel(reason) => {
                let mut lines = Vec::new();
                if let Some(a) = self.selected_appt() {
                    lines.push(Line::from(format!(
                        "Cancel {} at {} with {}?",
                        a.patient_name,
                        time::day_hm(a.start, v.tz),
                        a.doctor_name
                    )));
                }
                lines.push(reason.line(t, true, 6));
                lines.push(Line::from(Span::styled("Enter cancels it; Esc keeps it.", t.dim())));
                ui::draw_popup(f, area, "Cancel appointment", lines, 70, t);
            }
            Modal::Find { query, results, pick, card: None } => {
                let r = ui::popup(f, area, 76, area.height.saturating_sub(2).min(26));
                let b = ui::block("Find a patient", t);
                let inner = b.inner(r);
                f.render_widget(b, r);
                let [q, list] = Layout::vertical([Constraint::Length(1), Constraint::Min(2)]).areas(inner);
                f.render_widget(Paragraph::new(query.line(t, true, 4)), q);
                let rows = results
                    .iter()
                    .map(|p| Line::from(format!("{:<24} {}  {}", ui::fit(&p.full_name, 24), p.date_of_birth, p.email)))
                    .collect();
                ui::draw_list(f, list, "Patients", rows, *pick, t, true);
            }
            Modal::Find { card: Some(p), .. } => {
                let mut lines = patient_lines(p);
                lines.push(Line::raw(""));
                lines.push(Line::from(Span::styled("b books an appointment for this patient.", t.dim())));
                ui::draw_popup(f, area, "Patient", lines, 64, t);
            }
            Modal::Register(form) => {
                let mut lines = form.lines(t);
                lines.push(Line::raw(""));
                lines.push(Line::from(Span::styled(
                    "With no password the patient gets a one-time activation code.",
                    t.dim(),
                )));
                ui::draw_popup(f, area, "Register a patient", lines, 70, t);
            }
            Modal::Registered(c) => {
                let mut lines = vec![Line::from(format!("Registered {}.", c.patient.full_name))];
                match &c.activation_token {
                    Some(tok) => {
                        lines.push(Line::from("Give the patient this one-time activation code:"));
                        lines.push(Line::from(Span::styled(tok.token.clone(), t.key())));
                        lines.push(Line::from(format!("It works until {}.", time::full(tok.expires_at, v.tz))));
                    }
                    None => lines.push(Line::from("They can log in with the password given.")),
                }
                lines.push(Line::from(Span::styled("b books an appointment for them.", t.dim())));
                ui::draw_popup(f, area, "Patient registered", lines, 70, t);
            }
        }
    }
}

async fn load_board(
    client: Client,
    doctors: Vec<Doctor>,
    range: RangeQuery,
    etags: Etags,
) -> Result<Vec<ColumnUpdate>, Problem> {
    let mut columns = Vec::with_capacity(doctors.len());
    for doctor in doctors {
        let tag = |what: &str| etags.get(&format!("{what} {}", doctor.id)).map(String::as_str);
        let appts = client.calendar_if_changed(doctor.id, &range, tag("calendar")).await?;
        let free = client.slots_if_changed(doctor.id, &range, tag("slots")).await?;
        columns.push(ColumnUpdate { doctor, appts, free });
    }
    Ok(columns)
}

fn cell_text(cell: Cell<'_>, t: Theme) -> (String, Style) {
    match cell {
        Cell::Appt(a) => (format!("{} · {}", a.patient_name, status_word(a.status)), t.status(a.status)),
        Cell::Cont(a) => (format!("  ┆ {}", a.patient_name), t.status(a.status)),
        Cell::Free(_, None) => ("free".to_owned(), t.free()),
        Cell::Free(_, Some(a)) => (format!("free ({} cancelled)", a.patient_name), t.free()),
        Cell::Buffer(a) => (format!("░░ buffer · {}", a.patient_name), t.buffer()),
        Cell::Empty => (String::new(), Style::new()),
    }
}

/// The buffer (busy time before or after a live visit) that `t` falls in, if any.
fn buffer_at<'a>(mut appts: impl Iterator<Item = &'a Appointment>, t: Timestamp) -> Cell<'a> {
    let in_buffer = |a: &&Appointment| {
        let (from, to) = a.busy();
        a.status.holds_time() && from <= t && t < to && !(a.start <= t && t < a.end)
    };
    appts.find(in_buffer).map_or(Cell::Empty, Cell::Buffer)
}

fn legend_line(t: Theme) -> Line<'static> {
    use AppointmentStatus::*;
    let mut spans = vec![Span::styled("free ", t.free()), Span::styled("░ buffer ", t.buffer())];
    for s in [Scheduled, CheckedIn, Completed, NoShow, Cancelled, Held] {
        spans.push(Span::styled(status_word(s), t.status(s)));
        spans.push(Span::raw(" "));
    }
    Line::from(spans)
}

/// An appointment's facts, for detail pop-ups.
pub fn appt_lines(a: &Appointment, v: &View) -> Vec<Line<'static>> {
    vec![
        Line::from(format!("Patient: {}", a.patient_name)),
        Line::from(format!("Doctor:  {} ({})", a.doctor_name, a.department)),
        Line::from(format!("When:    {}–{}", time::day_hm(a.start, v.tz), time::hm(a.end, v.tz))),
        Line::from(vec![Span::raw("Status:  "), Span::styled(status_word(a.status), v.theme.status(a.status))]),
        Line::from(format!("Reason:  {}", if a.reason.is_empty() { "—" } else { &a.reason })),
    ]
}

/// A patient's profile, for cards.
pub fn patient_lines(p: &Patient) -> Vec<Line<'static>> {
    let kind = match p.patient_type {
        PatientType::Outpatient => "outpatient",
        PatientType::Inpatient => "inpatient",
    };
    vec![
        Line::from(format!("Name:      {}", p.full_name)),
        Line::from(format!("Born:      {}", p.date_of_birth)),
        Line::from(format!("Phone:     {}", p.phone)),
        Line::from(format!("Email:     {}", p.email)),
        Line::from(format!("Insurance: {}", p.insurance_id.as_deref().unwrap_or("—"))),
        Line::from(format!("Type:      {kind}")),
    ]
}

fn register_form() -> Form {
    Form::new(vec![
        Field::new("Full name"),
        Field::new("Email"),
        Field::new("Date of birth").hint("YYYY-MM-DD"),
        Field::new("Phone").hint("+49 30 1234567"),
        Field::new("Insurance ID").hint("optional"),
        Field::new("Type").with("outpatient").hint("outpatient or inpatient"),
        Field::new("Password").masked().hint("optional"),
    ])
}

/// Checks the form here first, so the user hears "bad date" without a round trip.
fn new_patient(form: &Form) -> Result<NewPatient, String> {
    let name = form.value(0);
    let email = form.value(1);
    let dob = form.value(2);
    let phone = form.value(3);
    validate::text(name, validate::MAX_SHORT_TEXT).map_err(|e| format!("Full name {e}."))?;
    let email = Email::parse(email).map_err(|e| format!("Email {e}."))?;
    if dob.parse::<Date>().is_err() {
        return Err("Date of birth must look like 1984-05-17.".into());
    }
    validate::phone(phone).map_err(|e| format!("Phone {e}."))?;
    let patient_type = match form.value(5) {
        "inpatient" => PatientType::Inpatient,
        "outpatient" | "" => PatientType::Outpatient,
        _ => return Err("Type must be outpatient or inpatient.".into()),
    };
    let insurance = form.value(4);
    let password = form.fields.get(6).map(|f| f.value.clone()).filter(|p| !p.is_empty());
    Ok(NewPatient {
        email,
        full_name: name.to_owned(),
        date_of_birth: dob.to_owned(),
        phone: phone.to_owned(),
        insurance_id: (!insurance.is_empty()).then(|| insurance.to_owned()),
        patient_type,
        password,
    })
}
