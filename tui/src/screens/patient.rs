//! Patient: my upcoming and past appointments, booking from free slots,
//! cancelling inside the cancel window, the waitlist (joining it, leaving
//! it, answering the times it offers me), my records (read-only), who
//! looked at my data, and my bills (read-only, each saved as a PDF).

use healthsynx_shared::api::{AppointmentQuery, InvoiceQuery, Me, PageQuery, RecordQuery};
use healthsynx_shared::{
    AccessLogEntry, Appointment, AppointmentStatus, Doctor, Invoice, MedicalRecord, Offer, Page, Problem, WaitlistEntry,
};
use jiff::{SignedDuration, Timestamp};
use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Tabs, Wrap};

use crate::app::{self, Ctx, Handled, View};
use crate::components::Outcome;
use crate::components::booking::{BookingFlow, BookingHost, BookingOutcome};
use crate::components::chart::record_lines;
use crate::components::invoice::{self, InvoiceMsg, InvoicePanel};
use crate::components::refresh::AutoRefresh;
use crate::components::waitlist::{self, JoinForm, Waitlist};
use crate::keys::{self, Binding, Cmd, ENTER, ENTER_ESC, ESC, Keymap, LEFT_RIGHT, LIST, LIST_ARROWS, TAB, bind, char};
use crate::screens::Screen;
use crate::theme::status_word;
use crate::time;
use crate::ui::{self, Field, Pick};

/// The API's default cancel window. The server holds the real setting and
/// refuses a late cancel; this only lets us say so before the user tries.
pub const CANCEL_HOURS: i64 = 24;

pub enum Msg {
    Me(Result<Me, Problem>),
    Appointments(Result<Page<Appointment>, Problem>),
    Records(Result<Page<MedicalRecord>, Problem>),
    AccessLog(Result<Page<AccessLogEntry>, Problem>),
    /// My issued invoices and credit notes (the server hides drafts from patients).
    Bills(Result<Page<Invoice>, Problem>),
    Doctors(Result<Vec<Doctor>, Problem>),
    Cancelled(Result<Appointment, Problem>),
    /// My open offers and my live waitlist entries.
    Waitlist(Result<Waitlist, Problem>),
    Accepted(Result<Appointment, Problem>),
    Declined(Result<Offer, Problem>),
    Joined(Result<WaitlistEntry, Problem>),
    /// Left the waitlist for whom it names.
    Left(String, Result<(), Problem>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Upcoming,
    Past,
    Waitlist,
    Records,
    AccessLog,
    Bills,
}

const TABS: [Tab; 6] = [Tab::Upcoming, Tab::Past, Tab::Waitlist, Tab::Records, Tab::AccessLog, Tab::Bills];

impl Tab {
    fn title(self) -> &'static str {
        match self {
            Tab::Upcoming => "Upcoming",
            Tab::Past => "Past",
            Tab::Waitlist => "Waitlist",
            Tab::Records => "My records",
            Tab::AccessLog => "Who looked at my data",
            Tab::Bills => "My bills",
        }
    }
}

enum Modal {
    None,
    Booking(Box<BookingFlow>),
    Cancel(Field),
    Record,
    Join(Box<JoinForm>),
    /// Asking before leaving the selected waitlist entry.
    Leave,
    /// A bill, read-only.
    Invoice(Box<InvoicePanel>),
}

pub struct PatientHome {
    pub tab: Tab,
    me: Option<Me>,
    upcoming: Vec<Appointment>,
    past: Vec<Appointment>,
    /// Open offers, soonest to expire first; the first is shown at the top.
    offers: Vec<Offer>,
    waitlist: Vec<WaitlistEntry>,
    records: Vec<MedicalRecord>,
    log: Vec<AccessLogEntry>,
    /// Newest first.
    bills: Vec<Invoice>,
    doctors: Vec<Doctor>,
    picks: [Pick; TABS.len()],
    modal: Modal,
    /// An answer to the offer is on its way; one at a time.
    answering: bool,
    /// Offers come when times free up, so the waitlist and my appointments reload now and then.
    refresh: AutoRefresh,
}

fn reply(m: Msg) -> app::Msg {
    app::Msg::new(m)
}

