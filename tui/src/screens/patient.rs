//! Patient: my upcoming and past appointments, booking from free slots,
//! cancelling inside the cancel window, my records (read-only), and who
//! looked at my data.

use healthsynx_shared::api::{AppointmentQuery, Me, PageQuery, RecordQuery};
use healthsynx_shared::{AccessLogEntry, Appointment, AppointmentStatus, Doctor, MedicalRecord, Page, Problem};
use jiff::{SignedDuration, Timestamp};
use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Tabs};

use crate::app::{self, Ctx, Handled, View};
use crate::components::booking::{BookingFlow, BookingHost, BookingOutcome};
use crate::components::chart::record_lines;
use crate::keys::{self, Binding, Cmd, ENTER, ENTER_ESC, ESC, Keymap, LIST, TAB, bind, char};
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
    Doctors(Result<Vec<Doctor>, Problem>),
    Cancelled(Result<Appointment, Problem>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Upcoming,
    Past,
    Records,
    AccessLog,
}

const TABS: [Tab; 4] = [Tab::Upcoming, Tab::Past, Tab::Records, Tab::AccessLog];

impl Tab {
    fn title(self) -> &'static str {
        match self {
            Tab::Upcoming => "Upcoming",
            Tab::Past => "Past",
            Tab::Records => "My records",
            Tab::AccessLog => "Who looked at my data",
        }
    }
}

enum Modal {
    None,
    Booking(Box<BookingFlow>),
    Cancel(Field),
    Record,
}

pub struct PatientHome {
    pub tab: Tab,
    me: Option<Me>,
    upcoming: Vec<Appointment>,
    past: Vec<Appointment>,
    records: Vec<MedicalRecord>,
    log: Vec<AccessLogEntry>,
    doctors: Vec<Doctor>,
    picks: [Pick; 4],
    modal: Modal,
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
}

type B = Binding<PatientHome, Act>;

const TAB_KEYS: &[B] = &[
    bind(TAB, "Tab", "next tab", Act::NextTab),
    bind(LIST, "↑↓/jk", "move", Act::Go).when(|s| s.len() > 1),
    bind(&[char('b')], "b", "book", Act::Book).when(|s| matches!(s.tab, Tab::Upcoming | Tab::Past)),
    bind(&[char('x')], "x", "cancel", Act::AskCancel)
        .when(|s| s.selected_upcoming().is_some_and(|a| a.status == AppointmentStatus::Scheduled)),
    bind(ENTER, "Enter", "read", Act::Read).when(|s| s.tab == Tab::Records && !s.records.is_empty()),
    bind(&[char('g')], "g", "refresh", Act::Refresh),
];
const CANCEL_KEYS: &[B] =
    &[bind(ENTER, "Enter", "cancel it", Act::ConfirmCancel), bind(ESC, "Esc", "keep it", Act::Close)];
const RECORD_KEYS: &[B] = &[bind(ENTER_ESC, "Enter/Esc", "close", Act::Close)];

impl Keymap for PatientHome {
    type Action = Act;

