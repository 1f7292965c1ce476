//! The record editor: diagnosis, notes and prescriptions in multi-line
//! text areas. Saves with `If-Match` on the version it was opened at, so a
//! colleague's change is never silently overwritten; a `412` is explained
//! and their version shown next to the user's unsaved text.

use healthsynx_shared::api::{NewRecord, RecordPatch};
use healthsynx_shared::{MedicalRecord, Prescription, Problem, validate};
use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui_textarea::{TextArea, WrapMode};
use uuid::Uuid;

use crate::app::{Ctx, Msg, View, explain};
use crate::keys::{self, Binding, Cmd, ESC, Keymap, TAB, bind, ctrl_char};
use crate::ui;

pub enum EditorMsg {
    Saved(Result<MedicalRecord, Problem>),
    /// The current version, fetched after a `412`.
    Latest(Result<MedicalRecord, Problem>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum EditorOutcome {
    Open,
    Closed,
    Saved(MedicalRecord),
}

/// What a save creates or changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    New {
        appointment_id: Uuid,
    },
    /// `version` is what `If-Match` sends: the version the user's text is based on.
    Existing {
        id: Uuid,
        version: u64,
    },
}

pub struct Editor {
    pub target: Target,
    areas: [TextArea<'static>; 3],
    focus: usize,
    busy: bool,
    message: Option<(String, bool)>,
    /// Someone else's version, after a `412`.
    pub theirs: Option<MedicalRecord>,
    dirty: bool,
    /// Esc was pressed once with unsaved changes.
    confirm_discard: bool,
}

const TITLES: [&str; 3] = ["Diagnosis", "Notes", "Prescriptions: drug; dose; frequency; days (one a line)"];

fn area(text: &str, placeholder: &str) -> TextArea<'static> {
    let mut ta = TextArea::new(text.lines().map(str::to_owned).collect());
    ta.set_wrap_mode(WrapMode::WordOrGlyph);
    ta.set_placeholder_text(placeholder);
    // Attributes only, no colours: readable with and without NO_COLOR.
    ta.set_placeholder_style(Style::new().add_modifier(Modifier::DIM));
    ta.set_cursor_line_style(Style::new());
    ta.set_selection_style(Style::new().add_modifier(Modifier::REVERSED));
    ta
}

/// `Ramipril; 5 mg; once daily; 90` for each prescription.
pub fn prescriptions_text(rx: &[Prescription]) -> String {
    rx.iter().map(|p| format!("{}; {}; {}; {}", p.drug, p.dose, p.frequency, p.days)).collect::<Vec<_>>().join("\n")
}

/// Reads the prescription lines, naming the first bad one.
pub fn parse_prescriptions(lines: &[String]) -> Result<Vec<Prescription>, String> {
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let parts: Vec<&str> = line.split(';').map(str::trim).collect();
        let bad = || format!("Prescription line {} should read: drug; dose; frequency; days", i + 1);
        let [drug, dose, frequency, days] = parts[..] else { return Err(bad()) };
        let days: u16 = days.parse().map_err(|_| format!("Prescription line {}: days must be a number", i + 1))?;
        if drug.is_empty() {
            return Err(bad());
        }
        out.push(Prescription { drug: drug.into(), dose: dose.into(), frequency: frequency.into(), days });
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy)]
pub enum Act {
    Save,
    Close,
    NextBox,
}

const KEYS: &[Binding<Editor, Act>] = &[
    bind(TAB, "Tab", "next box", Act::NextBox),
    bind(&[ctrl_char('s')], "Ctrl-S", "save", Act::Save),
    bind(ESC, "Esc", "close", Act::Close),
];

impl Keymap for Editor {
    type Action = Act;

    fn bindings(&self) -> &'static [Binding<Editor, Act>] {
        KEYS
    }

    fn text_field(&self) -> Option<&'static str> {
        Some("edit")
    }
}

impl Editor {
    /// A blank record for an appointment.
    pub fn new_record(appointment_id: Uuid) -> Self {
        Editor::with(Target::New { appointment_id }, "", "", "")
    }

    /// An existing record, opened at its current version.
    pub fn edit(r: &MedicalRecord) -> Self {
        let target = Target::Existing { id: r.id, version: r.version };
        Editor::with(target, &r.diagnosis, &r.notes, &prescriptions_text(&r.prescriptions))
    }

    fn with(target: Target, diagnosis: &str, notes: &str, rx: &str) -> Self {
        Editor {
            target,
            areas: [
                area(diagnosis, "What did you find?"),
                area(notes, "Findings, plan, follow-up…"),
                area(rx, "e.g. Ramipril; 5 mg; once daily; 90"),
            ],
            focus: 0,
            busy: false,
            message: None,
            theirs: None,
            dirty: false,
            confirm_discard: false,
        }
    }

    pub fn text(&self, i: usize) -> String {
        self.areas.get(i).map(|a| a.lines().join("\n")).unwrap_or_default()
    }

    pub fn message(&self) -> Option<&str> {
        self.message.as_ref().map(|m| m.0.as_str())
    }

    pub fn commands(&self) -> Vec<Cmd> {
        keys::commands(self)
    }

    /// Keys not in the table are text for the focused box.
    pub fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> EditorOutcome {
        match keys::action(self, &key) {
            Some(Act::Save) => {
                self.save(ctx);
                return EditorOutcome::Open;
            }
            Some(Act::Close) if !self.dirty || self.confirm_discard => return EditorOutcome::Closed,
            Some(Act::Close) => {
                self.confirm_discard = true;
                self.message = Some(("Unsaved changes. Esc again discards them; Ctrl-S saves.".into(), true));
                return EditorOutcome::Open;
            }
            Some(Act::NextBox) if key.code == KeyCode::BackTab => self.focus = (self.focus + 2) % 3,
            Some(Act::NextBox) => self.focus = (self.focus + 1) % 3,
            None => {
                if let Some(a) = self.areas.get_mut(self.focus)
                    && a.input(key)
                {
                    self.dirty = true;
                }
            }
        }
        self.confirm_discard = false;
        EditorOutcome::Open
    }

