//! Nurse: the department's appointments of a day, check-in, and read-only
//! charts (profile with masked insurance, records).

use healthsynx_shared::api::{AppointmentAction, AppointmentQuery};
use healthsynx_shared::{Appointment, AppointmentStatus, Page, Problem};
use jiff::Timestamp;
use jiff::civil::Date;
use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::{self, Ctx, Handled, View};
use crate::components::chart::{Chart, ChartMsg, ChartOutcome, ChartRoute};
use crate::keys::{Cmd, LIST_NAV, cmd, is_char};
use crate::theme::status_word;
use crate::time;
use crate::ui::{self, Field, Pick};

/// How often the list reloads by itself, so arrivals show up.
const REFRESH_SECS: i64 = 30;

pub enum Msg {
    Day(Date, Result<Page<Appointment>, Problem>),
    CheckedIn(Result<Appointment, Problem>),
    Chart(ChartMsg),
}

const CHART_ROUTE: ChartRoute =
    (|m| app::Msg::Nurse(Msg::Chart(m)), |m| app::Msg::Nurse(Msg::Chart(ChartMsg::Editor(m))));

pub struct Nurse {
    pub day: Date,
    department: String,
    appts: Vec<Appointment>,
    pick: Pick,
    loading: bool,
    loaded_at: Option<Timestamp>,
    chart: Option<Box<Chart>>,
    /// `/` narrows the list to patients or doctors whose name matches.
    filter: Field,
    filtering: bool,
}

impl Nurse {
    pub fn new(ctx: &mut Ctx) -> Self {
        let department = ctx.user.and_then(|u| u.department.clone()).unwrap_or_default();
        let mut n = Nurse {
            day: time::date_of(ctx.now, ctx.tz),
            department,
            appts: Vec::new(),
            pick: Pick::default(),
            loading: true,
            loaded_at: None,
            chart: None,
            filter: Field::new("/"),
            filtering: false,
        };
        n.reload(ctx);
        n
    }

    fn reload(&mut self, ctx: &mut Ctx) {
        let (from, to) = time::days_range(self.day, 1, ctx.tz);
        // The server limits a nurse to their own department whatever we ask.
        let q = AppointmentQuery {
            department: Some(self.department.clone()).filter(|d| !d.is_empty()),
            from: Some(from),
            to: Some(to),
            limit: Some(500),
            ..AppointmentQuery::default()
        };
        let client = ctx.client.clone();
        let day = self.day;
        self.loading = true;
        self.loaded_at = Some(ctx.now);
        ctx.spawn("loading the day", async move { client.appointments(&q).await }, move |r| {
            app::Msg::Nurse(Msg::Day(day, r))
        });
    }

    pub fn on_tick(&mut self, ctx: &mut Ctx) {
        let stale = self.loaded_at.is_some_and(|t| ctx.now.duration_since(t).as_secs() >= REFRESH_SECS);
        if stale && !self.loading && self.chart.is_none() {
            self.reload(ctx);
        }
    }

    pub fn typing(&self) -> bool {
        self.filtering || self.chart.as_ref().is_some_and(|c| c.typing())
    }

    /// The appointments the filter lets through, in list order.
    fn shown(&self) -> Vec<&Appointment> {
        let f = self.filter.text().to_lowercase();
        self.appts
            .iter()
            .filter(|a| {
                f.is_empty() || a.patient_name.to_lowercase().contains(&f) || a.doctor_name.to_lowercase().contains(&f)
            })
            .collect()
    }

    pub fn commands(&self) -> Vec<Cmd> {
        if let Some(c) = &self.chart {
            return c.commands();
        }
        if self.filtering {
            return vec![cmd("type", "filter by name"), cmd("Enter", "done"), cmd("Esc", "clear")];
        }
        let mut c = vec![LIST_NAV, cmd("Enter", "open patient")];
        if self.selected().is_some_and(|a| a.status == AppointmentStatus::Scheduled) {
            c.push(cmd("c", "check in"));
        }
        c.extend([cmd("/", "filter"), cmd("[ ]", "day"), cmd("t", "today"), cmd("g", "refresh")]);
        c
    }

    fn selected(&self) -> Option<&Appointment> {
        self.shown().get(self.pick.sel).copied()
    }