#[derive(Debug, Clone, Copy)]
pub enum Act {
    NextTab,
    Go,
    Book,
    AskCancel,
    Read,
    Refresh,
    ConfirmCancel,
    Close,
    Accept,
    Decline,
    Join,
    JoinGo,
    Within,
    ConfirmJoin,
    AskLeave,
    ConfirmLeave,
    OpenBill,
    SaveBill,
}

type B = Binding<PatientHome, Act>;

/// An offer to answer, and no answer on its way.
fn may_answer(s: &PatientHome) -> bool {
    s.offer().is_some() && !s.answering
}

fn join_form(s: &PatientHome) -> Option<&JoinForm> {
    match &s.modal {
        Modal::Join(form) => Some(form),
        _ => None,
    }
}

const TAB_KEYS: &[B] = &[
    bind(&[char('a')], "a", "accept", Act::Accept).when(may_answer),
    bind(&[char('d')], "d", "decline", Act::Decline).when(may_answer),
    bind(TAB, "Tab", "next tab", Act::NextTab),
    bind(LIST, "↑↓/jk", "move", Act::Go).when(|s| s.len() > 1),
    bind(&[char('b')], "b", "book", Act::Book).when(|s| matches!(s.tab, Tab::Upcoming | Tab::Past)),
    bind(&[char('x')], "x", "cancel", Act::AskCancel)
        .when(|s| s.selected_upcoming().is_some_and(|a| a.status == AppointmentStatus::Scheduled)),
    bind(ENTER, "Enter", "open bill", Act::OpenBill).when(|s| s.selected_bill().is_some()),
    bind(&[char('s')], "s", "save PDF", Act::SaveBill).when(|s| s.selected_bill().is_some()),
    bind(&[char('w')], "w", "join waitlist", Act::Join).when(|s| !s.doctors.is_empty()),
    bind(&[char('x')], "x", "leave waitlist", Act::AskLeave).when(|s| s.selected_entry().is_some()),
    bind(ENTER, "Enter", "read", Act::Read).when(|s| s.tab == Tab::Records && !s.records.is_empty()),
    bind(&[char('g')], "g", "refresh", Act::Refresh),
];
const CANCEL_KEYS: &[B] =
    &[bind(ENTER, "Enter", "cancel it", Act::ConfirmCancel), bind(ESC, "Esc", "keep it", Act::Close)];
const RECORD_KEYS: &[B] = &[bind(ENTER_ESC, "Enter/Esc", "close", Act::Close)];
const JOIN_KEYS: &[B] = &[
    bind(LIST_ARROWS, "↑↓", "doctor", Act::JoinGo).when(|s| join_form(s).is_some_and(|f| f.choices() > 1)),
    bind(LEFT_RIGHT, "←→", "how far ahead", Act::Within),
    bind(ENTER, "Enter", "join", Act::ConfirmJoin).when(|s| join_form(s).is_some_and(|f| !f.busy)),
    bind(ESC, "Esc", "cancel", Act::Close),
];
const LEAVE_KEYS: &[B] =
    &[bind(ENTER, "Enter", "leave waitlist", Act::ConfirmLeave), bind(ESC, "Esc", "stay on it", Act::Close)];

impl Keymap for PatientHome {
    type Action = Act;

    fn bindings(&self) -> &'static [B] {
        match &self.modal {
            Modal::None => TAB_KEYS,
            Modal::Cancel(_) => CANCEL_KEYS,
            Modal::Record => RECORD_KEYS,
            Modal::Join(_) => JOIN_KEYS,
            Modal::Leave => LEAVE_KEYS,
            // The flow and the bill answer their own keys.
            Modal::Booking(_) | Modal::Invoice(_) => &[],
        }
    }

    fn text_field(&self) -> Option<&'static str> {
        match self.modal {
            Modal::Cancel(_) => Some("reason"),
            Modal::Join(_) => Some("note"),
            _ => None,
        }
    }
}

impl BookingHost for PatientHome {
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
            BookingOutcome::Open | BookingOutcome::Conflict => {}
            BookingOutcome::Closed => self.modal = Modal::None,
            BookingOutcome::Done(booked) => {
                self.modal = Modal::None;
                self.tab = Tab::Upcoming;
                let a = &booked.appointment;
                let (doctor, when, more) = (&a.doctor_name, time::day_hm(a.start, ctx.tz), booked.more());
                ctx.info(format!("Booked with {doctor} on {when}{more}."));
                self.reload(ctx);
            }
        }
        Handled::Consumed
    }
}

