//! Nurse: the department's appointments of a day, check-in, and read-only
//! charts (profile with masked insurance, records); emergency access to a
//! patient outside the department's care.

use healthsynx_shared::api::{AppointmentAction, AppointmentQuery};
use healthsynx_shared::client::Fresh;
use healthsynx_shared::{Appointment, AppointmentStatus, Page, Problem};
use jiff::civil::Date;
use ratatui::Frame;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::app::{self, Ctx, Handled, View};
use crate::components::Outcome;
use crate::components::chart::Chart;
use crate::components::day_nav::{self, DayNav};
use crate::components::emergency::{Emergency, EmergencyOutcome};
use crate::components::refresh::AutoRefresh;
use crate::keys::{self, Binding, Cmd, ENTER, ESC, Keymap, LIST, bind, char};
use crate::screens::Screen;
use crate::theme::status_word;
use crate::time;
use crate::ui::{self, Field, Pick};

pub enum Msg {
    Day(Date, Result<Fresh<Page<Appointment>>, Problem>),
    CheckedIn(Result<Appointment, Problem>),
}

fn reply(m: Msg) -> app::Msg {
    app::Msg::new(m)
}

/// What the day list's `ETag` is kept under.
const DAY_TAG: &str = "day";

pub struct Nurse {
    pub nav: DayNav,
    department: String,
    appts: Vec<Appointment>,
    pick: Pick,
    refresh: AutoRefresh,
    chart: Option<Box<Chart>>,
    /// `E`: asking for emergency access to a patient outside the department's care.
    emergency: Option<Box<Emergency>>,
    /// `/` narrows the list to patients or doctors whose name matches.
    filter: Field,
    filtering: bool,
}

#[derive(Debug, Clone, Copy)]
pub enum Act {
    Go,
    Open,
    CheckIn,
    Filter,
    Day,
    Refresh,
    Emergency,
    DoneFiltering,
    ClearFilter,
}

type B = Binding<Nurse, Act>;

const LIST_KEYS: &[B] = &[
    bind(LIST, "↑↓/jk", "move", Act::Go).when(|s| s.shown().len() > 1),
    // A time held for a waitlist offer brings no patient into care yet.
    bind(ENTER, "Enter", "open patient", Act::Open)
        .when(|s| s.selected().is_some_and(|a| a.status != AppointmentStatus::Held)),
    bind(&[char('E')], "E", "emergency access", Act::Emergency),
    bind(&[char('c')], "c", "check in", Act::CheckIn)
        .when(|s| s.selected().is_some_and(|a| a.status == AppointmentStatus::Scheduled)),
    bind(&[char('/')], "/", "filter", Act::Filter),
    bind(day_nav::STEP, "[ ]", "day", Act::Day),
    bind(day_nav::TODAY, "t", "today", Act::Day),
    bind(&[char('g')], "g", "refresh", Act::Refresh),
];
const FILTER_KEYS: &[B] =
    &[bind(ENTER, "Enter", "done", Act::DoneFiltering), bind(ESC, "Esc", "clear", Act::ClearFilter)];

impl Keymap for Nurse {
    type Action = Act;

    fn bindings(&self) -> &'static [B] {
        match (&self.chart, self.filtering) {
            // The chart and the emergency request answer their own keys.
            _ if self.emergency.is_some() => &[],
            (Some(_), _) => &[],
            (None, true) => FILTER_KEYS,
            (None, false) => LIST_KEYS,
        }
    }

    fn text_field(&self) -> Option<&'static str> {
        (self.chart.is_none() && self.emergency.is_none() && self.filtering).then_some("filter by name")
    }
}

impl Screen for Nurse {
    fn title(&self) -> &'static str {
        "Nurse"
    }

    fn commands(&self) -> Vec<Cmd> {
        match (&self.emergency, &self.chart) {
            (Some(e), _) => e.commands(),
            (None, Some(c)) => c.commands(),
            (None, None) => keys::commands(self),
        }
    }

    fn typing(&self) -> bool {
        self.emergency.is_some() || self.filtering || self.chart.as_ref().is_some_and(|c| c.typing())
    }

    fn on_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> Handled {
        if let Some(e) = &mut self.emergency {
            if e.handle_key(key, ctx) == EmergencyOutcome::Closed {
                self.emergency = None;
            }
            return Handled::Consumed;
        }
        if let Some(c) = &mut self.chart {
            return match c.handle_key(key, ctx) {
                Outcome::Closed => {
                    self.chart = None;
                    Handled::Consumed
                }
                Outcome::Ignored => Handled::Ignored,
                Outcome::Open => Handled::Consumed,
            };
        }
        match keys::action(self, &key) {
            Some(a) => self.act(a, key, ctx),
            None if self.filtering => {
                self.filter.handle(&key);
                self.pick = Pick::default();
            }
            None => return Handled::Ignored,
        }
        Handled::Consumed
    }

    fn on_msg(&mut self, msg: app::Msg, ctx: &mut Ctx) {
        match msg.take::<Msg>() {
            Ok(m) => self.on_result(m, ctx),
            Err(m) => {
                if let Some(e) = &mut self.emergency {
                    if let EmergencyOutcome::Granted(patient, until) = e.on_msg(m, ctx) {
                        self.emergency = None;
                        self.chart = Some(Box::new(Chart::under_grant(patient, until, ctx)));
                    }
                } else if let Some(c) = &mut self.chart {
                    c.on_msg(m, ctx);
                }
            }
        }
    }

    fn on_tick(&mut self, ctx: &mut Ctx) {
        if self.refresh.due(ctx.now) && self.chart.is_none() {
            self.load(false, ctx);
        }
    }

    fn draw(&self, f: &mut Frame, area: Rect, v: &View) {
        self.draw_day(f, area, v);
    }
}

