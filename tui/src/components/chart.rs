//! A patient's chart: the profile (insurance masked for clinical staff, by
//! the server), the appointment that led here, and the patient's records.
//! Doctors may write and retract their own records from here.

use std::collections::HashMap;

use healthsynx_shared::api::{AppointmentQuery, RecordQuery};
use healthsynx_shared::{Appointment, MedicalRecord, Page, Patient, Problem, RecordStatus, RecordVersion};
use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use uuid::Uuid;

use crate::app::{Ctx, Msg, View};
use crate::components::Outcome;
use crate::components::editor::{Editor, EditorMsg, EditorOutcome, prescriptions_text};
use crate::components::emergency;
use crate::keys::{self, Binding, Cmd, ENTER, ENTER_ESC, ESC, Keymap, LIST, bind, char, code};
use crate::screens::front_desk::{appt_lines, patient_lines};
use crate::time;
use crate::ui::{self, Pick};

pub enum ChartMsg {
    Patient(Result<Patient, Problem>),
    Records(Result<Page<MedicalRecord>, Problem>),
    Editor(EditorMsg),
    Retracted(Result<(), Problem>),
    History(Result<Vec<RecordVersion>, Problem>),
    /// The patient's appointments, loaded for a chart opened under a grant.
    Appointments(Result<Page<Appointment>, Problem>),
}

enum Mode {
    List,
    Read,
    Edit(Box<Editor>),
    ConfirmRetract,
    /// Every saved version of the selected record; `None` while loading.
    History(Option<Vec<RecordVersion>>),
}

pub struct Chart {
    patient_id: Uuid,
    pub appt: Option<Appointment>,
    /// The doctor who may write here; `None` for read-only viewers.
    writer: Option<Uuid>,
    pub patient: Option<Patient>,
    pub records: Option<Vec<MedicalRecord>>,
    pick: Pick,
    mode: Mode,
    /// Opened through a break-glass grant that lasts until then: read only, marked.
    pub emergency: Option<jiff::Timestamp>,
    /// Under a grant: the patient's appointments (there is no one visit that led here).
    appts: Option<Vec<Appointment>>,
    /// When each visit the caller may see began: records are listed by it.
    visits: HashMap<Uuid, jiff::Timestamp>,
}

#[derive(Debug, Clone, Copy)]
pub enum Act {
    Go,
    Read,
    Back,
    Close,
    Edit,
    AskRetract,
    Retract,
    New,
    Versions,
    Refresh,
}

type B = Binding<Chart, Act>;

fn editable(c: &Chart) -> bool {
    c.selected().is_some_and(|r| c.may_edit(r))
}

fn any_selected(c: &Chart) -> bool {
    c.selected().is_some()
}

const LIST_KEYS: &[B] = &[
    bind(LIST, "↑↓/jk", "move", Act::Go).when(|c| c.records.as_ref().is_some_and(|r| r.len() > 1)),
    bind(ENTER, "Enter", "read record", Act::Read).when(any_selected),
    bind(&[char('e')], "e", "edit record", Act::Edit).when(editable),
    bind(&[char('D')], "D", "retract record", Act::AskRetract).when(editable),
    bind(&[char('v')], "v", "versions", Act::Versions).when(any_selected),
    bind(&[char('N')], "N", "new record", Act::New).when(Chart::may_add),
    bind(&[char('g')], "g", "refresh", Act::Refresh),
    bind(ESC, "Esc", "back", Act::Close),
];
const READ_KEYS: &[B] = &[
    bind(ENTER_ESC, "Enter/Esc", "back to list", Act::Back),
    bind(&[char('e')], "e", "edit record", Act::Edit).when(editable),
    bind(&[char('D')], "D", "retract record", Act::AskRetract).when(editable),
    bind(&[char('v')], "v", "versions", Act::Versions).when(any_selected),
    bind(&[char('N')], "N", "new record", Act::New).when(Chart::may_add),
    bind(&[char('g')], "g", "refresh", Act::Refresh),
];
const CONFIRM_KEYS: &[B] = &[
    bind(&[char('y')], "y", "retract", Act::Retract),
    bind(&[char('n'), code(KeyCode::Esc)], "n/Esc", "keep", Act::Back),
];
const HISTORY_KEYS: &[B] = &[bind(ESC, "Esc", "close", Act::Back)];

impl Keymap for Chart {
    type Action = Act;