impl Screen for PatientHome {
    fn title(&self) -> &'static str {
        "My health"
    }

    fn commands(&self) -> Vec<Cmd> {
        match &self.modal {
            Modal::Invoice(panel) => panel.commands(),
            _ => self.host_commands(),
        }
    }

    fn typing(&self) -> bool {
        self.host_typing()
    }

    fn on_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> Handled {
        if let Some(handled) = self.key_to_flow(key, ctx) {
            return handled;
        }
        if let Modal::Invoice(panel) = &mut self.modal {
            return match panel.handle_key(key, ctx) {
                Outcome::Open => Handled::Consumed,
                Outcome::Ignored => Handled::Ignored,
                Outcome::Closed => {
                    self.modal = Modal::None;
                    Handled::Consumed
                }
            };
        }
        match (keys::action(self, &key), &mut self.modal) {
            (Some(a), _) => self.act(a, key, ctx),
            (None, Modal::Cancel(reason)) => {
                reason.handle(&key);
            }
            (None, Modal::Join(form)) => {
                form.note.handle(&key);
            }
            (None, _) => return Handled::Ignored,
        }
        Handled::Consumed
    }

    fn on_msg(&mut self, msg: app::Msg, ctx: &mut Ctx) {
        let msg = match msg.take::<Msg>() {
            Ok(m) => return self.on_result(m, ctx),
            Err(m) => m,
        };
        match msg.take::<InvoiceMsg>() {
            // A bill is only read here; only the PDF comes back.
            Ok(m) => match &mut self.modal {
                Modal::Invoice(panel) => {
                    panel.on_msg(m, ctx);
                }
                _ => {
                    invoice::report(&m, ctx);
                }
            },
            Err(m) => self.msg_to_flow(m, ctx),
        }
    }

    fn on_tick(&mut self, ctx: &mut Ctx) {
        // A hold that ran out is no longer mine to accept.
        self.offers.retain(|o| o.expires_at > ctx.now);
        if self.refresh.due(ctx.now) {
            self.load_appointments(ctx);
            self.load_waitlist(ctx);
        }
    }

    fn draw(&self, f: &mut Frame, area: Rect, v: &View) {
        self.draw_tabs(f, area, v);
    }
}

impl PatientHome {
    pub fn new(ctx: &mut Ctx) -> Self {
        let client = ctx.client.clone();
        ctx.spawn("loading my profile", async move { client.me().await }, |r| reply(Msg::Me(r)));
        let client = ctx.client.clone();
        ctx.spawn("loading doctors", async move { client.doctors(None).await }, |r| reply(Msg::Doctors(r)));
        let mut p = PatientHome {
            tab: Tab::Upcoming,
            me: None,
            upcoming: Vec::new(),
            past: Vec::new(),
            offers: Vec::new(),
            waitlist: Vec::new(),
            records: Vec::new(),
            log: Vec::new(),
            bills: Vec::new(),
            doctors: Vec::new(),
            picks: [Pick::default(); TABS.len()],
            modal: Modal::None,
            answering: false,
            refresh: AutoRefresh::default(),
        };
        p.reload(ctx);
        p
    }

    fn reload(&mut self, ctx: &mut Ctx) {
        // The server scopes every list to this patient.
        self.load_appointments(ctx);
        self.load_waitlist(ctx);
        let client = ctx.client.clone();
        let q = RecordQuery { limit: Some(200), ..RecordQuery::default() };
        ctx.spawn("loading my records", async move { client.records(&q).await }, |r| reply(Msg::Records(r)));
        let client = ctx.client.clone();
        let q = PageQuery { limit: Some(200), cursor: None };
        ctx.spawn("loading who looked at my data", async move { client.my_access_log(&q).await }, |r| {
            reply(Msg::AccessLog(r))
        });
        let client = ctx.client.clone();
        let q = InvoiceQuery { limit: Some(200), ..InvoiceQuery::default() };
        ctx.spawn("loading my bills", async move { client.invoices(&q).await }, |r| reply(Msg::Bills(r)));
    }

