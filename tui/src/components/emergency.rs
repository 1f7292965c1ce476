//! Emergency (break-glass) access to a patient outside one's care. Two
//! steps: find the patient by name (a clinic-wide search made for this, at
//! most ten matches, audited), then say why; on a grant the host opens the
//! chart marked as seen under it, with the time left (see
//! [`crate::components::chart::Chart::under_grant`]).

use healthsynx_shared::api::{BreakGlassGranted, EmergencyMatch};
use healthsynx_shared::{Problem, validate};
use jiff::Timestamp;
use ratatui::Frame;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use uuid::Uuid;

use crate::app::{Ctx, Msg, View};
use crate::keys::{self, Binding, Cmd, ENTER, ESC, Keymap, LIST_ARROWS, bind};
use crate::ui::{self, Field, Pick};

pub enum EmergencyMsg {
    /// The patients an emergency search found for the name searched.
    Found(String, Result<Vec<EmergencyMatch>, Problem>),
    Granted(Uuid, Result<BreakGlassGranted, Problem>),
}

/// What the request tells its host after a key or a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmergencyOutcome {
    Open,
    Closed,
    /// Read access to the patient until the time given.
    Granted(Uuid, Timestamp),
}

pub struct Emergency {
    name: Field,
    /// The last search's answer, and the name it was for.
    found: Option<(String, Vec<EmergencyMatch>)>,
    pick: Pick,
    /// The patient picked: now the reason is asked for.
    chosen: Option<EmergencyMatch>,
    reason: Field,
    /// Why the last try was not sent, or what the server said.
    error: Option<String>,
    sending: bool,
}

#[derive(Debug, Clone, Copy)]
pub enum Act {
    Find,
    Pick,
    Choose,
    Send,
    Back,
    Cancel,
}

type B = Binding<Emergency, Act>;

const KEYS: &[B] = &[
    bind(ENTER, "Enter", "find", Act::Find).when(|e| e.chosen.is_none() && !e.can_choose() && !e.sending),
    bind(LIST_ARROWS, "↑↓", "pick", Act::Pick).when(|e| e.can_choose() && e.matches().len() > 1),
    bind(ENTER, "Enter", "choose", Act::Choose).when(Emergency::can_choose),
    bind(ENTER, "Enter", "request access", Act::Send).when(|e| e.chosen.is_some() && !e.sending),
    bind(ESC, "Esc", "back to the search", Act::Back).when(|e| e.chosen.is_some() && !e.sending),
    bind(ESC, "Esc", "cancel", Act::Cancel).when(|e| e.chosen.is_none() || e.sending),
];

impl Keymap for Emergency {
    type Action = Act;

    fn bindings(&self) -> &'static [B] {
        KEYS
    }

    fn text_field(&self) -> Option<&'static str> {
        Some(if self.chosen.is_some() { "the reason" } else { "the patient's name" })
    }
}

impl Default for Emergency {
    fn default() -> Self {
        Self::new()
    }
}

impl Emergency {
    pub fn new() -> Self {
        Emergency {
            name: Field::new("Patient name").hint("at least 3 letters of the name"),
            found: None,
            pick: Pick::default(),
            chosen: None,
            reason: Field::new("Reason").hint("at least 20 characters: why you need this now"),
            error: None,
            sending: false,
        }
    }

    fn matches(&self) -> &[EmergencyMatch] {
        self.found.as_ref().map_or(&[], |(_, m)| m)
    }

    /// Results are shown for the name as typed, and one can be picked.
    fn can_choose(&self) -> bool {
        self.chosen.is_none()
            && !self.sending
            && self.found.as_ref().is_some_and(|(q, m)| !m.is_empty() && q == self.name.text().trim())
    }

    pub fn commands(&self) -> Vec<Cmd> {
        keys::commands(self)
    }

    pub fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> EmergencyOutcome {
        match keys::action(self, &key) {
            Some(Act::Find) => self.find(ctx),
            Some(Act::Pick) => self.pick.go(&key, self.matches().len()),
            Some(Act::Choose) => {
                self.chosen = self.matches().get(self.pick.sel).cloned();
                self.error = None;
            }
            Some(Act::Send) => self.send(ctx),
            Some(Act::Back) => {
                self.chosen = None;
                self.error = None;
            }
            Some(Act::Cancel) => return EmergencyOutcome::Closed,
            None if self.sending => {}
            None if self.chosen.is_some() => {
                self.reason.handle(&key);
            }
            None => {
                self.name.handle(&key);
            }
        }
        EmergencyOutcome::Open
    }