    fn bindings(&self) -> &'static [B] {
        match self.mode {
            Mode::List => LIST_KEYS,
            Mode::Read => READ_KEYS,
            Mode::ConfirmRetract => CONFIRM_KEYS,
            Mode::History(_) => HISTORY_KEYS,
            // The editor answers its own keys.
            Mode::Edit(_) => &[],
        }
    }
}

impl Chart {
    /// Opens a chart and starts loading the profile and records.
    pub fn open(patient_id: Uuid, appt: Option<Appointment>, writer: Option<Uuid>, ctx: &mut Ctx) -> Self {
        let mut chart = Chart {
            patient_id,
            appt,
            writer,
            patient: None,
            records: None,
            pick: Pick::default(),
            mode: Mode::List,
            emergency: None,
            appts: None,
            visits: HashMap::new(),
        };
        chart.visits.extend(chart.appt.as_ref().map(|a| (a.id, a.start)));
        let client = ctx.client.clone();
        ctx.spawn("loading the patient", async move { client.patient(patient_id).await }, |r| {
            Msg::new(ChartMsg::Patient(r))
        });
        chart.load_records(ctx);
        let client = ctx.client.clone();
        let q = AppointmentQuery { patient_id: Some(patient_id), limit: Some(200), ..AppointmentQuery::default() };
        ctx.spawn("loading appointments", async move { client.appointments(&q).await }, |r| {
            Msg::new(ChartMsg::Appointments(r))
        });
        chart
    }

    /// Opens the chart of a patient outside the caller's care, through a
    /// grant lasting until `expires_at`: read only, with the time left shown.
    pub fn under_grant(patient_id: Uuid, expires_at: jiff::Timestamp, ctx: &mut Ctx) -> Self {
        let mut chart = Chart::open(patient_id, None, None, ctx);
        chart.emergency = Some(expires_at);
        chart
    }

    /// When the record's visit began, or, for a visit the caller cannot
    /// see, when the record was written.
    fn visit_of(&self, r: &MedicalRecord) -> jiff::Timestamp {
        self.visits.get(&r.appointment_id).copied().unwrap_or(r.created_at)
    }

    /// Newest visit first.
    fn sort_records(&mut self) {
        let mut recs = self.records.take().unwrap_or_default();
        recs.sort_by_key(|r| std::cmp::Reverse((self.visit_of(r), r.created_at)));
        self.records = Some(recs);
    }

    fn load_records(&mut self, ctx: &mut Ctx) {
        let client = ctx.client.clone();
        let q = RecordQuery { patient_id: Some(self.patient_id), limit: Some(200), ..RecordQuery::default() };
        ctx.spawn("loading records", async move { client.records(&q).await }, |r| Msg::new(ChartMsg::Records(r)));
    }

    fn selected(&self) -> Option<&MedicalRecord> {
        self.records.as_ref().and_then(|r| r.get(self.pick.sel))
    }

    fn may_edit(&self, r: &MedicalRecord) -> bool {
        self.writer == Some(r.doctor_id) && r.status == RecordStatus::Active
    }

    /// A new record is written by the appointment's own doctor, once.
    fn may_add(&self) -> bool {
        let Some(a) = &self.appt else { return false };
        let has = self.records.iter().flatten().any(|r| r.appointment_id == a.id && r.status == RecordStatus::Active);
        self.writer == Some(a.doctor_id) && !has
    }

    pub fn typing(&self) -> bool {
        matches!(self.mode, Mode::Edit(_))
    }

    pub fn commands(&self) -> Vec<Cmd> {
        match &self.mode {
            Mode::Edit(e) => e.commands(),
            _ => keys::commands(self),
        }
    }

    pub fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> Outcome {
        if let Mode::Edit(e) = &mut self.mode {
            if e.handle_key(key, ctx) == EditorOutcome::Closed {
                self.mode = Mode::List;
            }
            return Outcome::Open;
        }
        let Some(a) = keys::action(self, &key) else { return Outcome::Ignored };
        match a {
            Act::Go => self.pick.go(&key, self.records.as_ref().map_or(0, Vec::len)),
            Act::Read => self.mode = Mode::Read,
            Act::Back => self.mode = Mode::List,
            Act::Close => return Outcome::Closed,
            Act::Edit => {
                if let Some(r) = self.selected() {
                    self.mode = Mode::Edit(Box::new(Editor::edit(r)));
                }
            }
            Act::AskRetract => self.mode = Mode::ConfirmRetract,
            Act::Retract => {
                self.retract(ctx);
                self.mode = Mode::List;
            }
            Act::New => {
                if let Some(a) = &self.appt {
                    self.mode = Mode::Edit(Box::new(Editor::new_record(a.id)));
                }
            }
            Act::Versions => self.load_history(ctx),
            Act::Refresh => self.load_records(ctx),
        }
        Outcome::Open
    }