    fn load_appointments(&self, ctx: &mut Ctx) {
        let client = ctx.client.clone();
        let q = AppointmentQuery { limit: Some(500), ..AppointmentQuery::default() };
        ctx.spawn("loading my appointments", async move { client.appointments(&q).await }, |r| {
            reply(Msg::Appointments(r))
        });
    }

    fn load_waitlist(&mut self, ctx: &mut Ctx) {
        self.refresh.start(ctx.now, true);
        let client = ctx.client.clone();
        ctx.spawn("loading my waitlist", waitlist::load(client), |r| reply(Msg::Waitlist(r)));
    }

    fn tab_index(&self) -> usize {
        index_of(self.tab)
    }

    fn len(&self) -> usize {
        match self.tab {
            Tab::Upcoming => self.upcoming.len(),
            Tab::Past => self.past.len(),
            Tab::Waitlist => self.waitlist.len(),
            Tab::Records => self.records.len(),
            Tab::AccessLog => self.log.len(),
            Tab::Bills => self.bills.len(),
        }
    }

    fn pick(&self, tab: Tab) -> Pick {
        self.picks[index_of(tab)]
    }

    fn pick_mut(&mut self, tab: Tab) -> &mut Pick {
        &mut self.picks[index_of(tab)]
    }

    fn selected_upcoming(&self) -> Option<&Appointment> {
        (self.tab == Tab::Upcoming).then(|| self.upcoming.get(self.pick(Tab::Upcoming).sel)).flatten()
    }

    fn selected_bill(&self) -> Option<&Invoice> {
        (self.tab == Tab::Bills).then(|| self.bills.get(self.pick(Tab::Bills).sel)).flatten()
    }

    fn selected_entry(&self) -> Option<&WaitlistEntry> {
        (self.tab == Tab::Waitlist).then(|| self.waitlist.get(self.pick(Tab::Waitlist).sel)).flatten()
    }

    /// The offer shown at the top, which `a` and `d` answer.
    fn offer(&self) -> Option<&Offer> {
        self.offers.first()
    }

    /// Until when the patient may cancel this appointment themselves.
    pub fn cancel_deadline(a: &Appointment) -> Timestamp {
        a.start - SignedDuration::from_hours(CANCEL_HOURS)
    }

    fn act(&mut self, a: Act, key: KeyEvent, ctx: &mut Ctx) {
        let i = self.tab_index();
        match a {
            Act::NextTab if key.code == KeyCode::BackTab => self.tab = TABS[(i + TABS.len() - 1) % TABS.len()],
            Act::NextTab => self.tab = TABS[(i + 1) % TABS.len()],
            Act::Go => {
                let n = self.len();
                self.picks[i].go(&key, n);
            }
            Act::Book => self.start_booking(ctx),
            Act::AskCancel => self.ask_cancel(ctx),
            Act::Read => self.modal = Modal::Record,
            Act::Refresh => self.reload(ctx),
            Act::ConfirmCancel => {
                if let Modal::Cancel(reason) = &self.modal {
                    let reason = reason.text().to_owned();
                    self.modal = Modal::None;
                    self.cancel(reason, ctx);
                }
            }
            Act::Close => self.modal = Modal::None,
            Act::Accept => self.answer(true, ctx),
            Act::Decline => self.answer(false, ctx),
            Act::Join => self.modal = Modal::Join(Box::new(JoinForm::new(&self.doctors))),
            Act::JoinGo => {
                if let Modal::Join(form) = &mut self.modal {
                    form.go(&key);
                }
            }
            Act::Within => {
                if let Modal::Join(form) = &mut self.modal {
                    form.step_within(&key);
                }
            }
            Act::ConfirmJoin => self.join(ctx),
            Act::AskLeave => self.modal = Modal::Leave,
            Act::ConfirmLeave => {
                self.modal = Modal::None;
                self.leave(ctx);
            }
            Act::OpenBill => {
                if let Some(bill) = self.selected_bill() {
                    self.modal = Modal::Invoice(Box::new(InvoicePanel::with(bill.clone(), false)));
                }
            }
            Act::SaveBill => {
                if let Some(bill) = self.selected_bill() {
                    invoice::fetch_pdf(bill, ctx);
                }
            }
        }
    }