    /// Checks the name as the server would, then searches the clinic.
    fn find(&mut self, ctx: &mut Ctx) {
        let q = self.name.text().trim().to_owned();
        if let Err(e) = validate::emergency_query(&q) {
            self.error = Some(format!("Name {e}."));
            return;
        }
        self.error = None;
        self.sending = true;
        let client = ctx.client.clone();
        let label = "searching the clinic's patients";
        let asked = q.clone();
        ctx.spawn(label, async move { client.emergency_search(&asked).await }, move |r| {
            Msg::new(EmergencyMsg::Found(q, r))
        });
    }

    /// Checks the reason as the server would, then asks for the grant.
    fn send(&mut self, ctx: &mut Ctx) {
        let Some(id) = self.chosen.as_ref().map(|m| m.patient_id) else { return };
        let reason = self.reason.text().trim().to_owned();
        if let Err(e) = validate::break_glass_reason(&reason) {
            self.error = Some(format!("Reason {e}."));
            return;
        }
        self.error = None;
        self.sending = true;
        let client = ctx.client.clone();
        ctx.spawn("requesting emergency access", async move { client.break_glass(id, &reason).await }, move |r| {
            Msg::new(EmergencyMsg::Granted(id, r))
        });
    }

    /// Takes the server's answer.
    pub fn on_msg(&mut self, msg: Msg, ctx: &mut Ctx) -> EmergencyOutcome {
        let Ok(msg) = msg.take::<EmergencyMsg>() else { return EmergencyOutcome::Open };
        self.sending = false;
        match msg {
            EmergencyMsg::Found(q, Ok(found)) => {
                self.error = found.is_empty().then(|| format!("No patient's name contains “{q}”."));
                self.found = Some((q, found));
                self.pick = Pick::default();
                EmergencyOutcome::Open
            }
            EmergencyMsg::Found(_, Err(p)) => {
                self.error = Some(crate::app::explain(&p));
                EmergencyOutcome::Open
            }
            EmergencyMsg::Granted(id, Ok(g)) => {
                ctx.info(format!(
                    "Emergency access until {}: read only, every view is audited and reviewed.",
                    crate::time::hm(g.expires_at, ctx.tz)
                ));
                EmergencyOutcome::Granted(id, g.expires_at)
            }
            EmergencyMsg::Granted(_, Err(p)) => {
                self.error = Some(match p.status {
                    404 => "This patient is no longer on record.".to_owned(),
                    _ => crate::app::explain(&p),
                });
                EmergencyOutcome::Open
            }
        }
    }

    pub fn draw(&self, f: &mut Frame, area: Rect, v: &View) {
        let t = v.theme;
        let mut lines = vec![
            Line::from(Span::styled("Read a patient outside your care, for a limited time.", t.title())),
            Line::from(Span::styled(
                "The search, your reason and every view are shown to the patient and reviewed.",
                t.dim(),
            )),
            Line::raw(""),
        ];
        match &self.chosen {
            None => {
                lines.push(self.name.line(t, true, 12));
                for (i, m) in self.matches().iter().enumerate() {
                    let picked = i == self.pick.sel && self.can_choose();
                    let row = format!(
                        "{} {:<40} born {}",
                        if picked { "›" } else { " " },
                        ui::fit(&m.full_name, 40),
                        m.date_of_birth
                    );
                    lines.push(Line::from(Span::styled(row, if picked { t.selected() } else { Style::new() })));
                }
            }
            Some(m) => {
                lines.push(Line::from(vec![
                    Span::styled(format!("{:>12}: ", "Patient"), t.dim()),
                    Span::styled(format!("{} (born {})", m.full_name, m.date_of_birth), t.title()),
                ]));
                lines.push(self.reason.line(t, true, 12));
                let n = self.reason.text().trim().chars().count();
                let min = validate::MIN_BREAK_GLASS_REASON_CHARS;
                lines.push(Line::from(Span::styled(
                    format!("Reason: {n} of at least {min} characters"),
                    if n < min { t.dim() } else { t.ok() },
                )));
            }
        }
        if let Some(e) = &self.error {
            lines.push(Line::from(Span::styled(e.clone(), t.error())));
        }
        if self.sending {
            lines.push(Line::from(Span::styled("Asking the server…", t.dim())));
        }
        ui::draw_popup(f, area, "Emergency access", lines, 84, t);
    }
}

/// The banner over what is seen under a grant.
pub fn banner(expires_at: Timestamp, v: &View) -> Line<'static> {
    let left = expires_at.duration_since(v.now).as_secs();
    let text = if left <= 0 {
        "EMERGENCY ACCESS ENDED — close this chart (Esc)".to_owned()
    } else {
        let minutes = (left + 59) / 60;
        format!("EMERGENCY ACCESS — expires in {minutes} min · read only · every view is audited")
    };
    Line::from(Span::styled(text, v.theme.error()))
}