    fn load_history(&mut self, ctx: &mut Ctx) {
        let Some(id) = self.selected().map(|r| r.id) else { return };
        let client = ctx.client.clone();
        self.mode = Mode::History(None);
        ctx.spawn("loading versions", async move { client.record_history(id).await }, move |r| {
            Msg::new(ChartMsg::History(r))
        });
    }

    fn retract(&mut self, ctx: &mut Ctx) {
        let Some(id) = self.selected().map(|r| r.id) else { return };
        let client = ctx.client.clone();
        ctx.spawn("retracting the record", async move { client.retract_record(id).await }, move |r| {
            Msg::new(ChartMsg::Retracted(r))
        });
    }

    /// Takes a result of the chart's (or its editor's) tasks.
    pub fn on_msg(&mut self, msg: Msg, ctx: &mut Ctx) {
        let msg = match msg.take::<ChartMsg>() {
            Ok(m) => m,
            Err(m) => match m.take::<EditorMsg>() {
                Ok(m) => ChartMsg::Editor(m),
                Err(_) => return,
            },
        };
        match msg {
            ChartMsg::Patient(Ok(p)) => self.patient = Some(p),
            ChartMsg::Patient(Err(p)) => ctx.problem("Could not load the patient", &p),
            ChartMsg::Records(Ok(page)) => {
                self.pick.clamp(page.items.len());
                self.records = Some(page.items);
                self.sort_records();
            }
            ChartMsg::Records(Err(p)) => {
                self.records = Some(Vec::new());
                ctx.problem("Could not load the records", &p);
            }
            ChartMsg::Editor(m) => {
                if let Mode::Edit(e) = &mut self.mode
                    && let EditorOutcome::Saved(r) = e.on_msg(m, ctx)
                {
                    ctx.info(format!("Record saved (version {}).", r.version));
                    self.mode = Mode::List;
                    self.load_records(ctx);
                }
            }
            ChartMsg::Retracted(Ok(())) => {
                ctx.info("Record retracted: kept as entered in error, hidden from lists.");
                self.load_records(ctx);
            }
            ChartMsg::Retracted(Err(p)) => ctx.problem("Not retracted", &p),
            ChartMsg::Appointments(Ok(page)) => {
                self.visits.extend(page.items.iter().map(|a| (a.id, a.start)));
                if self.records.is_some() {
                    self.sort_records();
                }
                if self.emergency.is_some() {
                    self.appts = Some(page.items);
                }
            }
            ChartMsg::Appointments(Err(p)) => {
                // Records then go by when they were written.
                if self.emergency.is_some() {
                    self.appts = Some(Vec::new());
                    ctx.problem("Could not load the appointments", &p);
                }
            }
            ChartMsg::History(r) => {
                if let Mode::History(versions) = &mut self.mode {
                    match r {
                        Ok(v) => *versions = Some(v),
                        Err(p) => {
                            self.mode = Mode::List;
                            ctx.problem("Could not load the versions", &p);
                        }
                    }
                }
            }
        }
    }

