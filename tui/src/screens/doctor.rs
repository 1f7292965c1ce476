//! Doctor: my calendar (day list or week grid), an appointment → the
//! patient's chart → records and the record editor; complete / no-show;
//! my weekly availability and time off; emergency access to a patient
//! outside my care.

use std::collections::BTreeSet;

use healthsynx_shared::api::{AppointmentAction, NewTimeOff, RangeQuery};
use healthsynx_shared::client::Fresh;
use healthsynx_shared::value::ClockTime;
use healthsynx_shared::{Appointment, AppointmentStatus, Availability, AvailabilityRule, Problem, TimeOff};
use jiff::civil::Date;
use ratatui::Frame;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui_textarea::TextArea;
use uuid::Uuid;

use crate::app::{self, Ctx, Handled, View};
use crate::components::Outcome;
use crate::components::booking::{BookingFlow, BookingOutcome};
use crate::components::chart::Chart;
use crate::components::day_nav::{self, DayNav};
use crate::components::emergency::{Emergency, EmergencyOutcome};
use crate::components::refresh::AutoRefresh;
use crate::keys::{
    self, Binding, Cmd, ENTER, ESC, FIELDS, GRID, Keymap, LIST, TAB, bind, char, ctrl_char, is_down, is_left, is_right,
    is_up,
};
use crate::screens::Screen;
use crate::theme::status_word;
use crate::time;
use crate::ui::{self, Field, Form, Pick};

/// What the calendar's `ETag` is kept under.
const CALENDAR_TAG: &str = "calendar";

pub enum Msg {
    Calendar(Date, bool, Result<Fresh<Vec<Appointment>>, Problem>),
    Changed(&'static str, Result<Appointment, Problem>),
}

pub enum AvailMsg {
    Loaded(Result<Availability, Problem>),
    Saved(Result<Availability, Problem>),
    TimeOffAdded(Result<TimeOff, Problem>),
    TimeOffDeleted(Result<(), Problem>),
}

fn reply(m: Msg) -> app::Msg {
    app::Msg::new(m)
}

enum Sub {
    Calendar,
    FollowUp(Box<BookingFlow>),
    Chart(Box<Chart>),
    Availability(Box<Avail>),
    /// `E`: asking for emergency access to a patient outside my care.
    Emergency(Box<Emergency>),
}

pub struct Doctor {
    me: Uuid,
    pub nav: DayNav,
    pub week: bool,
    appts: Vec<Appointment>,
    refresh: AutoRefresh,
    /// Day view: the selected row.
    pick: Pick,
    /// Week view: day column and time row.
    wcol: usize,
    wrow: usize,
    sub: Sub,
    /// The zone the week grid is laid out in.
    tz: jiff::tz::TimeZone,
}

#[derive(Debug, Clone, Copy)]
pub enum Act {
    Go,
    Open,
    FollowUp,
    Complete,
    NoShow,
    Week,
    Day,
    Availability,
    Refresh,
    Emergency,
}

type B = Binding<Doctor, Act>;

fn has_status(s: &Doctor, status: AppointmentStatus) -> bool {
    s.selected().is_some_and(|a| a.status == status)
}

/// A visit selected; a time held for a waitlist offer is not one yet (the
/// patient is not in my care until they accept it).
fn selected(s: &Doctor) -> bool {
    s.selected().is_some_and(|a| a.status != AppointmentStatus::Held)
}

const CALENDAR: &[B] = &[
    bind(LIST, "↑↓/jk", "move", Act::Go).when(|s| !s.week && s.appts.len() > 1),
    bind(GRID, "←→↑↓/hjkl", "move", Act::Go).when(|s| s.week),
    bind(ENTER, "Enter", "open patient", Act::Open).when(selected),
    bind(&[char('E')], "E", "emergency access", Act::Emergency),
    bind(&[char('f')], "f", "follow-up", Act::FollowUp).when(selected),
    bind(&[char('c')], "c", "complete", Act::Complete).when(|s| has_status(s, AppointmentStatus::CheckedIn)),
    bind(&[char('n')], "n", "no-show", Act::NoShow).when(|s| has_status(s, AppointmentStatus::Scheduled)),
    bind(&[char('w')], "w", "week", Act::Week).when(|s| !s.week),
    bind(&[char('w')], "w", "day", Act::Week).when(|s| s.week),
    bind(day_nav::STEP, "[ ]", "day", Act::Day).when(|s| !s.week),
    bind(day_nav::STEP, "[ ]", "week", Act::Day).when(|s| s.week),
    bind(day_nav::TODAY, "t", "today", Act::Day),
    bind(&[char('a')], "a", "availability", Act::Availability),
    bind(&[char('g')], "g", "refresh", Act::Refresh),
];

impl Keymap for Doctor {
    type Action = Act;

