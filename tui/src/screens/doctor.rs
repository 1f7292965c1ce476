//! Doctor: my calendar (day list or week grid), an appointment → the
//! patient's chart → records and the record editor; complete / no-show;
//! my weekly availability and time off.

use std::collections::BTreeSet;

use healthsynx_shared::api::{AppointmentAction, NewTimeOff, RangeQuery};
use healthsynx_shared::value::ClockTime;
use healthsynx_shared::{Appointment, AppointmentStatus, Availability, AvailabilityRule, Problem, TimeOff};
use jiff::civil::Date;
use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui_textarea::TextArea;
use uuid::Uuid;

use crate::app::{self, Ctx, Handled, View};
use crate::components::booking::{BookingFlow, BookingMsg, Outcome};
use crate::components::chart::{Chart, ChartMsg, ChartOutcome, ChartRoute};
use crate::keys::{Cmd, LIST_NAV, cmd, is_char, is_ctrl, is_down, is_left, is_right, is_up};
use crate::theme::status_word;
use crate::time;
use crate::ui::{self, Field, Form, Pick};

/// How often the calendar reloads by itself.
const REFRESH_SECS: i64 = 30;

pub enum Msg {
    Calendar(Date, bool, Result<Vec<Appointment>, Problem>),
    Changed(&'static str, Result<Appointment, Problem>),
    Chart(ChartMsg),
    Avail(AvailMsg),
    Booking(BookingMsg),
}

pub enum AvailMsg {
    Loaded(Result<Availability, Problem>),
    Saved(Result<Availability, Problem>),
    TimeOffAdded(Result<TimeOff, Problem>),
    TimeOffDeleted(Result<(), Problem>),
}

enum Sub {
    Calendar,
    FollowUp(Box<BookingFlow>),
    Chart(Box<Chart>),
    Availability(Box<Avail>),
}

pub struct Doctor {
    me: Uuid,
    pub day: Date,
    pub week: bool,
    appts: Vec<Appointment>,
    loading: bool,
    loaded_at: Option<jiff::Timestamp>,
    /// Day view: the selected row.
    pick: Pick,
    /// Week view: day column and time row.
    wcol: usize,
    wrow: usize,
    sub: Sub,
    /// The zone the week grid is laid out in.
    tz: jiff::tz::TimeZone,
}

fn wrap_booking(m: BookingMsg) -> app::Msg {
    app::Msg::Doctor(Msg::Booking(m))
}

const CHART_ROUTE: ChartRoute =
    (|m| app::Msg::Doctor(Msg::Chart(m)), |m| app::Msg::Doctor(Msg::Chart(ChartMsg::Editor(m))));

impl Doctor {
    pub fn new(ctx: &mut Ctx) -> Self {
        let mut d = Doctor {
            me: ctx.user_id(),
            day: time::date_of(ctx.now, ctx.tz),
            week: false,
            appts: Vec::new(),
            loading: true,
            loaded_at: None,
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
        if self.week { time::monday_of(self.day) } else { self.day }
    }

    fn reload(&mut self, ctx: &mut Ctx) {
        let days = if self.week { 7 } else { 1 };
        let (from, to) = time::days_range(self.first_day(), days, ctx.tz);
        let (me, day, week) = (self.me, self.day, self.week);
        let client = ctx.client.clone();
        self.loading = true;
        self.loaded_at = Some(ctx.now);
        ctx.spawn(
            "loading my calendar",
            async move { client.calendar(me, &RangeQuery { from, to }).await },
            move |r| app::Msg::Doctor(Msg::Calendar(day, week, r)),
        );
    }

    /// Reloads the calendar now and then, so check-ins at the desk show up.
    pub fn on_tick(&mut self, ctx: &mut Ctx) {
        let stale = self.loaded_at.is_some_and(|t| ctx.now.duration_since(t).as_secs() >= REFRESH_SECS);
        if stale && !self.loading && matches!(self.sub, Sub::Calendar) {
            self.reload(ctx);
        }
    }

    pub fn typing(&self) -> bool {
        match &self.sub {
            Sub::Chart(c) => c.typing(),
            Sub::Availability(a) => a.typing(),
            Sub::FollowUp(flow) => flow.typing(),
            Sub::Calendar => false,
        }
    }

    pub fn chart(&self) -> Option<&Chart> {
        match &self.sub {
            Sub::Chart(c) => Some(c),
            _ => None,
        }
    }

    pub fn commands(&self) -> Vec<Cmd> {
        match &self.sub {
            Sub::Chart(c) => c.commands(),
            Sub::Availability(a) => a.commands(),
            Sub::FollowUp(flow) => flow.commands(),
            Sub::Calendar => {
                let mut c = vec![if self.week { cmd("←→↑↓/hjkl", "move") } else { LIST_NAV }];
                c.push(cmd("Enter", "open patient"));
                if self.selected().is_some() {
                    c.push(cmd("f", "follow-up"));
                }
                match self.selected().map(|a| a.status) {
                    Some(AppointmentStatus::CheckedIn) => c.push(cmd("c", "complete")),
                    Some(AppointmentStatus::Scheduled) => c.push(cmd("n", "no-show")),
                    _ => {}
                }
                c.extend([
                    cmd("w", if self.week { "day" } else { "week" }),
                    cmd("[ ]", if self.week { "week" } else { "day" }),
                    cmd("t", "today"),
                    cmd("a", "availability"),
                    cmd("g", "refresh"),
                ]);
                c
            }
        }
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

    pub fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> Handled {
        match &mut self.sub {
            Sub::Chart(c) => {
                match c.handle_key(key, ctx) {
                    ChartOutcome::Closed => {
                        self.sub = Sub::Calendar;
                        self.reload(ctx);
                    }
                    ChartOutcome::Ignored => return Handled::Ignored,
                    ChartOutcome::Open => {}
                }
                return Handled::Consumed;
            }
            Sub::Availability(a) => {
                return match a.handle_key(key, ctx) {
                    Some(handled) => handled,
                    None => {
                        self.sub = Sub::Calendar;
                        Handled::Consumed
                    }
                };
            }
            Sub::FollowUp(flow) => {
                match flow.handle_key(key, ctx) {
                    Outcome::Closed => self.sub = Sub::Calendar,
                    out => self.follow_up_outcome(out, ctx),
                }
                return Handled::Consumed;
            }
            Sub::Calendar => {}
        }
        if self.week && (is_left(&key) || is_right(&key) || is_up(&key) || is_down(&key)) {
            let rows = self.week_rows(ctx.tz).len();
            if is_left(&key) {
                self.wcol = self.wcol.saturating_sub(1);
            } else if is_right(&key) {
                self.wcol = (self.wcol + 1).min(6);
            } else if is_up(&key) {
                self.wrow = self.wrow.saturating_sub(1);
            } else {
                self.wrow = (self.wrow + 1).min(rows.saturating_sub(1));
            }
        } else if !self.week && self.pick.handle(&key, self.appts.len()) {
        } else if key.code == KeyCode::Enter {
            if let Some(a) = self.selected().cloned() {
                self.sub = Sub::Chart(Box::new(Chart::open(CHART_ROUTE, a.patient_id, Some(a), Some(self.me), ctx)));
            }
        } else if is_char(&key, 'c') {
            self.act(AppointmentAction::Complete, "Completed", ctx);
        } else if is_char(&key, 'n') {
            self.act(AppointmentAction::NoShow, "Marked as no-show", ctx);
        } else if is_char(&key, 'w') {
            self.week = !self.week;
            self.wcol = self.day.weekday().to_monday_zero_offset() as usize;
            self.reload(ctx);
        } else if is_char(&key, '[') || is_char(&key, ']') {
            let step = if self.week { 7 } else { 1 };
            self.day = time::add_days(self.day, if is_char(&key, '[') { -step } else { step });
            self.reload(ctx);
        } else if is_char(&key, 't') {
            self.day = time::date_of(ctx.now, ctx.tz);
            self.reload(ctx);
        } else if is_char(&key, 'f') {
            if let Some(a) = self.selected().cloned() {
                self.sub = Sub::FollowUp(Box::new(BookingFlow::follow_up(wrap_booking, &a, ctx)));
            }
        } else if is_char(&key, 'a') {
            self.sub = Sub::Availability(Box::new(Avail::open(self.me, ctx)));
        } else if is_char(&key, 'g') {
            self.reload(ctx);
        } else {
            return Handled::Ignored;
        }
        Handled::Consumed
    }

    fn follow_up_outcome(&mut self, out: Outcome, ctx: &mut Ctx) {
        if let Outcome::Done(a) = out {
            ctx.info(format!("Follow-up booked: {} on {}.", a.patient_name, time::day_hm(a.start, ctx.tz)));
            self.sub = Sub::Calendar;
            self.reload(ctx);
        }
    }

    fn act(&mut self, action: AppointmentAction, done: &'static str, ctx: &mut Ctx) {
        let Some(id) = self.selected().map(|a| a.id) else { return };
        let client = ctx.client.clone();
        ctx.spawn(done, async move { client.appointment_action(id, action).await }, move |r| {
            app::Msg::Doctor(Msg::Changed(done, r))
        });
    }

    pub fn on_msg(&mut self, msg: Msg, ctx: &mut Ctx) {
        match msg {
            Msg::Calendar(day, week, r) => {
                if day != self.day || week != self.week {
                    return;
                }
                self.loading = false;
                match r {
                    Ok(mut appts) => {
                        appts.sort_by_key(|a| a.start);
                        self.appts = appts;
                        self.pick.clamp(self.appts.len());
                    }
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
            Msg::Chart(m) => {
                if let Sub::Chart(c) = &mut self.sub {
                    c.on_msg(m, ctx);
                }
            }
            Msg::Avail(m) => {
                if let Sub::Availability(a) = &mut self.sub {
                    a.on_msg(m, ctx);
                }
            }
            Msg::Booking(m) => {
                if let Sub::FollowUp(flow) = &mut self.sub {
                    let out = flow.on_msg(m, ctx);
                    self.follow_up_outcome(out, ctx);
                }
            }
        }
    }

    pub fn draw(&self, f: &mut Frame, area: Rect, v: &View) {
        match &self.sub {
            Sub::FollowUp(flow) => {
                if self.week {
                    self.draw_week(f, area, v);
                } else {
                    self.draw_day(f, area, v);
                }
                flow.draw(f, area, v);
            }
            Sub::Chart(c) => c.draw(f, area, v),
            Sub::Availability(a) => a.draw(f, area, v),
            Sub::Calendar if self.week => self.draw_week(f, area, v),
            Sub::Calendar => self.draw_day(f, area, v),
        }
    }

    fn draw_day(&self, f: &mut Frame, area: Rect, v: &View) {
        let today = time::date_of(v.now, v.tz);
        let title = format!("My day · {}{}", time::day(self.day), if self.day == today { " (today)" } else { "" });
        if self.appts.is_empty() {
            let text = if self.loading { "Loading…" } else { "No appointments. [ ] moves a day, w shows the week." };
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
                if self.loading { "Loading…" } else { "No appointments this week." },
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

fn avail_msg(m: AvailMsg) -> app::Msg {
    app::Msg::Doctor(Msg::Avail(m))
}

impl Avail {
    fn open(me: Uuid, ctx: &mut Ctx) -> Self {
        let client = ctx.client.clone();
        ctx.spawn("loading availability", async move { client.availability(me).await }, |r| {
            avail_msg(AvailMsg::Loaded(r))
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

    fn typing(&self) -> bool {
        self.form.is_some() || self.focus == 0
    }

    fn commands(&self) -> Vec<Cmd> {
        if self.form.is_some() {
            return vec![cmd("Tab", "next field"), cmd("Enter", "add time off"), cmd("Esc", "cancel")];
        }
        if self.focus == 0 {
            vec![cmd("type", "edit rules"), cmd("Ctrl-S", "save rules"), cmd("Tab", "time off"), cmd("Esc", "back")]
        } else {
            vec![LIST_NAV, cmd("a", "add time off"), cmd("x", "delete"), cmd("Tab", "rules"), cmd("Esc", "back")]
        }
    }

    /// `None` when the user leaves.
    fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> Option<Handled> {
        if let Some(form) = &mut self.form {
            match key.code {
                KeyCode::Esc => self.form = None,
                KeyCode::Enter => {
                    let form = form.clone();
                    self.add_time_off(&form, ctx);
                }
                _ => {
                    form.handle(&key);
                }
            }
            return Some(Handled::Consumed);
        }
        match key.code {
            KeyCode::Esc => return None,
            KeyCode::Tab | KeyCode::BackTab => self.focus = 1 - self.focus,
            _ if self.focus == 0 => {
                if is_ctrl(&key, 's') {
                    self.save(ctx);
                } else {
                    self.rules.input(key);
                }
            }
            _ if is_char(&key, 'a') => {
                self.form = Some(Form::new(vec![
                    Field::new("From").hint("YYYY-MM-DD HH:MM"),
                    Field::new("Until").hint("YYYY-MM-DD HH:MM"),
                    Field::new("Reason").hint("optional"),
                ]));
            }
            _ if is_char(&key, 'x') => self.delete_time_off(ctx),
            _ => {
                if !self.pick.handle(&key, self.time_off.len()) {
                    return Some(Handled::Ignored);
                }
            }
        }
        Some(Handled::Consumed)
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
            avail_msg(AvailMsg::Saved(r))
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
            avail_msg(AvailMsg::TimeOffAdded(r))
        });
    }

    fn delete_time_off(&mut self, ctx: &mut Ctx) {
        let Some(id) = self.time_off.get(self.pick.sel).map(|t| t.id) else { return };
        let (client, me) = (ctx.client.clone(), self.me);
        ctx.spawn("deleting time off", async move { client.delete_time_off(me, id).await }, |r| {
            avail_msg(AvailMsg::TimeOffDeleted(r))
        });
    }

    fn reload(&mut self, ctx: &mut Ctx) {
        let (client, me) = (ctx.client.clone(), self.me);
        ctx.spawn("loading availability", async move { client.availability(me).await }, |r| {
            avail_msg(AvailMsg::Loaded(r))
        });
    }

    fn set(&mut self, a: Availability) {
        self.rules = TextArea::new(rules_text(&a.rules));
        self.rules.set_cursor_line_style(Style::new());
        self.time_off = a.time_off;
        self.pick.clamp(self.time_off.len());
        self.loaded = true;
    }

    fn on_msg(&mut self, m: AvailMsg, ctx: &mut Ctx) {
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
