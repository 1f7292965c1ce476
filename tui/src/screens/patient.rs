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
use crate::components::booking::{BookingFlow, BookingMsg, Outcome};
use crate::components::chart::record_lines;
use crate::keys::{Cmd, LIST_NAV, cmd, is_char};
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
    Booking(BookingMsg),
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

fn wrap_booking(m: BookingMsg) -> app::Msg {
    app::Msg::Patient(Msg::Booking(m))
}

impl PatientHome {
    pub fn new(ctx: &mut Ctx) -> Self {
        let client = ctx.client.clone();
        ctx.spawn("loading my profile", async move { client.me().await }, |r| app::Msg::Patient(Msg::Me(r)));
        let client = ctx.client.clone();
        ctx.spawn("loading doctors", async move { client.doctors(None).await }, |r| app::Msg::Patient(Msg::Doctors(r)));
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
            app::Msg::Patient(Msg::Appointments(r))
        });
        let client = ctx.client.clone();
        let q = RecordQuery { limit: Some(200), ..RecordQuery::default() };
        ctx.spawn("loading my records", async move { client.records(&q).await }, |r| {
            app::Msg::Patient(Msg::Records(r))
        });
        let client = ctx.client.clone();
        let q = PageQuery { limit: Some(200), cursor: None };
        ctx.spawn("loading who looked at my data", async move { client.my_access_log(&q).await }, |r| {
            app::Msg::Patient(Msg::AccessLog(r))
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

    pub fn typing(&self) -> bool {
        match &self.modal {
            Modal::Booking(b) => b.typing(),
            Modal::Cancel(_) => true,
            _ => false,
        }
    }

    pub fn commands(&self) -> Vec<Cmd> {
        match &self.modal {
            Modal::Booking(b) => return b.commands(),
            Modal::Cancel(_) => return vec![cmd("type", "reason"), cmd("Enter", "cancel it"), cmd("Esc", "keep it")],
            Modal::Record => return vec![cmd("Esc", "close")],
            Modal::None => {}
        }
        let mut c = vec![cmd("Tab", "next tab"), LIST_NAV];
        match self.tab {
            Tab::Upcoming => {
                c.push(cmd("b", "book"));
                if self.selected_upcoming().is_some_and(|a| a.status == AppointmentStatus::Scheduled) {
                    c.push(cmd("x", "cancel"));
                }
            }
            Tab::Past => c.push(cmd("b", "book")),
            Tab::Records => c.push(cmd("Enter", "read")),
            Tab::AccessLog => {}
        }
        c.push(cmd("g", "refresh"));
        c
    }

    pub fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> Handled {
        match &mut self.modal {
            Modal::Booking(flow) => {
                let out = flow.handle_key(key, ctx);
                self.booking_outcome(out, ctx);
                return Handled::Consumed;
            }
            Modal::Cancel(reason) => {
                match key.code {
                    KeyCode::Esc => self.modal = Modal::None,
                    KeyCode::Enter => {
                        let reason = reason.text().to_owned();
                        self.modal = Modal::None;
                        self.cancel(reason, ctx);
                    }
                    _ => {
                        reason.handle(&key);
                    }
                }
                return Handled::Consumed;
            }
            Modal::Record => {
                self.modal = Modal::None;
                return Handled::Consumed;
            }
            Modal::None => {}
        }
        let i = self.tab_index();
        let n = self.len();
        if key.code == KeyCode::Tab {
            self.tab = TABS[(i + 1) % TABS.len()];
        } else if key.code == KeyCode::BackTab {
            self.tab = TABS[(i + TABS.len() - 1) % TABS.len()];
        } else if self.picks[i].handle(&key, n) {
        } else if is_char(&key, 'b') && matches!(self.tab, Tab::Upcoming | Tab::Past) {
            self.start_booking(ctx);
        } else if is_char(&key, 'x') && self.tab == Tab::Upcoming {
            self.ask_cancel(ctx);
        } else if key.code == KeyCode::Enter && self.tab == Tab::Records && !self.records.is_empty() {
            self.modal = Modal::Record;
        } else if is_char(&key, 'g') {
            self.reload(ctx);
        } else {
            return Handled::Ignored;
        }
        Handled::Consumed
    }

    fn start_booking(&mut self, ctx: &mut Ctx) {
        let Some(patient) = self.me.as_ref().and_then(|m| m.patient.as_ref()) else {
            ctx.error("Your patient profile has not loaded yet.");
            return;
        };
        let me = Some((patient.id, patient.full_name.clone()));
        self.modal = Modal::Booking(Box::new(BookingFlow::new(wrap_booking, self.doctors.clone(), None, me)));
    }

    fn ask_cancel(&mut self, ctx: &mut Ctx) {
        let Some(a) = self.selected_upcoming() else { return };
        if a.status != AppointmentStatus::Scheduled {
            ctx.error("Only a booked appointment can be cancelled.");
        } else if ctx.now > Self::cancel_deadline(a) {
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
        ctx.spawn("cancelling", async move { client.cancel(id, &reason).await }, |r| {
            app::Msg::Patient(Msg::Cancelled(r))
        });
    }

    fn booking_outcome(&mut self, out: Outcome, ctx: &mut Ctx) {
        match out {
            Outcome::Open | Outcome::Conflict => {}
            Outcome::Closed => self.modal = Modal::None,
            Outcome::Done(a) => {
                self.modal = Modal::None;
                self.tab = Tab::Upcoming;
                ctx.info(format!("Booked with {} on {}.", a.doctor_name, time::day_hm(a.start, ctx.tz)));
                self.reload(ctx);
            }
        }
    }

    pub fn on_msg(&mut self, msg: Msg, ctx: &mut Ctx) {
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
            Msg::Booking(m) => {
                if let Modal::Booking(flow) = &mut self.modal {
                    let out = flow.on_msg(m, ctx);
                    self.booking_outcome(out, ctx);
                }
            }
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

    pub fn draw(&self, f: &mut Frame, area: Rect, v: &View) {
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
                    Line::from(format!(
                        "{}  {:<20} {:<12} {}",
                        time::full(e.at, v.tz),
                        ui::fit(&e.actor_name, 19),
                        role,
                        e.action
                    ))
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
