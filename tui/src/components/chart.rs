//! A patient's chart: the profile (insurance masked for clinical staff, by
//! the server), the appointment that led here, and the patient's records.
//! Doctors may write and retract their own records from here.

use healthsynx_shared::api::RecordQuery;
use healthsynx_shared::{Appointment, MedicalRecord, Page, Patient, Problem, RecordStatus, RecordVersion};
use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use uuid::Uuid;

use crate::app::{Ctx, Msg, View};
use crate::components::editor::{Editor, EditorMsg, EditorOutcome, prescriptions_text};
use crate::keys::{Cmd, LIST_NAV, cmd, is_char};
use crate::screens::front_desk::{appt_lines, patient_lines};
use crate::time;
use crate::ui::{self, Pick};

pub enum ChartMsg {
    Patient(Result<Patient, Problem>),
    Records(Result<Page<MedicalRecord>, Problem>),
    Editor(EditorMsg),
    Retracted(Result<(), Problem>),
    History(Result<Vec<RecordVersion>, Problem>),
}

/// How a screen routes a chart's results (and its editor's) back to itself.
pub type ChartRoute = (fn(ChartMsg) -> Msg, fn(EditorMsg) -> Msg);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartOutcome {
    Open,
    /// Not a chart key: the screen (and then the app) may use it.
    Ignored,
    Closed,
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
    wrap: fn(ChartMsg) -> Msg,
    /// The same route as `wrap`, for the editor's results.
    editor_route: fn(EditorMsg) -> Msg,
    patient_id: Uuid,
    pub appt: Option<Appointment>,
    /// The doctor who may write here; `None` for read-only viewers.
    writer: Option<Uuid>,
    pub patient: Option<Patient>,
    pub records: Option<Vec<MedicalRecord>>,
    pick: Pick,
    mode: Mode,
}

impl Chart {
    /// Opens a chart and starts loading the profile and records.
    pub fn open(
        (wrap, editor_route): ChartRoute,
        patient_id: Uuid,
        appt: Option<Appointment>,
        writer: Option<Uuid>,
        ctx: &mut Ctx,
    ) -> Self {
        let mut chart = Chart {
            wrap,
            editor_route,
            patient_id,
            appt,
            writer,
            patient: None,
            records: None,
            pick: Pick::default(),
            mode: Mode::List,
        };
        let client = ctx.client.clone();
        ctx.spawn("loading the patient", async move { client.patient(patient_id).await }, move |r| {
            wrap(ChartMsg::Patient(r))
        });
        chart.load_records(ctx);
        chart
    }