    fn save(&mut self, ctx: &mut Ctx) {
        if self.busy {
            return;
        }
        let diagnosis = self.text(0);
        let notes = self.text(1);
        let rx = match parse_prescriptions(self.areas[2].lines()) {
            Ok(rx) => rx,
            Err(e) => {
                self.message = Some((e, true));
                return;
            }
        };
        if let Err(e) = validate::text(&diagnosis, validate::MAX_CLINICAL_TEXT) {
            self.message = Some((format!("Diagnosis {e}."), true));
            self.focus = 0;
            return;
        }
        self.busy = true;
        self.message = Some(("Saving…".into(), false));
        let client = ctx.client.clone();
        match self.target {
            Target::New { appointment_id } => {
                let new = NewRecord { appointment_id, diagnosis, notes, prescriptions: rx };
                ctx.spawn("saving the record", async move { client.create_record(&new).await }, |r| {
                    Msg::new(EditorMsg::Saved(r))
                });
            }
            Target::Existing { id, version } => {
                let patch = RecordPatch { diagnosis: Some(diagnosis), notes: Some(notes), prescriptions: Some(rx) };
                ctx.spawn("saving the record", async move { client.patch_record(id, version, &patch).await }, |r| {
                    Msg::new(EditorMsg::Saved(r))
                });
            }
        }
    }

    pub fn on_msg(&mut self, msg: EditorMsg, ctx: &mut Ctx) -> EditorOutcome {
        match msg {
            EditorMsg::Saved(Ok(r)) => {
                self.busy = false;
                self.dirty = false;
                self.theirs = None;
                self.target = Target::Existing { id: r.id, version: r.version };
                self.message = Some((format!("Saved (version {}).", r.version), false));
                return EditorOutcome::Saved(r);
            }
            EditorMsg::Saved(Err(p)) if p.status == 412 => {
                self.busy = false;
                let mine = match self.target {
                    Target::Existing { version, .. } => version,
                    Target::New { .. } => 0,
                };
                self.message = Some((
                    format!(
                        "Not saved: someone else changed this record after you opened it (you had version {mine}). \
                         Your text is kept; theirs is below. Ctrl-S again saves yours over theirs."
                    ),
                    true,
                ));
                if let Target::Existing { id, .. } = self.target {
                    let client = ctx.client.clone();
                    ctx.spawn("loading their version", async move { client.record(id).await }, |r| {
                        Msg::new(EditorMsg::Latest(r))
                    });
                }
            }
            EditorMsg::Saved(Err(p)) => {
                self.busy = false;
                self.message = Some((format!("Not saved: {}. Your text is still here.", explain(&p)), true));
            }
            EditorMsg::Latest(Ok(r)) => {
                // Saving again now deliberately replaces their version.
                if let Target::Existing { version, .. } = &mut self.target {
                    *version = r.version;
                }
                self.theirs = Some(r);
            }
            EditorMsg::Latest(Err(p)) => {
                self.message = Some((format!("Could not load their version: {}", explain(&p)), true));
            }
        }
        EditorOutcome::Open
    }

    pub fn draw(&self, f: &mut Frame, area: Rect, title: &str, v: &View) {
        let t = v.theme;
        let b = ui::block(title, t);
        let inner = b.inner(area);
        f.render_widget(b, area);
        let theirs_h = if self.theirs.is_some() { 5 } else { 0 };
        let [diag, notes, rx, msg, theirs] = Layout::vertical([
            Constraint::Length(4),
            Constraint::Min(3),
            Constraint::Length(4),
            Constraint::Length(if self.message.is_some() { 3 } else { 0 }),
            Constraint::Length(theirs_h),
        ])
        .areas(inner);
        for (i, r) in [diag, notes, rx].into_iter().enumerate() {
            let mut ta = self.areas[i].clone();
            let mut blk = ui::block(TITLES[i], t);
            if i == self.focus {
                blk = blk.border_style(t.focus());
                ta.set_cursor_style(Style::new().add_modifier(Modifier::REVERSED));
            } else {
                ta.set_cursor_style(Style::new());
            }
            ta.set_block(blk);
            f.render_widget(&ta, r);
        }
        if let Some((text, err)) = &self.message {
            let style = if *err { t.error() } else { t.ok() };
            f.render_widget(Paragraph::new(Span::styled(text.clone(), style)).wrap(Wrap { trim: true }), msg);
        }
        if let Some(r) = &self.theirs {
            let lines = vec![
                Line::from(format!("Diagnosis: {}", r.diagnosis)),
                Line::from(format!("Notes: {}", r.notes.replace('\n', " / "))),
                Line::from(format!("Prescriptions: {}", prescriptions_text(&r.prescriptions).replace('\n', " / "))),
            ];
            let title = format!("Their version {} ({})", r.version, crate::time::full(r.updated_at, v.tz));
            f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }).block(ui::block(title, t)), theirs);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prescriptions_round_trip_and_bad_lines_are_named() {
        let rx = parse_prescriptions(&["Ramipril; 5 mg; once daily; 90".into(), "".into()]).unwrap();
        assert_eq!(prescriptions_text(&rx), "Ramipril; 5 mg; once daily; 90");
        assert!(parse_prescriptions(&["Ramipril 5 mg".into()]).unwrap_err().contains("line 1"));
        assert!(parse_prescriptions(&["a; b; c; ten".into()]).unwrap_err().contains("days"));
    }
}