    /// Accepts or declines the offer shown at the top.
    fn answer(&mut self, accept: bool, ctx: &mut Ctx) {
        let Some(id) = self.offer().map(|o| o.id) else { return };
        self.answering = true;
        let client = ctx.client.clone();
        if accept {
            ctx.spawn("accepting the offer", async move { client.accept_offer(id).await }, |r| reply(Msg::Accepted(r)));
        } else {
            ctx.spawn("declining the offer", async move { client.decline_offer(id).await }, |r| {
                reply(Msg::Declined(r))
            });
        }
    }

    fn join(&mut self, ctx: &mut Ctx) {
        let Some(patient) = self.me.as_ref().and_then(|m| m.patient.as_ref()).map(|p| p.id) else {
            ctx.error("Your patient profile has not loaded yet.");
            return;
        };
        let Modal::Join(form) = &mut self.modal else { return };
        let new = match form.request(patient, ctx.now) {
            Ok(new) => new,
            Err(e) => return ctx.error(e),
        };
        form.busy = true;
        let client = ctx.client.clone();
        ctx.spawn("joining the waitlist", async move { client.join_waitlist(&new).await }, |r| reply(Msg::Joined(r)));
    }

    fn leave(&mut self, ctx: &mut Ctx) {
        let Some(e) = self.selected_entry() else { return };
        let (id, whom) = (e.id, waitlist::wanted(e, &self.doctors));
        let client = ctx.client.clone();
        ctx.spawn("leaving the waitlist", async move { client.leave_waitlist(id).await }, move |r| {
            reply(Msg::Left(whom, r))
        });
    }

    fn start_booking(&mut self, ctx: &mut Ctx) {
        let Some(patient) = self.me.as_ref().and_then(|m| m.patient.as_ref()) else {
            ctx.error("Your patient profile has not loaded yet.");
            return;
        };
        let me = Some((patient.id, patient.full_name.clone()));
        self.modal = Modal::Booking(Box::new(BookingFlow::new(self.doctors.clone(), None, me).online()));
    }

    fn ask_cancel(&mut self, ctx: &mut Ctx) {
        let Some(a) = self.selected_upcoming() else { return };
        if ctx.now > Self::cancel_deadline(a) {
            ctx.error(format!(
                "Too late to cancel online: that was possible until {} ({CANCEL_HOURS} h before). Please call the clinic.",
                time::day_hm(Self::cancel_deadline(a), ctx.tz)
            ));
        } else {
            self.modal = Modal::Cancel(Field::new("Reason").hint("optional"));
        }
    }

    fn cancel(&mut self, reason: String, ctx: &mut Ctx) {
        let Some(id) = self.selected_upcoming().map(|a| a.id) else { return };
        let client = ctx.client.clone();
        ctx.spawn("cancelling", async move { client.cancel(id, &reason).await }, |r| reply(Msg::Cancelled(r)));
    }