    fn bindings(&self) -> &'static [B] {
        match self.sub {
            Sub::Calendar => CALENDAR,
            // The part that is open answers its own keys.
            _ => &[],
        }
    }
}

impl Screen for Doctor {
    fn title(&self) -> &'static str {
        "Doctor"
    }

    fn commands(&self) -> Vec<Cmd> {
        match &self.sub {
            Sub::Chart(c) => c.commands(),
            Sub::Availability(a) => keys::commands(a.as_ref()),
            Sub::FollowUp(flow) => flow.commands(),
            Sub::Emergency(e) => e.commands(),
            Sub::Calendar => keys::commands(self),
        }
    }

    fn typing(&self) -> bool {
        match &self.sub {
            Sub::Chart(c) => c.typing(),
            Sub::Availability(a) => a.text_field().is_some(),
            Sub::FollowUp(flow) => flow.typing(),
            Sub::Emergency(_) => true,
            Sub::Calendar => false,
        }
    }

    fn on_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> Handled {
        let out = match &mut self.sub {
            Sub::Chart(c) => c.handle_key(key, ctx),
            Sub::Availability(a) => a.handle_key(key, ctx),
            Sub::FollowUp(flow) => {
                let out = flow.handle_key(key, ctx);
                return self.after_follow_up(out, ctx);
            }
            Sub::Emergency(e) => match e.handle_key(key, ctx) {
                EmergencyOutcome::Closed => Outcome::Closed,
                _ => Outcome::Open,
            },
            Sub::Calendar => match keys::action(self, &key) {
                Some(a) => {
                    self.act(a, key, ctx);
                    Outcome::Open
                }
                None => Outcome::Ignored,
            },
        };
        match out {
            Outcome::Open => Handled::Consumed,
            Outcome::Ignored => Handled::Ignored,
            Outcome::Closed => {
                self.sub = Sub::Calendar;
                self.reload(ctx);
                Handled::Consumed
            }
        }
    }

    fn on_msg(&mut self, msg: app::Msg, ctx: &mut Ctx) {
        let msg = match msg.take::<Msg>() {
            Ok(m) => return self.on_result(m, ctx),
            Err(m) => m,
        };
        match &mut self.sub {
            Sub::Chart(c) => c.on_msg(msg, ctx),
            Sub::Availability(a) => a.on_msg(msg, ctx),
            Sub::FollowUp(flow) => {
                let out = flow.on_msg(msg, ctx);
                self.after_follow_up(out, ctx);
            }
            Sub::Emergency(e) => {
                if let EmergencyOutcome::Granted(patient, until) = e.on_msg(msg, ctx) {
                    self.sub = Sub::Chart(Box::new(Chart::under_grant(patient, until, ctx)));
                }
            }
            Sub::Calendar => {}
        }
    }

    /// Reloads the calendar now and then, so check-ins at the desk show up.
    fn on_tick(&mut self, ctx: &mut Ctx) {
        if self.refresh.due(ctx.now) && matches!(self.sub, Sub::Calendar) {
            self.load(false, ctx);
        }
    }

    fn draw(&self, f: &mut Frame, area: Rect, v: &View) {
        match &self.sub {
            Sub::FollowUp(flow) => {
                self.draw_calendar(f, area, v);
                flow.draw(f, area, v);
            }
            Sub::Chart(c) => c.draw(f, area, v),
            Sub::Availability(a) => a.draw(f, area, v),
            Sub::Emergency(e) => {
                self.draw_calendar(f, area, v);
                e.draw(f, area, v);
            }
            Sub::Calendar => self.draw_calendar(f, area, v),
        }
    }
}