    pub fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> Handled {
        if let Some(c) = &mut self.chart {
            match c.handle_key(key, ctx) {
                ChartOutcome::Closed => self.chart = None,
                ChartOutcome::Ignored => return Handled::Ignored,
                ChartOutcome::Open => {}
            }
            return Handled::Consumed;
        }
        if self.filtering {
            match key.code {
                KeyCode::Esc => {
                    self.filter.value.clear();
                    self.filtering = false;
                }
                KeyCode::Enter => self.filtering = false,
                _ => {
                    self.filter.handle(&key);
                }
            }
            self.pick = Pick::default();
            return Handled::Consumed;
        }
        if self.pick.handle(&key, self.shown().len()) {
        } else if is_char(&key, '/') {
            self.filtering = true;
        } else if key.code == KeyCode::Enter {
            if let Some(a) = self.selected().cloned() {
                self.chart = Some(Box::new(Chart::open(CHART_ROUTE, a.patient_id, Some(a), None, ctx)));
            }
        } else if is_char(&key, 'c') {
            if let Some(id) = self.selected().map(|a| a.id) {
                let client = ctx.client.clone();
                ctx.spawn(
                    "checking in",
                    async move { client.appointment_action(id, AppointmentAction::CheckIn).await },
                    |r| app::Msg::Nurse(Msg::CheckedIn(r)),
                );
            }
        } else if is_char(&key, '[') || is_char(&key, ']') {
            self.day = time::add_days(self.day, if is_char(&key, '[') { -1 } else { 1 });
            self.reload(ctx);
        } else if is_char(&key, 't') {
            self.day = time::date_of(ctx.now, ctx.tz);
            self.reload(ctx);
        } else if is_char(&key, 'g') {
            self.reload(ctx);
        } else {
            return Handled::Ignored;
        }
        Handled::Consumed
    }

    pub fn on_msg(&mut self, msg: Msg, ctx: &mut Ctx) {
        match msg {
            Msg::Day(day, r) if day == self.day => {
                self.loading = false;
                match r {
                    Ok(page) => {
                        self.appts = page.items;
                        self.appts.sort_by_key(|a| (a.start, a.doctor_name.clone()));
                        self.pick.clamp(self.shown().len());
                    }
                    Err(p) => ctx.problem("Could not load the day", &p),
                }
            }
            Msg::Day(..) => {}
            Msg::CheckedIn(Ok(a)) => {
                ctx.info(format!(
                    "Checked in: {} ({} with {}).",
                    a.patient_name,
                    time::hm(a.start, ctx.tz),
                    a.doctor_name
                ));
                self.reload(ctx);
            }
            Msg::CheckedIn(Err(p)) => {
                ctx.problem("Not checked in", &p);
                self.reload(ctx);
            }
            Msg::Chart(m) => {
                if let Some(c) = &mut self.chart {
                    c.on_msg(m, ctx);
                }
            }
        }
    }

    pub fn draw(&self, f: &mut Frame, area: Rect, v: &View) {
        if let Some(c) = &self.chart {
            c.draw(f, area, v);
            return;
        }
        let today = time::date_of(v.now, v.tz);
        let title = format!(
            "{} · {}{}",
            if self.department.is_empty() { "Department" } else { &self.department },
            time::day(self.day),
            if self.day == today { " (today)" } else { "" }
        );
        let title = match (self.filter.text(), self.filtering) {
            ("", false) => title,
            (f, typing) => format!("{title} · matching “{f}”{}", if typing { "▏" } else { "" }),
        };
        let shown = self.shown();
        if shown.is_empty() {
            let text = match (self.loading, self.appts.is_empty()) {
                (true, _) => "Loading…",
                (false, true) => "No appointments this day. [ ] moves a day.",
                (false, false) => "No one matches the filter. Esc clears it.",
            };
            f.render_widget(Paragraph::new(Span::styled(text, v.theme.dim())).block(ui::block(title, v.theme)), area);
            return;
        }
        let rows = shown
            .iter()
            .map(|a| {
                Line::from(vec![
                    Span::raw(format!("{}  ", time::hm(a.start, v.tz))),
                    Span::raw(format!("{:<20}", ui::fit(&a.patient_name, 19))),
                    Span::raw(format!("{:<18}", ui::fit(&a.doctor_name, 17))),
                    Span::styled(format!("{:<11}", status_word(a.status)), v.theme.status(a.status)),
                    Span::raw(ui::fit(&a.reason, 24)),
                ])
            })
            .collect();
        ui::draw_list(f, area, &title, rows, self.pick, v.theme, true);
    }
}