    fn on_result(&mut self, msg: Msg, ctx: &mut Ctx) {
        match msg {
            Msg::Me(Ok(me)) => self.me = Some(me),
            Msg::Me(Err(p)) => ctx.problem("Could not load your profile", &p),
            Msg::Appointments(Ok(page)) => self.split(page.items, ctx.now),
            Msg::Appointments(Err(p)) => ctx.problem("Could not load your appointments", &p),
            Msg::Records(Ok(page)) => {
                self.records = page.items;
                self.records.sort_by_key(|r| std::cmp::Reverse(r.created_at));
                let n = self.records.len();
                self.pick_mut(Tab::Records).clamp(n);
            }
            Msg::Records(Err(p)) => ctx.problem("Could not load your records", &p),
            Msg::AccessLog(Ok(page)) => {
                self.log = page.items;
                self.log.sort_by_key(|e| std::cmp::Reverse(e.at));
                let n = self.log.len();
                self.pick_mut(Tab::AccessLog).clamp(n);
            }
            Msg::AccessLog(Err(p)) => ctx.problem("Could not load who looked at your data", &p),
            Msg::Bills(Ok(page)) => {
                self.bills = page.items;
                self.bills.sort_by_key(|b| std::cmp::Reverse(b.issued_at.unwrap_or(b.created_at)));
                let n = self.bills.len();
                self.pick_mut(Tab::Bills).clamp(n);
            }
            Msg::Bills(Err(p)) => ctx.problem("Could not load your bills", &p),
            Msg::Doctors(Ok(d)) => self.doctors = d,
            Msg::Doctors(Err(p)) => ctx.problem("Could not load the doctors", &p),
            Msg::Cancelled(Ok(a)) => {
                ctx.info(format!("Cancelled your appointment on {}.", time::day_hm(a.start, ctx.tz)));
                self.reload(ctx);
            }
            Msg::Cancelled(Err(p)) => ctx.problem("Not cancelled", &p),
            Msg::Waitlist(r) => {
                self.refresh.finish();
                match r {
                    Ok((offers, entries)) => {
                        self.offers = offers;
                        self.waitlist = entries;
                        let n = self.waitlist.len();
                        self.pick_mut(Tab::Waitlist).clamp(n);
                    }
                    Err(p) => ctx.problem("Could not load your waitlist", &p),
                }
            }
            Msg::Accepted(r) => {
                self.answering = false;
                match r {
                    Ok(a) => {
                        self.tab = Tab::Upcoming;
                        let when = time::day_hm(a.start, ctx.tz);
                        ctx.info(format!("Booked: {when} with {}, from the waitlist.", a.doctor_name));
                    }
                    Err(p) => ctx.problem("Not booked", &p),
                }
                self.load_appointments(ctx);
                self.load_waitlist(ctx);
            }
            Msg::Declined(r) => {
                self.answering = false;
                match r {
                    Ok(_) => ctx.info("Declined: the time goes to the next patient. You stay on the waitlist."),
                    Err(p) => ctx.problem("Not declined", &p),
                }
                self.load_appointments(ctx);
                self.load_waitlist(ctx);
            }
            Msg::Joined(Ok(e)) => {
                self.modal = Modal::None;
                self.tab = Tab::Waitlist;
                let (whom, until) = (waitlist::wanted(&e, &self.doctors), time::day(time::date_of(e.latest, ctx.tz)));
                ctx.info(format!("You are on the waitlist for {whom} until {until}."));
                self.load_waitlist(ctx);
            }
            Msg::Joined(Err(p)) => {
                if let Modal::Join(form) = &mut self.modal {
                    form.busy = false;
                }
                ctx.problem("Not on the waitlist", &p);
            }
            Msg::Left(whom, r) => {
                match r {
                    Ok(()) => ctx.info(format!("You left the waitlist for {whom}.")),
                    Err(p) => ctx.problem("Still on the waitlist", &p),
                }
                // Leaving withdraws its offer and frees the held time.
                self.load_appointments(ctx);
                self.load_waitlist(ctx);
            }
        }
    }

    /// Upcoming: still to happen and still on; soonest first. Past: the rest, latest first.
    fn split(&mut self, appts: Vec<Appointment>, now: Timestamp) {
        let live = |a: &Appointment| {
            matches!(a.status, AppointmentStatus::Held | AppointmentStatus::Scheduled | AppointmentStatus::CheckedIn)
        };
        let (mut up, mut past): (Vec<_>, Vec<_>) = appts.into_iter().partition(|a| a.end > now && live(a));
        up.sort_by_key(|a| a.start);
        past.sort_by_key(|a| std::cmp::Reverse(a.start));
        self.upcoming = up;
        self.past = past;
        let (up, past) = (self.upcoming.len(), self.past.len());
        self.pick_mut(Tab::Upcoming).clamp(up);
        self.pick_mut(Tab::Past).clamp(past);
    }

    fn draw_tabs(&self, f: &mut Frame, area: Rect, v: &View) {
        let t = v.theme;
        let offer = self.offer_lines(v);
        let [banner, tabs, body, foot] = Layout::vertical([
            Constraint::Length(banner_height(&offer, area.width)),
            Constraint::Length(1),
            Constraint::Min(3),
            Constraint::Length(1),
        ])
        .areas(area);
        if !offer.is_empty() {
            let b = ui::block("An earlier time is free", t).border_style(t.focus());
            f.render_widget(Paragraph::new(offer).wrap(Wrap { trim: true }).block(b), banner);
        }
        let titles: Vec<&str> = TABS.iter().map(|t| t.title()).collect();
        f.render_widget(Tabs::new(titles).select(self.tab_index()).highlight_style(t.selected()), tabs);
        if self.tab == Tab::Bills {
            ui::draw_headed_list(f, body, self.tab.title(), &bill_heading(), self.rows(v), self.pick(self.tab), t);
        } else {
            ui::draw_list(f, body, self.tab.title(), self.rows(v), self.pick(self.tab), t, true);
        }
        if let Some(h) = self.hint(v) {
            f.render_widget(Paragraph::new(Span::styled(h, t.dim())), foot);
        }
        self.draw_modal(f, area, v);
    }