impl Doctor {
    pub fn new(ctx: &mut Ctx) -> Self {
        let mut d = Doctor {
            me: ctx.user_id(),
            nav: DayNav::today(ctx),
            week: false,
            appts: Vec::new(),
            refresh: AutoRefresh::default(),
            pick: Pick::default(),
            wcol: 0,
            wrow: 0,
            sub: Sub::Calendar,
            tz: ctx.tz.clone(),
        };
        d.reload(ctx);
        d
    }

    fn first_day(&self) -> Date {
        if self.week { time::monday_of(self.nav.day) } else { self.nav.day }
    }

    fn reload(&mut self, ctx: &mut Ctx) {
        self.load(true, ctx);
    }

    /// Loads the calendar; unless `fresh`, with the `ETag` it was last shown with.
    fn load(&mut self, fresh: bool, ctx: &mut Ctx) {
        let days = if self.week { 7 } else { 1 };
        let (from, to) = time::days_range(self.first_day(), days, ctx.tz);
        let (me, day, week) = (self.me, self.nav.day, self.week);
        let client = ctx.client.clone();
        let etag = self.refresh.start(ctx.now, fresh).remove(CALENDAR_TAG);
        ctx.spawn(
            "loading my calendar",
            async move { client.calendar_if_changed(me, &RangeQuery { from, to }, etag.as_deref()).await },
            move |r| reply(Msg::Calendar(day, week, r)),
        );
    }

    /// The week grid's rows: every start time of the week, as `HH:MM`.
    fn week_rows(&self, tz: &jiff::tz::TimeZone) -> Vec<String> {
        let rows: BTreeSet<String> = self.appts.iter().map(|a| time::hm(a.start, tz)).collect();
        rows.into_iter().collect()
    }

    fn week_cell(&self, col: usize, row: &str, tz: &jiff::tz::TimeZone) -> Option<&Appointment> {
        let day = time::add_days(self.first_day(), col as i64);
        let at: Vec<&Appointment> =
            self.appts.iter().filter(|a| time::date_of(a.start, tz) == day && time::hm(a.start, tz) == row).collect();
        at.iter().find(|a| a.status.holds_time()).or(at.first()).copied()
    }

    fn selected_in(&self, tz: &jiff::tz::TimeZone) -> Option<&Appointment> {
        if self.week {
            let rows = self.week_rows(tz);
            rows.get(self.wrow).and_then(|r| self.week_cell(self.wcol, r, tz))
        } else {
            self.appts.get(self.pick.sel)
        }
    }

    fn selected(&self) -> Option<&Appointment> {
        self.selected_in(&self.tz)
    }

    fn act(&mut self, a: Act, key: KeyEvent, ctx: &mut Ctx) {
        match a {
            Act::Go if self.week => self.go_week(&key, ctx),
            Act::Go => self.pick.go(&key, self.appts.len()),
            Act::Open => {
                if let Some(a) = self.selected().cloned() {
                    self.sub = Sub::Chart(Box::new(Chart::open(a.patient_id, Some(a), Some(self.me), ctx)));
                }
            }
            Act::FollowUp => {
                if let Some(a) = self.selected().cloned() {
                    self.sub = Sub::FollowUp(Box::new(BookingFlow::follow_up(&a, ctx)));
                }
            }
            Act::Complete => self.act_on_appt(AppointmentAction::Complete, "Completed", ctx),
            Act::NoShow => self.act_on_appt(AppointmentAction::NoShow, "Marked as no-show", ctx),
            Act::Week => {
                self.week = !self.week;
                self.wcol = self.nav.day.weekday().to_monday_zero_offset() as usize;
                self.reload(ctx);
            }
            Act::Day => {
                self.nav.press(&key, if self.week { 7 } else { 1 }, ctx);
                self.reload(ctx);
            }
            Act::Availability => self.sub = Sub::Availability(Box::new(Avail::open(self.me, ctx))),
            Act::Emergency => self.sub = Sub::Emergency(Box::default()),
            Act::Refresh => self.reload(ctx),
        }
    }

