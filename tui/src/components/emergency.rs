//! Emergency (break-glass) access to a patient outside one's care: the
//! patient's id and why, checked before sending; on a grant the host opens
//! the chart marked as seen under it, with the time left (see
//! [`crate::components::chart::Chart::under_grant`]).

use healthsynx_shared::api::BreakGlassGranted;
use healthsynx_shared::{Problem, validate};
use jiff::Timestamp;
use ratatui::Frame;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use uuid::Uuid;

use crate::app::{Ctx, Msg, View};
use crate::keys::{self, Binding, Cmd, ENTER, ESC, FIELDS, Keymap, bind};
use crate::ui::{self, Field, Form};

pub enum EmergencyMsg {
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
    form: Form,
    /// Why the last try was not sent, or what the server said.
    error: Option<String>,
    sending: bool,
}

#[derive(Debug, Clone, Copy)]
pub enum Act {
    NextField,
    Send,
    Cancel,
}

type B = Binding<Emergency, Act>;

const KEYS: &[B] = &[
    bind(FIELDS, "Tab/↑↓", "next field", Act::NextField),
    bind(ENTER, "Enter", "request access", Act::Send).when(|e| !e.sending),
    bind(ESC, "Esc", "cancel", Act::Cancel),
];

impl Keymap for Emergency {
    type Action = Act;

    fn bindings(&self) -> &'static [B] {
        KEYS
    }

    fn text_field(&self) -> Option<&'static str> {
        Some("the emergency request")
    }
}

impl Default for Emergency {
    fn default() -> Self {
        Self::new()
    }
}

impl Emergency {
    pub fn new() -> Self {
        let form = Form::new(vec![
            Field::new("Patient id").hint("from the wristband, referral or front desk"),
            Field::new("Reason").hint("at least 20 characters: why you need this now"),
        ]);
        Emergency { form, error: None, sending: false }
    }

    pub fn commands(&self) -> Vec<Cmd> {
        keys::commands(self)
    }

    pub fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> EmergencyOutcome {
        match keys::action(self, &key) {
            Some(Act::NextField) => {
                self.form.handle(&key);
            }
            Some(Act::Send) => self.send(ctx),
            Some(Act::Cancel) => return EmergencyOutcome::Closed,
            None => {
                self.form.handle(&key);
            }
        }
        EmergencyOutcome::Open
    }

    /// Checks the form as the server would, then asks for the grant.
    fn send(&mut self, ctx: &mut Ctx) {
        let id = match self.form.value(0).trim().parse::<Uuid>() {
            Ok(id) => id,
            Err(_) => {
                self.error = Some("Patient id must be an id (UUID).".into());
                return;
            }
        };
        let reason = self.form.value(1).trim().to_owned();
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
        let Ok(EmergencyMsg::Granted(id, r)) = msg.take::<EmergencyMsg>() else { return EmergencyOutcome::Open };
        self.sending = false;
        match r {
            Ok(g) => {
                ctx.info(format!(
                    "Emergency access until {}: read only, every view is audited and reviewed.",
                    crate::time::hm(g.expires_at, ctx.tz)
                ));
                EmergencyOutcome::Granted(id, g.expires_at)
            }
            Err(p) => {
                let why = match p.status {
                    404 => "No patient has this id.".to_owned(),
                    _ => crate::app::explain(&p),
                };
                self.error = Some(why);
                EmergencyOutcome::Open
            }
        }
    }

    pub fn draw(&self, f: &mut Frame, area: Rect, v: &View) {
        let t = v.theme;
        let mut lines = vec![
            Line::from(Span::styled("Read a patient outside your care, for a limited time.", t.title())),
            Line::from(Span::styled("Your reason is shown to the patient and reviewed by an administrator.", t.dim())),
            Line::raw(""),
        ];
        lines.extend(self.form.lines(t));
        let n = self.form.value(1).trim().chars().count();
        let min = validate::MIN_BREAK_GLASS_REASON_CHARS;
        lines.push(Line::from(Span::styled(
            format!("Reason: {n} of at least {min} characters"),
            if n < min { t.dim() } else { t.ok() },
        )));
        if let Some(e) = &self.error {
            lines.push(Line::from(Span::styled(e.clone(), t.error())));
        }
        if self.sending {
            lines.push(Line::from(Span::styled("Requesting…", t.dim())));
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