impl Nurse {
    pub fn new(ctx: &mut Ctx) -> Self {
        let department = ctx.user.and_then(|u| u.department.clone()).unwrap_or_default();
        let mut n = Nurse {
            nav: DayNav::today(ctx),
            department,
            appts: Vec::new(),
            pick: Pick::default(),
            refresh: AutoRefresh::default(),
            chart: None,
            emergency: None,
            filter: Field::new("/"),
            filtering: false,
        };
        n.reload(ctx);
        n
    }

    fn reload(&mut self, ctx: &mut Ctx) {
        self.load(true, ctx);
    }

    /// Loads the day; unless `fresh`, with the `ETag` it was last shown with.
    fn load(&mut self, fresh: bool, ctx: &mut Ctx) {
        let (from, to) = time::days_range(self.nav.day, 1, ctx.tz);
        // The server limits a nurse to their own department whatever we ask.
        let q = AppointmentQuery {
            department: Some(self.department.clone()).filter(|d| !d.is_empty()),
            from: Some(from),
            to: Some(to),
            limit: Some(500),
            ..AppointmentQuery::default()
        };
        let client = ctx.client.clone();
        let day = self.nav.day;
        let etag = self.refresh.start(ctx.now, fresh).remove(DAY_TAG);
        ctx.spawn(
            "loading the day",
            async move { client.appointments_if_changed(&q, etag.as_deref()).await },
            move |r| reply(Msg::Day(day, r)),
        );
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

    fn selected(&self) -> Option<&Appointment> {
        self.shown().get(self.pick.sel).copied()
    }

    fn act(&mut self, a: Act, key: KeyEvent, ctx: &mut Ctx) {
        match a {
            Act::Go => self.pick.go(&key, self.shown().len()),
            Act::Open => {
                if let Some(a) = self.selected().cloned() {
                    self.chart = Some(Box::new(Chart::open(a.patient_id, Some(a), None, ctx)));
                }
            }
            Act::CheckIn => {
                if let Some(id) = self.selected().map(|a| a.id) {
                    let client = ctx.client.clone();
                    ctx.spawn(
                        "checking in",
                        async move { client.appointment_action(id, AppointmentAction::CheckIn).await },
                        |r| reply(Msg::CheckedIn(r)),
                    );
                }
            }
            Act::Filter => self.filtering = true,
            Act::Day => {
                self.nav.press(&key, 1, ctx);
                self.reload(ctx);
            }
            Act::Refresh => self.reload(ctx),
            Act::Emergency => self.emergency = Some(Box::default()),
            Act::DoneFiltering => {
                self.filtering = false;
                self.pick = Pick::default();
            }
            Act::ClearFilter => {
                self.filter.value.clear();
                self.filtering = false;
                self.pick = Pick::default();
            }
        }
    }

    fn on_result(&mut self, msg: Msg, ctx: &mut Ctx) {
        match msg {
            Msg::Day(day, r) if day == self.nav.day => {
                self.refresh.finish();
                match r.map(|fresh| self.refresh.keep(DAY_TAG, fresh)) {
                    Ok(Some(page)) => {
                        self.appts = page.items;
                        self.appts.sort_by_key(|a| (a.start, a.doctor_name.clone()));
                        self.pick.clamp(self.shown().len());
                    }
                    Ok(None) => {}
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
        }
    }

    fn draw_day(&self, f: &mut Frame, area: Rect, v: &View) {
        if let Some(c) = &self.chart {
            c.draw(f, area, v);
            return;
        }
        self.draw_list(f, area, v);
        if let Some(e) = &self.emergency {
            e.draw(f, area, v);
        }
    }

    fn draw_list(&self, f: &mut Frame, area: Rect, v: &View) {
        let title = format!(
            "{} · {}",
            if self.department.is_empty() { "Department" } else { &self.department },
            self.nav.title(v)
        );
        let title = match (self.filter.text(), self.filtering) {
            ("", false) => title,
            (f, typing) => format!("{title} · matching “{f}”{}", if typing { "▏" } else { "" }),
        };
        let shown = self.shown();
        if shown.is_empty() {
            let text = match (self.refresh.loading(), self.appts.is_empty()) {
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