    fn go_week(&mut self, key: &KeyEvent, ctx: &Ctx) {
        let rows = self.week_rows(ctx.tz).len();
        if is_left(key) {
            self.wcol = self.wcol.saturating_sub(1);
        } else if is_right(key) {
            self.wcol = (self.wcol + 1).min(6);
        } else if is_up(key) {
            self.wrow = self.wrow.saturating_sub(1);
        } else if is_down(key) {
            self.wrow = (self.wrow + 1).min(rows.saturating_sub(1));
        }
    }

    fn after_follow_up(&mut self, out: BookingOutcome, ctx: &mut Ctx) -> Handled {
        match out {
            BookingOutcome::Ignored => return Handled::Ignored,
            BookingOutcome::Closed => self.sub = Sub::Calendar,
            BookingOutcome::Done(booked) => {
                let a = &booked.appointment;
                let (who, when, more) = (&a.patient_name, time::day_hm(a.start, ctx.tz), booked.more());
                ctx.info(format!("Follow-up booked: {who} on {when}{more}."));
                self.sub = Sub::Calendar;
                self.reload(ctx);
            }
            BookingOutcome::Open | BookingOutcome::Conflict => {}
        }
        Handled::Consumed
    }

    fn act_on_appt(&mut self, action: AppointmentAction, done: &'static str, ctx: &mut Ctx) {
        let Some(id) = self.selected().map(|a| a.id) else { return };
        let client = ctx.client.clone();
        ctx.spawn(done, async move { client.appointment_action(id, action).await }, move |r| {
            reply(Msg::Changed(done, r))
        });
    }

    fn on_result(&mut self, msg: Msg, ctx: &mut Ctx) {
        match msg {
            Msg::Calendar(day, week, r) => {
                if day != self.nav.day || week != self.week {
                    return;
                }
                self.refresh.finish();
                match r.map(|fresh| self.refresh.keep(CALENDAR_TAG, fresh)) {
                    Ok(Some(mut appts)) => {
                        appts.sort_by_key(|a| a.start);
                        self.appts = appts;
                        self.pick.clamp(self.appts.len());
                    }
                    Ok(None) => {}
                    Err(p) => ctx.problem("Could not load the calendar", &p),
                }
            }
            Msg::Changed(done, Ok(a)) => {
                ctx.info(format!("{done}: {} at {}.", a.patient_name, time::hm(a.start, ctx.tz)));
                self.reload(ctx);
            }
            Msg::Changed(done, Err(p)) => {
                ctx.problem(&format!("Not {}", done.to_lowercase()), &p);
                self.reload(ctx);
            }
        }
    }

    fn draw_calendar(&self, f: &mut Frame, area: Rect, v: &View) {
        if self.week {
            self.draw_week(f, area, v);
        } else {
            self.draw_day(f, area, v);
        }
    }

    fn draw_day(&self, f: &mut Frame, area: Rect, v: &View) {
        let title = format!("My day · {}", self.nav.title(v));
        if self.appts.is_empty() {
            let text = if self.refresh.loading() {
                "Loading…"
            } else {
                "No appointments. [ ] moves a day, w shows the week."
            };
            f.render_widget(Paragraph::new(Span::styled(text, v.theme.dim())).block(ui::block(title, v.theme)), area);
            return;
        }
        let rows = self
            .appts
            .iter()
            .map(|a| {
                Line::from(vec![
                    Span::raw(format!("{}–{}  ", time::hm(a.start, v.tz), time::hm(a.end, v.tz))),
                    Span::raw(format!("{:<22}", ui::fit(&a.patient_name, 21))),
                    Span::styled(format!("{:<11}", status_word(a.status)), v.theme.status(a.status)),
                    Span::raw(ui::fit(&a.reason, 30)),
                ])
            })
            .collect();
        ui::draw_list(f, area, &title, rows, self.pick, v.theme, true);
    }