    fn load_records(&mut self, ctx: &mut Ctx) {
        let client = ctx.client.clone();
        let wrap = self.wrap;
        let q = RecordQuery { patient_id: Some(self.patient_id), limit: Some(200), ..RecordQuery::default() };
        ctx.spawn("loading records", async move { client.records(&q).await }, move |r| wrap(ChartMsg::Records(r)));
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

    pub fn editor(&self) -> Option<&Editor> {
        match &self.mode {
            Mode::Edit(e) => Some(e),
            _ => None,
        }
    }

    pub fn commands(&self) -> Vec<Cmd> {
        match &self.mode {
            Mode::Edit(e) => e.commands(),
            Mode::ConfirmRetract => vec![cmd("y", "retract"), cmd("n/Esc", "keep")],
            Mode::History(_) => vec![cmd("Esc", "close")],
            Mode::Read | Mode::List => {
                let mut c = if matches!(self.mode, Mode::List) {
                    vec![LIST_NAV, cmd("Enter", "read record")]
                } else {
                    vec![cmd("Esc", "back to list")]
                };
                if self.selected().is_some_and(|r| self.may_edit(r)) {
                    c.push(cmd("e", "edit record"));
                    c.push(cmd("D", "retract record"));
                }
                if self.selected().is_some() {
                    c.push(cmd("v", "versions"));
                }
                if self.may_add() {
                    c.push(cmd("N", "new record"));
                }
                c.push(cmd("g", "refresh"));
                if matches!(self.mode, Mode::List) {
                    c.push(cmd("Esc", "back"));
                }
                c
            }
        }
    }

    pub fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> ChartOutcome {
        match &mut self.mode {
            Mode::Edit(e) => {
                if e.handle_key(key, ctx) == EditorOutcome::Closed {
                    self.mode = Mode::List;
                }
            }
            Mode::ConfirmRetract => {
                if is_char(&key, 'y') {
                    self.retract(ctx);
                }
                self.mode = Mode::List;
            }
            Mode::History(_) => self.mode = Mode::List,
            Mode::Read | Mode::List => return self.list_key(key, ctx),
        }
        ChartOutcome::Open
    }

    fn list_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> ChartOutcome {
        let reading = matches!(self.mode, Mode::Read);
        let n = self.records.as_ref().map_or(0, Vec::len);
        if key.code == KeyCode::Esc {
            if reading {
                self.mode = Mode::List;
            } else {
                return ChartOutcome::Closed;
            }
        } else if key.code == KeyCode::Enter && self.selected().is_some() {
            self.mode = if reading { Mode::List } else { Mode::Read };
        } else if is_char(&key, 'e') && self.selected().is_some_and(|r| self.may_edit(r)) {
            if let Some(r) = self.selected() {
                self.mode = Mode::Edit(Box::new(Editor::edit(self.editor_wrap(), r)));
            }
        } else if is_char(&key, 'D') && self.selected().is_some_and(|r| self.may_edit(r)) {
            self.mode = Mode::ConfirmRetract;
        } else if is_char(&key, 'N') && self.may_add() {
            if let Some(a) = &self.appt {
                self.mode = Mode::Edit(Box::new(Editor::new_record(self.editor_wrap(), a.id)));
            }
        } else if is_char(&key, 'v') && self.selected().is_some() {
            self.load_history(ctx);
        } else if is_char(&key, 'g') {
            self.load_records(ctx);
        } else if reading || !self.pick.handle(&key, n) {
            return ChartOutcome::Ignored;
        }
        ChartOutcome::Open
    }

    fn editor_wrap(&self) -> fn(EditorMsg) -> Msg {
        self.editor_route
    }

    fn load_history(&mut self, ctx: &mut Ctx) {
        let Some(id) = self.selected().map(|r| r.id) else { return };
        let client = ctx.client.clone();
        let wrap = self.wrap;
        self.mode = Mode::History(None);
        ctx.spawn("loading versions", async move { client.record_history(id).await }, move |r| {
            wrap(ChartMsg::History(r))
        });
    }

    fn retract(&mut self, ctx: &mut Ctx) {
        let Some(id) = self.selected().map(|r| r.id) else { return };
        let client = ctx.client.clone();
        let wrap = self.wrap;
        ctx.spawn("retracting the record", async move { client.retract_record(id).await }, move |r| {
            wrap(ChartMsg::Retracted(r))
        });
    }

    pub fn on_msg(&mut self, msg: ChartMsg, ctx: &mut Ctx) {
        match msg {
            ChartMsg::Patient(Ok(p)) => self.patient = Some(p),
            ChartMsg::Patient(Err(p)) => ctx.problem("Could not load the patient", &p),
            ChartMsg::Records(Ok(page)) => {
                let mut recs = page.items;
                recs.sort_by_key(|r| std::cmp::Reverse(r.created_at));
                self.pick.clamp(recs.len());
                self.records = Some(recs);
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
        let [top, list] = Layout::vertical([Constraint::Length(8), Constraint::Min(3)]).areas(area);
        let [left, right] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(top);
        let profile = match &self.patient {
            Some(p) => patient_lines(p),
            None => vec![Line::from(Span::styled("Loading…", t.dim()))],
        };
        f.render_widget(Paragraph::new(profile).block(ui::block("Patient", t)), left);
        let visit = match &self.appt {
            Some(a) => appt_lines(a, v),
            None => vec![Line::from(Span::styled("—", t.dim()))],
        };
        f.render_widget(Paragraph::new(visit).wrap(Wrap { trim: true }).block(ui::block("Appointment", t)), right);
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
        Line::from(format!("{}  {}{mine}{state}", time::full(r.created_at, v.tz), ui::fit(&r.diagnosis, 44)))
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

/// The first block of an id, enough to tell people apart in a short list.
fn short_id(id: Uuid) -> String {
    id.to_string().chars().take(8).collect()
}