    fn bindings(&self) -> &'static [B] {
        match &self.modal {
            Modal::None => TAB_KEYS,
            Modal::Cancel(_) => CANCEL_KEYS,
            Modal::Record => RECORD_KEYS,
            // The flow answers its own keys.
            Modal::Booking(_) => &[],
        }
    }

    fn text_field(&self) -> Option<&'static str> {
        matches!(self.modal, Modal::Cancel(_)).then_some("reason")
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
        self.host_commands()
    }

    fn typing(&self) -> bool {
        self.host_typing()
    }

    fn on_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> Handled {
        if let Some(handled) = self.key_to_flow(key, ctx) {
            return handled;
        }
        match (keys::action(self, &key), &mut self.modal) {
            (Some(a), _) => self.act(a, key, ctx),
            (None, Modal::Cancel(reason)) => {
                reason.handle(&key);
            }
            (None, _) => return Handled::Ignored,
        }
        Handled::Consumed
    }

    fn on_msg(&mut self, msg: app::Msg, ctx: &mut Ctx) {
        match msg.take::<Msg>() {
            Ok(m) => self.on_result(m, ctx),
            Err(m) => self.msg_to_flow(m, ctx),
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
            records: Vec::new(),
            log: Vec::new(),
            doctors: Vec::new(),
            picks: [Pick::default(); 4],
            modal: Modal::None,
        };
        p.reload(ctx);
        p
    }

    fn reload(&mut self, ctx: &mut Ctx) {
        // The server scopes every list to this patient.
        let client = ctx.client.clone();
        let q = AppointmentQuery { limit: Some(500), ..AppointmentQuery::default() };
        ctx.spawn("loading my appointments", async move { client.appointments(&q).await }, |r| {
            reply(Msg::Appointments(r))
        });
        let client = ctx.client.clone();
        let q = RecordQuery { limit: Some(200), ..RecordQuery::default() };
        ctx.spawn("loading my records", async move { client.records(&q).await }, |r| reply(Msg::Records(r)));
        let client = ctx.client.clone();
        let q = PageQuery { limit: Some(200), cursor: None };
        ctx.spawn("loading who looked at my data", async move { client.my_access_log(&q).await }, |r| {
            reply(Msg::AccessLog(r))
        });
    }

    fn tab_index(&self) -> usize {
        TABS.iter().position(|t| *t == self.tab).unwrap_or(0)
    }

    fn len(&self) -> usize {
        match self.tab {
            Tab::Upcoming => self.upcoming.len(),
            Tab::Past => self.past.len(),
            Tab::Records => self.records.len(),
            Tab::AccessLog => self.log.len(),
        }
    }

    fn selected_upcoming(&self) -> Option<&Appointment> {
        (self.tab == Tab::Upcoming).then(|| self.upcoming.get(self.picks[0].sel)).flatten()
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
        }
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
                self.picks[2].clamp(self.records.len());
            }
            Msg::Records(Err(p)) => ctx.problem("Could not load your records", &p),
            Msg::AccessLog(Ok(page)) => {
                self.log = page.items;
                self.log.sort_by_key(|e| std::cmp::Reverse(e.at));
                self.picks[3].clamp(self.log.len());
            }
            Msg::AccessLog(Err(p)) => ctx.problem("Could not load who looked at your data", &p),
            Msg::Doctors(Ok(d)) => self.doctors = d,
            Msg::Doctors(Err(p)) => ctx.problem("Could not load the doctors", &p),
            Msg::Cancelled(Ok(a)) => {
                ctx.info(format!("Cancelled your appointment on {}.", time::day_hm(a.start, ctx.tz)));
                self.reload(ctx);
            }
            Msg::Cancelled(Err(p)) => ctx.problem("Not cancelled", &p),
        }
    }

    /// Upcoming: still to happen and still on; soonest first. Past: the rest, latest first.
    fn split(&mut self, appts: Vec<Appointment>, now: Timestamp) {
        let live = |a: &Appointment| matches!(a.status, AppointmentStatus::Scheduled | AppointmentStatus::CheckedIn);
        let (mut up, mut past): (Vec<_>, Vec<_>) = appts.into_iter().partition(|a| a.end > now && live(a));
        up.sort_by_key(|a| a.start);
        past.sort_by_key(|a| std::cmp::Reverse(a.start));
        self.upcoming = up;
        self.past = past;
        self.picks[0].clamp(self.upcoming.len());
        self.picks[1].clamp(self.past.len());
    }

    fn draw_tabs(&self, f: &mut Frame, area: Rect, v: &View) {
        let t = v.theme;
        let [tabs, body, foot] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(3), Constraint::Length(1)]).areas(area);
        let titles: Vec<&str> = TABS.iter().map(|t| t.title()).collect();
        f.render_widget(Tabs::new(titles).select(self.tab_index()).highlight_style(t.selected()), tabs);
        let i = self.tab_index();
        let rows: Vec<Line<'static>> = match self.tab {
            Tab::Upcoming => self.upcoming.iter().map(|a| appt_row(a, v)).collect(),
            Tab::Past => self.past.iter().map(|a| appt_row(a, v)).collect(),
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
        };
        ui::draw_list(f, body, self.tab.title(), rows, self.picks[i], t, true);
        let hint = match self.tab {
            Tab::Upcoming => self.selected_upcoming().map(|a| {
                let deadline = time::day_hm(Self::cancel_deadline(a), v.tz);
                if v.now > Self::cancel_deadline(a) {
                    format!("Cancelling online closed {deadline} ({CANCEL_HOURS} h before); please call the clinic.")
                } else {
                    format!("You can cancel this online until {deadline} ({CANCEL_HOURS} h before).")
                }
            }),
            Tab::AccessLog => Some("Every read or change of your data by clinic staff is listed here.".into()),
            _ => None,
        };
        if let Some(h) = hint {
            f.render_widget(Paragraph::new(Span::styled(h, t.dim())), foot);
        }
        self.draw_modal(f, area, v);
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
                if let Some(r) = self.records.get(self.picks[2].sel) {
                    ui::draw_popup(f, area, "Record", record_lines(r, v), 76, v.theme);
                }
            }
        }
    }
}

fn appt_row(a: &Appointment, v: &View) -> Line<'static> {
    Line::from(vec![
        Span::raw(format!("{}  ", time::day_hm(a.start, v.tz))),
        Span::raw(format!("{:<20}", ui::fit(&a.doctor_name, 19))),
        Span::styled(format!("{:<11}", status_word(a.status)), v.theme.status(a.status)),
        Span::raw(ui::fit(&a.reason, 30)),
    ])
}