    /// The offer at the top: what is held, until when, and how to answer.
    fn offer_lines(&self, v: &View) -> Vec<Line<'static>> {
        let t = v.theme;
        let Some(o) = self.offer() else { return Vec::new() };
        let mut until = format!(" — held for you until {}", waitlist::clock(o.expires_at, v.now, v.tz));
        if let Some(m) = waitlist::minutes_left(o.expires_at, v.now) {
            until.push_str(&format!(" ({m} min left)"));
        }
        let what = format!("{} with {}", time::day_hm(o.start, v.tz), o.doctor_name);
        let mut lines = vec![Line::from(vec![Span::styled(what, t.title()), Span::raw(format!("{until}."))])];
        lines.push(if self.answering {
            Line::from(Span::styled("Sending your answer…", t.focus()))
        } else {
            Line::from(vec![
                Span::styled("a", t.key()),
                Span::raw(" accept it · "),
                Span::styled("d", t.key()),
                Span::raw(" decline it (the time goes to the next patient)"),
            ])
        });
        if let Some(next) = self.offers.get(1) {
            let others = match self.offers.len() - 2 {
                0 => String::new(),
                n => format!(" and {n} more"),
            };
            let text = format!(
                "Also held for you: {} with {}{others}; answer this one first.",
                time::day_hm(next.start, v.tz),
                next.doctor_name
            );
            lines.push(Line::from(Span::styled(text, t.dim())));
        }
        lines
    }

    fn rows(&self, v: &View) -> Vec<Line<'static>> {
        let t = v.theme;
        match self.tab {
            Tab::Upcoming => self.upcoming.iter().map(|a| appt_row(a, v)).collect(),
            Tab::Past => self.past.iter().map(|a| appt_row(a, v)).collect(),
            Tab::Waitlist => self.waitlist.iter().map(|e| self.entry_row(e, v)).collect(),
            Tab::Records => self
                .records
                .iter()
                .map(|r| Line::from(format!("{}  {}", time::full(r.created_at, v.tz), ui::fit(&r.diagnosis, 50))))
                .collect(),
            Tab::AccessLog => self
                .log
                .iter()
                .map(|e| {
                    let role = e.actor_role.map(|r| r.to_string()).unwrap_or_default();
                    let line = format!(
                        "{}  {:<20} {:<12} {}",
                        time::full(e.at, v.tz),
                        ui::fit(&e.actor_name, 19),
                        role,
                        e.action
                    );
                    if !e.emergency {
                        return Line::from(line);
                    }
                    // Emergency access outside the actor's care: marked, with the reason they gave.
                    let reason = e.reason.as_deref().unwrap_or("no reason recorded");
                    Line::from(vec![
                        Span::raw(line),
                        Span::styled(format!("  EMERGENCY: {}", ui::fit(reason, 60)), t.error()),
                    ])
                })
                .collect(),
            Tab::Bills => self.bills.iter().map(|b| bill_row(b, v)).collect(),
        }
    }

    fn entry_row(&self, e: &WaitlistEntry, v: &View) -> Line<'static> {
        let note = e.note.as_deref().map(|n| ui::fit(n, 30)).unwrap_or_default();
        Line::from(vec![
            Span::raw(format!("{:<24}", ui::fit(&waitlist::wanted(e, &self.doctors), 23))),
            Span::raw(format!("{:<24}", waitlist::window(e, v.now, v.tz))),
            Span::styled(format!("{:<9}", waitlist::status_word(e.status)), v.theme.focus()),
            Span::raw(note),
        ])
    }

    /// A line under the list about the selected row.
    fn hint(&self, v: &View) -> Option<String> {
        match self.tab {
            Tab::Upcoming => self.selected_upcoming().map(|a| {
                if a.status == AppointmentStatus::Held {
                    return "This time is held for you from the waitlist; answer the offer at the top.".to_owned();
                }
                let deadline = time::day_hm(Self::cancel_deadline(a), v.tz);
                if v.now > Self::cancel_deadline(a) {
                    format!("Cancelling online closed {deadline} ({CANCEL_HOURS} h before); please call the clinic.")
                } else {
                    format!("You can cancel this online until {deadline} ({CANCEL_HOURS} h before).")
                }
            }),
            Tab::Waitlist if self.waitlist.is_empty() => {
                Some("Press w to wait for an earlier time than you could book.".into())
            }
            Tab::Waitlist => {
                Some("When a time frees up, it is held for you and shown at the top of this screen.".into())
            }
            Tab::AccessLog => Some("Every read or change of your data by clinic staff is listed here.".into()),
            Tab::Bills if !self.bills.is_empty() => {
                Some("Enter shows the lines and payments; s saves the PDF in the current directory.".into())
            }
            _ => None,
        }
    }

    fn draw_modal(&self, f: &mut Frame, area: Rect, v: &View) {
        match &self.modal {
            Modal::None => {}
            Modal::Booking(b) => b.draw(f, area, v),
            Modal::Cancel(reason) => {
                let mut lines = Vec::new();
                if let Some(a) = self.selected_upcoming() {
                    lines.push(Line::from(format!("Cancel {} with {}?", time::day_hm(a.start, v.tz), a.doctor_name)));
                    lines.push(Line::from(format!(
                        "Online cancelling is open until {} ({CANCEL_HOURS} h before).",
                        time::day_hm(Self::cancel_deadline(a), v.tz)
                    )));
                }
                lines.push(reason.line(v.theme, true, 6));
                lines.push(Line::from(Span::styled("Enter cancels it; Esc keeps it.", v.theme.dim())));
                ui::draw_popup(f, area, "Cancel appointment", lines, 70, v.theme);
            }
            Modal::Record => {
                if let Some(r) = self.records.get(self.pick(Tab::Records).sel) {
                    ui::draw_popup(f, area, "Record", record_lines(r, v), 76, v.theme);
                }
            }
            Modal::Join(form) => form.draw(f, area, v),
            Modal::Invoice(panel) => panel.draw(f, area, v),
            Modal::Leave => {
                if let Some(e) = self.selected_entry() {
                    let lines = vec![
                        Line::from(format!("Leave the waitlist for {}?", waitlist::wanted(e, &self.doctors))),
                        Line::from(Span::styled(
                            "Enter leaves it (and gives up any time held for you); Esc stays.",
                            v.theme.dim(),
                        )),
                    ];
                    ui::draw_popup(f, area, "Leave the waitlist", lines, 70, v.theme);
                }
            }
        }
    }
}