    fn draw_week(&self, f: &mut Frame, area: Rect, v: &View) {
        let t = v.theme;
        let monday = self.first_day();
        let title = format!("My week · {} – {}", time::day(monday), time::day(time::add_days(monday, 6)));
        let b = ui::block(title, t);
        let inner = b.inner(area);
        f.render_widget(b, area);
        let per = ((inner.width as usize).saturating_sub(6) / 7).max(4);
        let mut head = vec![Span::raw("      ")];
        for i in 0..7 {
            let d = time::add_days(monday, i);
            let style = if i as usize == self.wcol { t.focus() } else { t.title() };
            head.push(Span::styled(format!("{:<per$}", ui::fit(&d.strftime("%a %-d").to_string(), per - 1)), style));
        }
        let mut lines = vec![Line::from(head)];
        let rows = self.week_rows(v.tz);
        if rows.is_empty() {
            lines.push(Line::from(Span::styled(
                if self.refresh.loading() { "Loading…" } else { "No appointments this week." },
                t.dim(),
            )));
        }
        let body_h = (inner.height as usize).saturating_sub(1).max(1);
        let first = self.wrow.saturating_sub(body_h - 1);
        for (r, hm) in rows.iter().enumerate().skip(first).take(body_h) {
            let mut spans = vec![Span::raw(format!("{hm:<6}"))];
            for c in 0..7 {
                let (text, mut style) = match self.week_cell(c, hm, v.tz) {
                    Some(a) => (surname(&a.patient_name), t.status(a.status)),
                    None => (String::new(), Style::new()),
                };
                if c == self.wcol && r == self.wrow {
                    style = style.patch(t.selected());
                }
                spans.push(Span::styled(format!("{:<w$}", ui::fit(&text, per - 1), w = per - 1), style));
                spans.push(Span::raw(" "));
            }
            lines.push(Line::from(spans));
        }
        f.render_widget(Paragraph::new(lines), inner);
    }
}

fn surname(name: &str) -> String {
    name.rsplit(' ').next().unwrap_or(name).to_owned()
}

// ---- availability ----

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// `Mon 09:00-12:00 30` per rule.
pub fn rules_text(rules: &[AvailabilityRule]) -> Vec<String> {
    rules
        .iter()
        .map(|r| {
            let day = WEEKDAYS.get(usize::from(r.weekday).saturating_sub(1)).unwrap_or(&"?");
            format!("{day} {}-{} {}", r.start, r.end, r.slot_minutes)
        })
        .collect()
}

/// Reads rule lines back, naming the first bad one.
pub fn parse_rules(lines: &[String]) -> Result<Vec<AvailabilityRule>, String> {
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let bad = || format!("Line {} should read like: Mon 09:00-12:00 30", i + 1);
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [day, span, minutes] = parts[..] else { return Err(bad()) };
        let weekday = WEEKDAYS.iter().position(|d| d.eq_ignore_ascii_case(day)).ok_or_else(bad)? as u8 + 1;
        let (start, end) = span.split_once('-').ok_or_else(bad)?;
        let clock = |t: &str| t.parse::<ClockTime>().map_err(|e| format!("Line {}: {e}", i + 1));
        let slot_minutes = minutes.parse().map_err(|_| bad())?;
        out.push(AvailabilityRule { weekday, start: clock(start)?, end: clock(end)?, slot_minutes });
    }
    Ok(out)
}

struct Avail {
    me: Uuid,
    rules: TextArea<'static>,
    time_off: Vec<TimeOff>,
    pick: Pick,
    /// 0: the rules editor, 1: the time-off list.
    focus: usize,
    form: Option<Form>,
    loaded: bool,
    busy: bool,
}

#[derive(Debug, Clone, Copy)]
pub enum AvailAct {
    NextField,
    AddTimeOff,
    Close,
    Save,
    Switch,
    Go,
    NewTimeOff,
    Delete,
    Leave,
}

type AB = Binding<Avail, AvailAct>;