    pub fn draw(&self, f: &mut Frame, area: Rect, v: &View) {
        let t = v.theme;
        if let Mode::Edit(e) = &self.mode {
            let who = self.patient.as_ref().map_or("patient".to_owned(), |p| p.full_name.clone());
            let title = match e.target {
                crate::components::editor::Target::New { .. } => format!("New record · {who}"),
                crate::components::editor::Target::Existing { version, .. } => {
                    format!("Edit record · {who} · v{version}")
                }
            };
            e.draw(f, area, &title, v);
            return;
        }
        let area = match self.emergency {
            Some(until) => {
                let [banner, rest] = Layout::vertical([Constraint::Length(1), Constraint::Min(3)]).areas(area);
                f.render_widget(Paragraph::new(emergency::banner(until, v)), banner);
                rest
            }
            None => area,
        };
        let [top, list] = Layout::vertical([Constraint::Length(8), Constraint::Min(3)]).areas(area);
        let [left, right] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(top);
        let profile = match &self.patient {
            Some(p) => patient_lines(p),
            None => vec![Line::from(Span::styled("Loading…", t.dim()))],
        };
        f.render_widget(Paragraph::new(profile).block(ui::block("Patient", t)), left);
        let (visit, visit_title) = match (&self.appt, &self.appts) {
            (Some(a), _) => (appt_lines(a, v), "Appointment"),
            (None, Some(appts)) if appts.is_empty() => {
                (vec![Line::from(Span::styled("No appointments.", t.dim()))], "Appointments")
            }
            (None, Some(appts)) => (appts.iter().map(|a| appt_row(a, v)).collect(), "Appointments"),
            (None, None) if self.emergency.is_some() => {
                (vec![Line::from(Span::styled("Loading…", t.dim()))], "Appointments")
            }
            (None, None) => (vec![Line::from(Span::styled("—", t.dim()))], "Appointment"),
        };
        f.render_widget(Paragraph::new(visit).wrap(Wrap { trim: true }).block(ui::block(visit_title, t)), right);
        let rows = match &self.records {
            None => vec![Line::from(Span::styled("Loading…", t.dim()))],
            Some(recs) => recs.iter().map(|r| self.record_row(r, v)).collect(),
        };
        ui::draw_list(f, list, "Records", rows, self.pick, t, true);
        match &self.mode {
            Mode::Read => {
                if let Some(r) = self.selected() {
                    ui::draw_popup(f, area, "Record", record_lines(r, v), 76, t);
                }
            }
            Mode::ConfirmRetract => {
                let lines = vec![
                    Line::from("Retract this record as entered in error?"),
                    Line::from(Span::styled("It stays in the legal record but leaves the lists. y / n", t.dim())),
                ];
                ui::draw_popup(f, area, "Retract record", lines, 64, t);
            }
            Mode::History(versions) => {
                let lines = match versions {
                    None => vec![Line::from(Span::styled("Loading…", t.dim()))],
                    Some(vs) => vs.iter().map(|rv| self.version_line(rv, v)).collect(),
                };
                ui::draw_popup(f, area, "Every saved version", lines, 76, t);
            }
            _ => {}
        }
    }

    fn version_line(&self, rv: &RecordVersion, v: &View) -> Line<'static> {
        let by = if self.writer == Some(rv.changed_by) { "you".to_owned() } else { short_id(rv.changed_by) };
        let what = if rv.changed_fields.is_empty() { "created".to_owned() } else { rv.changed_fields.join(", ") };
        Line::from(format!("v{:<3} {}  by {:<9} {}", rv.version, time::full(rv.changed_at, v.tz), by, what))
    }

    fn record_row(&self, r: &MedicalRecord, v: &View) -> Line<'static> {
        let mine = if self.writer == Some(r.doctor_id) { " (yours)" } else { "" };
        let state = if r.status == RecordStatus::EnteredInError { " [retracted]" } else { "" };
        Line::from(format!("{}  {}{mine}{state}", time::full(self.visit_of(r), v.tz), ui::fit(&r.diagnosis, 44)))
    }
}

/// A record in full, for reading.
pub fn record_lines(r: &MedicalRecord, v: &View) -> Vec<Line<'static>> {
    let mut lines =
        vec![Line::from(Span::styled(format!("Diagnosis: {}", r.diagnosis), v.theme.title())), Line::raw("")];
    lines.extend(r.notes.lines().map(|l| Line::from(l.to_owned())));
    lines.push(Line::raw(""));
    if r.prescriptions.is_empty() {
        lines.push(Line::from("No prescriptions."));
    } else {
        lines.push(Line::from("Prescriptions:"));
        lines.extend(prescriptions_text(&r.prescriptions).lines().map(|l| Line::from(format!("  {l}"))));
    }
    let status = if r.status == RecordStatus::EnteredInError { "retracted (entered in error)" } else { "active" };
    lines.push(Line::from(Span::styled(
        format!("Version {} · {} · updated {}", r.version, status, time::full(r.updated_at, v.tz)),
        v.theme.dim(),
    )));
    lines
}

/// One appointment in a short list: when, with whom, how it stands.
fn appt_row(a: &Appointment, v: &View) -> Line<'static> {
    Line::from(format!(
        "{}  {}  {}",
        time::full(a.start, v.tz),
        ui::fit(&a.doctor_name, 18),
        crate::theme::status_word(a.status)
    ))
}

/// The first block of an id, enough to tell people apart in a short list.
fn short_id(id: Uuid) -> String {
    id.to_string().chars().take(8).collect()
}