/// The offer banner's height: its lines, wrapped, and its border; none without an offer.
fn banner_height(lines: &[Line], width: u16) -> u16 {
    if lines.is_empty() {
        return 0;
    }
    let inner = usize::from(width.saturating_sub(2).max(1));
    let rows: usize = lines.iter().map(|l| l.width().max(1).div_ceil(inner)).sum();
    u16::try_from(rows + 2).unwrap_or(u16::MAX)
}

fn index_of(tab: Tab) -> usize {
    TABS.iter().position(|t| *t == tab).unwrap_or(0)
}

fn appt_row(a: &Appointment, v: &View) -> Line<'static> {
    Line::from(vec![
        Span::raw(format!("{:<16}  ", time::day_hm(a.start, v.tz))),
        Span::raw(format!("{:<20}", ui::fit(&a.doctor_name, 19))),
        Span::styled(format!("{:<11}", status_word(a.status)), v.theme.status(a.status)),
        Span::raw(ui::fit(&a.reason, 30)),
    ])
}

/// The bills' columns: number, date, kind, status, total, balance.
fn bill_columns([number, date, kind, status, total, balance]: [&str; 6]) -> String {
    format!("{number:<12}{date:<12}{kind:<12}{status:<8}{total:>15}{balance:>15}")
}

fn bill_heading() -> String {
    bill_columns(["Number", "Date", "Kind", "Status", "Total", "Balance"])
}

fn bill_row(b: &Invoice, v: &View) -> Line<'static> {
    let (date, total, balance) = (invoice::issued_on(b, v), b.currency.format(b.total), b.currency.format(b.balance));
    let kind = invoice::kind_word(b.kind);
    Line::from(bill_columns([invoice::number(b), &date, kind, b.status.as_str(), &total, &balance]))
}