const TIME_OFF_FORM: &[AB] = &[
    bind(FIELDS, "Tab/↑↓", "next field", AvailAct::NextField),
    bind(ENTER, "Enter", "add time off", AvailAct::AddTimeOff),
    bind(ESC, "Esc", "cancel", AvailAct::Close),
];
const RULES: &[AB] = &[
    bind(&[ctrl_char('s')], "Ctrl-S", "save rules", AvailAct::Save),
    bind(TAB, "Tab", "time off", AvailAct::Switch),
    bind(ESC, "Esc", "back", AvailAct::Leave),
];
const TIME_OFF: &[AB] = &[
    bind(LIST, "↑↓/jk", "move", AvailAct::Go).when(|s| s.time_off.len() > 1),
    bind(&[char('a')], "a", "add time off", AvailAct::NewTimeOff),
    bind(&[char('x')], "x", "delete", AvailAct::Delete).when(|s| !s.time_off.is_empty()),
    bind(TAB, "Tab", "rules", AvailAct::Switch),
    bind(ESC, "Esc", "back", AvailAct::Leave),
];

impl Keymap for Avail {
    type Action = AvailAct;

    fn bindings(&self) -> &'static [AB] {
        match self.form {
            Some(_) => TIME_OFF_FORM,
            None if self.focus == 0 => RULES,
            None => TIME_OFF,
        }
    }

    fn text_field(&self) -> Option<&'static str> {
        match self.form {
            Some(_) => Some("time off"),
            None if self.focus == 0 => Some("edit rules"),
            None => None,
        }
    }
}

impl Avail {
    fn open(me: Uuid, ctx: &mut Ctx) -> Self {
        let client = ctx.client.clone();
        ctx.spawn("loading availability", async move { client.availability(me).await }, |r| {
            app::Msg::new(AvailMsg::Loaded(r))
        });
        Avail {
            me,
            rules: TextArea::default(),
            time_off: Vec::new(),
            pick: Pick::default(),
            focus: 0,
            form: None,
            loaded: false,
            busy: false,
        }
    }

    fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> Outcome {
        let Some(a) = keys::action(self, &key) else {
            match &mut self.form {
                Some(form) => {
                    form.handle(&key);
                }
                None if self.focus == 0 => {
                    self.rules.input(key);
                }
                None => return Outcome::Ignored,
            }
            return Outcome::Open;
        };
        match a {
            AvailAct::NextField => {
                if let Some(form) = &mut self.form {
                    form.handle(&key);
                }
            }
            AvailAct::AddTimeOff => {
                if let Some(form) = self.form.clone() {
                    self.add_time_off(&form, ctx);
                }
            }
            AvailAct::Close => self.form = None,
            AvailAct::Save => self.save(ctx),
            AvailAct::Switch => self.focus = 1 - self.focus,
            AvailAct::Go => self.pick.go(&key, self.time_off.len()),
            AvailAct::NewTimeOff => {
                self.form = Some(Form::new(vec![
                    Field::new("From").hint("YYYY-MM-DD HH:MM"),
                    Field::new("Until").hint("YYYY-MM-DD HH:MM"),
                    Field::new("Reason").hint("optional"),
                ]));
            }
            AvailAct::Delete => self.delete_time_off(ctx),
            AvailAct::Leave => return Outcome::Closed,
        }
        Outcome::Open
    }

    fn save(&mut self, ctx: &mut Ctx) {
        let rules = match parse_rules(self.rules.lines()) {
            Ok(r) => r,
            Err(e) => {
                ctx.error(e);
                return;
            }
        };
        let (client, me) = (ctx.client.clone(), self.me);
        self.busy = true;
        ctx.spawn("saving availability", async move { client.set_availability(me, rules).await }, |r| {
            app::Msg::new(AvailMsg::Saved(r))
        });
    }

    fn add_time_off(&mut self, form: &Form, ctx: &mut Ctx) {
        let (Some(start), Some(end)) =
            (time::parse_local(form.value(0), ctx.tz), time::parse_local(form.value(1), ctx.tz))
        else {
            ctx.error("Write times like 2026-12-24 09:00 (or just a date for midnight).");
            return;
        };
        let new = NewTimeOff { start, end, reason: form.value(2).to_owned() };
        let (client, me) = (ctx.client.clone(), self.me);
        ctx.spawn("adding time off", async move { client.add_time_off(me, &new).await }, |r| {
            app::Msg::new(AvailMsg::TimeOffAdded(r))
        });
    }

    fn delete_time_off(&mut self, ctx: &mut Ctx) {
        let Some(id) = self.time_off.get(self.pick.sel).map(|t| t.id) else { return };
        let (client, me) = (ctx.client.clone(), self.me);
        ctx.spawn("deleting time off", async move { client.delete_time_off(me, id).await }, |r| {
            app::Msg::new(AvailMsg::TimeOffDeleted(r))
        });
    }

    fn reload(&mut self, ctx: &mut Ctx) {
        let (client, me) = (ctx.client.clone(), self.me);
        ctx.spawn("loading availability", async move { client.availability(me).await }, |r| {
            app::Msg::new(AvailMsg::Loaded(r))
        });
    }

    fn set(&mut self, a: Availability) {
        self.rules = TextArea::new(rules_text(&a.rules));
        self.rules.set_cursor_line_style(Style::new());
        self.time_off = a.time_off;
        self.pick.clamp(self.time_off.len());
        self.loaded = true;
    }

    fn on_msg(&mut self, m: app::Msg, ctx: &mut Ctx) {
        let Ok(m) = m.take::<AvailMsg>() else { return };
        match m {
            AvailMsg::Loaded(Ok(a)) => self.set(a),
            AvailMsg::Saved(Ok(a)) => {
                self.busy = false;
                self.set(a);
                ctx.info("Weekly hours saved.");
            }
            AvailMsg::TimeOffAdded(Ok(_)) => {
                self.form = None;
                ctx.info("Time off added.");
                self.reload(ctx);
            }
            AvailMsg::TimeOffDeleted(Ok(())) => {
                ctx.info("Time off deleted.");
                self.reload(ctx);
            }
            AvailMsg::Loaded(Err(p)) => ctx.problem("Could not load availability", &p),
            AvailMsg::Saved(Err(p)) => {
                self.busy = false;
                ctx.problem("Weekly hours not saved", &p);
            }
            AvailMsg::TimeOffAdded(Err(p)) => ctx.problem("Time off not added", &p),
            AvailMsg::TimeOffDeleted(Err(p)) => ctx.problem("Time off not deleted", &p),
        }
    }

    fn draw(&self, f: &mut Frame, area: Rect, v: &View) {
        let t = v.theme;
        let [rules, off] = Layout::horizontal([Constraint::Length(30), Constraint::Min(20)]).areas(area);
        let mut ta = self.rules.clone();
        let mut b =
            ui::block("Weekly hours", t).title_bottom(Line::from(Span::styled(" day from-to slot-minutes ", t.dim())));
        if self.focus == 0 {
            b = b.border_style(t.focus());
            ta.set_cursor_style(Style::new().add_modifier(Modifier::REVERSED));
        } else {
            ta.set_cursor_style(Style::new());
        }
        ta.set_block(b);
        if self.loaded {
            f.render_widget(&ta, rules);
        } else {
            f.render_widget(Paragraph::new("Loading…").block(ui::block("Weekly hours", t)), rules);
        }
        let rows = self
            .time_off
            .iter()
            .map(|o| {
                Line::from(format!("{} → {}  {}", time::day_hm(o.start, v.tz), time::day_hm(o.end, v.tz), o.reason))
            })
            .collect();
        ui::draw_list(f, off, "Time off", rows, self.pick, t, self.focus == 1);
        if let Some(form) = &self.form {
            ui::draw_popup(f, area, "Add time off", form.lines(t), 60, t);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_lines_round_trip_and_bad_lines_are_named() {
        let lines = vec!["Mon 09:00-12:00 30".to_owned(), String::new(), "fri 13:00-17:00 15".to_owned()];
        let rules = parse_rules(&lines).unwrap();
        assert_eq!(
            rules[1],
            AvailabilityRule {
                weekday: 5,
                start: "13:00".parse().unwrap(),
                end: "17:00".parse().unwrap(),
                slot_minutes: 15
            }
        );
        assert_eq!(rules_text(&rules), ["Mon 09:00-12:00 30", "Fri 13:00-17:00 15"]);
        assert!(parse_rules(&["Monday 9-12".to_owned()]).unwrap_err().contains("Line 1"));
    }
}
