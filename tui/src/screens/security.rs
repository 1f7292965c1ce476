//! Security, reachable from every role's home (`S`): one's logins, with
//! the keys to end one; whether the second factor is on; setting up a TOTP
//! factor (its `otpauth://` URL as a QR code drawn in the terminal, a code
//! to confirm it, then the recovery codes shown once) and removing it with
//! a code. Doctors and patients also get their calendar feed URL here (a
//! new one ends the old) and can end it. Also opened straight into
//! enrolment by a login whose role needs a factor it lacks.

use healthsynx_shared::api::{CalendarFeedUrl, MfaState, MfaStatus, RecoveryCodes, Session, TotpEnrolment};
use healthsynx_shared::{Problem, Role};
use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;
use ratatui::Frame;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::app::{self, Ctx, Handled, View};
use crate::keys::{self, Binding, Cmd, ENTER, ENTER_ESC, ESC, LIST, bind, char};
use crate::screens::Screen;
use crate::time::day_hm;
use crate::ui::{self, Field, Pick};

/// Results of this screen's calls.
pub enum Msg {
    Sessions(Result<Vec<Session>, Problem>),
    Revoked(Result<(), Problem>),
    Enrolment(Result<TotpEnrolment, Problem>),
    Confirmed(Result<RecoveryCodes, Problem>),
    Factor(Result<MfaStatus, Problem>),
    Removed(Result<(), Problem>),
    Feed(Result<CalendarFeedUrl, Problem>),
    FeedEnded(Result<(), Problem>),
}

enum Mode {
    Sessions,
    /// A pending factor, waiting for a code.
    Enrol {
        enrolment: TotpEnrolment,
        qr: Option<Vec<String>>,
        code: Field,
    },
    /// The recovery codes, this once.
    Codes(Vec<String>),
    /// Removing the factor: a current or recovery code proves it is you.
    Remove {
        code: Field,
    },
}

pub struct Security {
    mode: Mode,
    sessions: Vec<Session>,
    /// The second factor, once loaded.
    factor: Option<MfaStatus>,
    pick: Pick,
    busy: bool,
    /// Opened by a login that must enrol: no sessions to show, and done
    /// means back to logging in.
    enrolment_only: bool,
    closed: bool,
    /// Whether the caller's role keeps a calendar feed (doctor, patient).
    keeps_feed: bool,
    /// The feed URL made in this view (the server keeps only its hash).
    feed_url: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub enum Act {
    Move,
    Enrol,
    AskRemove,
    Remove,
    Revoke,
    Reload,
    Back,
    Confirm,
    Cancel,
    Done,
    NewFeed,
    EndFeed,
}

type B = Binding<Security, Act>;

const SESSIONS: &[B] = &[
    bind(LIST, "↑↓/jk", "move", Act::Move).when(|s| s.sessions.len() > 1),
    bind(&[char('e')], "e", "set up a second factor", Act::Enrol).when(|s| !s.busy && !s.factor_on()),
    bind(&[char('d')], "d", "remove the second factor", Act::AskRemove).when(|s| !s.busy && s.factor_on()),
    bind(&[char('x')], "x", "end this session", Act::Revoke).when(|s| s.selected().is_some_and(|x| !x.current)),
    bind(&[char('c')], "c", "new feed URL", Act::NewFeed).when(|s| s.keeps_feed && !s.busy),
    bind(&[char('C')], "C", "end feed", Act::EndFeed).when(|s| s.keeps_feed && !s.busy),
    bind(&[char('r')], "r", "reload", Act::Reload),
    bind(ESC, "Esc", "back", Act::Back),
];
const ENROL: &[B] = &[
    bind(ENTER, "Enter", "confirm the code", Act::Confirm).when(|s| !s.busy),
    bind(ESC, "Esc", "cancel", Act::Cancel),
];
const CODES: &[B] = &[bind(ENTER_ESC, "Enter/Esc", "I saved them", Act::Done)];
const REMOVE: &[B] =
    &[bind(ENTER, "Enter", "remove it", Act::Remove).when(|s| !s.busy), bind(ESC, "Esc", "keep it", Act::Cancel)];

impl keys::Keymap for Security {
    type Action = Act;

    fn bindings(&self) -> &'static [B] {
        match self.mode {
            Mode::Sessions => SESSIONS,
            Mode::Enrol { .. } => ENROL,
            Mode::Codes(_) => CODES,
            Mode::Remove { .. } => REMOVE,
        }
    }

    fn text_field(&self) -> Option<&'static str> {
        match self.mode {
            Mode::Enrol { .. } => Some("the 6-digit code"),
            Mode::Remove { .. } => Some("a current or recovery code"),
            _ => None,
        }
    }
}

impl Security {
    /// The sessions view; starts loading them.
    pub fn new(ctx: &mut Ctx) -> Self {
        let mut s = Security::blank(false);
        s.keeps_feed = ctx.user.is_some_and(|u| matches!(u.role, Role::Doctor | Role::Patient));
        s.reload(ctx);
        s
    }

    /// Straight into enrolment, for a login that must have a factor.
    pub fn enrolment(ctx: &mut Ctx) -> Self {
        let mut s = Security::blank(true);
        s.enrol(ctx);
        s
    }

    fn blank(enrolment_only: bool) -> Self {
        Security {
            mode: Mode::Sessions,
            sessions: Vec::new(),
            factor: None,
            pick: Pick::default(),
            busy: false,
            enrolment_only,
            closed: false,
            keeps_feed: false,
            feed_url: None,
        }
    }

    fn selected(&self) -> Option<&Session> {
        self.sessions.get(self.pick.sel)
    }

    fn factor_on(&self) -> bool {
        self.factor.as_ref().is_some_and(|f| f.totp == MfaState::On)
    }

    fn reload(&mut self, ctx: &mut Ctx) {
        let c = ctx.client.clone();
        ctx.spawn("loading sessions", async move { c.sessions().await }, |r| app::Msg::new(Msg::Sessions(r)));
        let c = ctx.client.clone();
        ctx.spawn("loading the second factor", async move { c.mfa_status().await }, |r| app::Msg::new(Msg::Factor(r)));
    }

    fn enrol(&mut self, ctx: &mut Ctx) {
        self.busy = true;
        let c = ctx.client.clone();
        ctx.spawn("setting up", async move { c.enrol_totp().await }, |r| app::Msg::new(Msg::Enrolment(r)));
    }

    fn act(&mut self, a: Act, key: KeyEvent, ctx: &mut Ctx) {
        match a {
            Act::Move => self.pick.go(&key, self.sessions.len()),
            Act::Enrol => self.enrol(ctx),
            Act::AskRemove => self.mode = Mode::Remove { code: Field::new("Code").hint("123456 or a recovery code") },
            Act::Remove => {
                let Mode::Remove { code } = &self.mode else { return };
                let code = code.text().to_owned();
                if code.is_empty() {
                    ctx.error("Type a code from your authenticator app, or one of your recovery codes.");
                    return;
                }
                self.busy = true;
                let c = ctx.client.clone();
                ctx.spawn("removing the second factor", async move { c.remove_totp(&code).await }, |r| {
                    app::Msg::new(Msg::Removed(r))
                });
            }
            Act::Revoke => {
                if let Some(id) = self.selected().map(|s| s.id) {
                    let c = ctx.client.clone();
                    ctx.spawn("ending session", async move { c.revoke_session(id).await }, |r| {
                        app::Msg::new(Msg::Revoked(r))
                    });
                }
            }
            Act::Reload => self.reload(ctx),
            Act::NewFeed => {
                self.busy = true;
                let c = ctx.client.clone();
                ctx.spawn("making a feed URL", async move { c.create_calendar_feed().await }, |r| {
                    app::Msg::new(Msg::Feed(r))
                });
            }
            Act::EndFeed => {
                self.busy = true;
                let c = ctx.client.clone();
                ctx.spawn("ending the feed", async move { c.revoke_calendar_feed().await }, |r| {
                    app::Msg::new(Msg::FeedEnded(r))
                });
            }
            Act::Back => self.closed = true,
            Act::Confirm => {
                let Mode::Enrol { code, .. } = &self.mode else { return };
                let code: String = code.value.chars().filter(|c| !c.is_whitespace()).collect();
                if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
                    ctx.error("Type the 6-digit code your authenticator app shows.");
                    return;
                }
                self.busy = true;
                let c = ctx.client.clone();
                ctx.spawn("confirming", async move { c.confirm_totp(&code).await }, |r| {
                    app::Msg::new(Msg::Confirmed(r))
                });
            }
            Act::Cancel if self.enrolment_only => self.closed = true,
            Act::Cancel => {
                if matches!(self.mode, Mode::Enrol { .. }) {
                    ctx.info("Not set up: the pending factor does nothing until it is confirmed.");
                }
                self.mode = Mode::Sessions;
            }
            Act::Done if self.enrolment_only => self.closed = true,
            Act::Done => {
                self.mode = Mode::Sessions;
                self.reload(ctx);
            }
        }
    }

    fn on_result(&mut self, m: Msg, ctx: &mut Ctx) {
        match m {
            Msg::Sessions(Ok(list)) => {
                self.sessions = list;
                self.pick.clamp(self.sessions.len());
            }
            Msg::Sessions(Err(p)) => ctx.problem("Loading sessions failed", &p),
            Msg::Revoked(Ok(())) => {
                ctx.info("Session ended: its tokens no longer work.");
                self.reload(ctx);
            }
            Msg::Revoked(Err(p)) => ctx.problem("Ending the session failed", &p),
            Msg::Feed(r) => {
                self.busy = false;
                match r {
                    Ok(feed) => {
                        ctx.info("New feed URL made: subscribe to it; any older one stopped working.");
                        self.feed_url = Some(feed.url);
                    }
                    Err(p) => ctx.problem("Making a feed URL failed", &p),
                }
            }
            Msg::FeedEnded(r) => {
                self.busy = false;
                self.feed_url = None;
                match r {
                    Ok(()) => ctx.info("Calendar feed ended: its URL no longer works."),
                    Err(p) if p.status == 404 => ctx.info("There is no calendar feed to end."),
                    Err(p) => ctx.problem("Ending the feed failed", &p),
                }
            }
            Msg::Factor(Ok(f)) => self.factor = Some(f),
            Msg::Factor(Err(p)) => ctx.problem("Loading the second factor failed", &p),
            Msg::Removed(r) => {
                self.busy = false;
                match r {
                    Ok(()) => {
                        ctx.info("Second factor removed: logins ask only for the password now.");
                        self.mode = Mode::Sessions;
                        self.reload(ctx);
                    }
                    Err(p) if p.status == 422 => {
                        ctx.error("That code is not right (or was used). Wrong codes count toward the lockout.");
                        if let Mode::Remove { code } = &mut self.mode {
                            code.value.clear();
                        }
                    }
                    Err(p) => ctx.problem("Removing the second factor failed", &p),
                }
            }
            Msg::Enrolment(r) => {
                self.busy = false;
                match r {
                    Ok(enrolment) => {
                        let qr = qr_lines(&enrolment.otpauth_url);
                        self.mode = Mode::Enrol { enrolment, qr, code: Field::new("Code").hint("123456") };
                    }
                    Err(p) if p.status == 409 => {
                        ctx.error("A second factor is already set up for this account.");
                    }
                    Err(p) => ctx.problem("Setting up failed", &p),
                }
            }
            Msg::Confirmed(r) => {
                self.busy = false;
                match r {
                    Ok(codes) => self.mode = Mode::Codes(codes.recovery_codes),
                    Err(p) if p.status == 422 => {
                        ctx.error("That code is not right (or was used). Wait for the next one and try again.");
                        if let Mode::Enrol { code, .. } = &mut self.mode {
                            code.value.clear();
                        }
                    }
                    Err(p) => ctx.problem("Confirming failed", &p),
                }
            }
        }
    }
}

/// The QR code of `text` as lines of half blocks, light modules drawn, so
/// it reads on a dark terminal as on paper.
fn qr_lines(text: &str) -> Option<Vec<String>> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    let art =
        code.render::<Dense1x2>().dark_color(Dense1x2::Light).light_color(Dense1x2::Dark).quiet_zone(true).build();
    Some(art.lines().map(str::to_owned).collect())
}

impl Screen for Security {
    fn title(&self) -> &'static str {
        "Security"
    }

    fn commands(&self) -> Vec<Cmd> {
        keys::commands(self)
    }

    fn typing(&self) -> bool {
        matches!(self.mode, Mode::Enrol { .. } | Mode::Remove { .. })
    }

    fn on_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> Handled {
        match keys::action(self, &key) {
            Some(a) => self.act(a, key, ctx),
            None => match &mut self.mode {
                Mode::Enrol { code, .. } | Mode::Remove { code } => {
                    code.handle(&key);
                }
                _ => return Handled::Ignored,
            },
        }
        Handled::Consumed
    }

    fn on_msg(&mut self, msg: app::Msg, ctx: &mut Ctx) {
        if let Ok(m) = msg.take::<Msg>() {
            self.on_result(m, ctx);
        }
    }

    fn closed(&self) -> bool {
        self.closed
    }

    fn draw(&self, f: &mut Frame, area: Rect, v: &View) {
        let t = v.theme;
        match &self.mode {
            Mode::Sessions if self.enrolment_only => {
                let text = if self.busy { "Setting up a second factor…" } else { "Esc goes back to logging in." };
                f.render_widget(Paragraph::new(text).block(ui::block("Second factor", t)), area);
            }
            Mode::Sessions => {
                let tall = if self.keeps_feed { 8 } else { 5 };
                let [top, list] = Layout::vertical([Constraint::Length(tall), Constraint::Min(3)]).areas(area);
                let mut intro = vec![
                    Line::from("Your logins on every device. Ending one stops its tokens at once, on every server."),
                    factor_line(self.factor.as_ref(), v),
                ];
                if self.keeps_feed {
                    intro.push(Line::raw(""));
                    intro.push(match &self.feed_url {
                        Some(url) => Line::from(vec![Span::raw("Calendar feed: "), Span::styled(url.clone(), t.focus())]),
                        None => Line::from(Span::styled(
                            "Calendar feed: c makes a URL for your phone's calendar (times and initials, never reasons).",
                            t.dim(),
                        )),
                    });
                }
                f.render_widget(Paragraph::new(intro).wrap(Wrap { trim: true }).block(ui::block("Security", t)), top);
                let rows = self
                    .sessions
                    .iter()
                    .map(|s| {
                        let when = |at: Option<jiff::Timestamp>| at.map_or("—".to_owned(), |a| day_hm(a, v.tz));
                        let here = if s.current { "this one " } else { "         " };
                        Line::from(format!(
                            "{here}{:<15} {:<24}  since {}  last used {}",
                            s.client_addr.as_deref().unwrap_or("—"),
                            ui::fit(s.user_agent.as_deref().unwrap_or("—"), 24),
                            when(s.created_at),
                            when(s.last_used_at),
                        ))
                    })
                    .collect();
                ui::draw_list(f, list, "Sessions", rows, self.pick, t, true);
            }
            Mode::Enrol { enrolment, qr, code } => {
                let qr_width = qr.as_ref().and_then(|q| q.first()).map_or(0, |l| l.chars().count() as u16);
                let qr_height = qr.as_ref().map_or(0, |q| q.len() as u16);
                let fits = qr.is_some() && qr_width + 40 <= area.width && qr_height + 2 <= area.height;
                let [left, right] = if fits {
                    Layout::horizontal([Constraint::Length(qr_width + 2), Constraint::Min(30)]).areas(area)
                } else {
                    Layout::horizontal([Constraint::Length(0), Constraint::Min(30)]).areas(area)
                };
                if let (true, Some(q)) = (fits, qr) {
                    let lines: Vec<Line> = q.iter().map(|l| Line::from(l.clone())).collect();
                    f.render_widget(Paragraph::new(lines).block(ui::block("Scan", t)), left);
                }
                let mut lines = Vec::new();
                if self.enrolment_only {
                    lines.push(Line::from(Span::styled(
                        "Your role must log in with a second factor, and this account has none yet.",
                        t.error(),
                    )));
                    lines.push(Line::from("Set one up now; then log in again with a code."));
                    lines.push(Line::raw(""));
                }
                lines.extend([
                    Line::from("Scan the code with an authenticator app, or type the secret into it:"),
                    Line::raw(""),
                    Line::from(vec![Span::raw("Secret  "), Span::styled(enrolment.secret.clone(), t.focus())]),
                    Line::raw(""),
                    Line::from("otpauth URL:"),
                    Line::from(Span::styled(enrolment.otpauth_url.clone(), t.dim())),
                    Line::raw(""),
                    Line::from("Then type the 6-digit code it shows, and Enter."),
                    code.line(t, true, 6),
                ]);
                if !fits {
                    lines.push(Line::raw(""));
                    lines.push(Line::from(Span::styled("(Make the terminal larger to see the QR code.)", t.dim())));
                }
                if self.busy {
                    lines.push(Line::from(Span::styled("Checking…", t.focus())));
                }
                f.render_widget(
                    Paragraph::new(lines).wrap(Wrap { trim: false }).block(ui::block("Set up a second factor", t)),
                    right,
                );
            }
            Mode::Remove { code } => {
                let mut lines = vec![
                    Line::from("Without the second factor, your password alone logs you in."),
                    Line::from("Type a code from your authenticator app, or one of your recovery codes:"),
                    Line::raw(""),
                    code.line(t, true, 6),
                ];
                if self.factor.as_ref().is_some_and(|f| f.required) {
                    lines.push(Line::raw(""));
                    lines.push(Line::from(Span::styled(
                        "Your role must have one: your next login will ask you to set up a new one.",
                        t.error(),
                    )));
                }
                if self.busy {
                    lines.push(Line::from(Span::styled("Checking…", t.focus())));
                }
                f.render_widget(Paragraph::new(lines).block(ui::block("Remove the second factor", t)), area);
            }
            Mode::Codes(codes) => {
                let mut lines = vec![
                    Line::from("The second factor is on. These recovery codes are shown only now:"),
                    Line::from("each one logs you in once if you lose your authenticator. Keep them safe."),
                    Line::raw(""),
                ];
                lines.extend(codes.iter().map(|c| Line::from(Span::styled(format!("    {c}"), t.focus()))));
                lines.push(Line::raw(""));
                if self.enrolment_only {
                    lines.push(Line::from("Then log in again: the login will ask for a code."));
                }
                f.render_widget(Paragraph::new(lines).block(ui::block("Recovery codes", t)), area);
            }
        }
    }
}

/// One line on the second factor: on (with the recovery codes left) or not.
fn factor_line(factor: Option<&MfaStatus>, v: &View) -> Line<'static> {
    let t = v.theme;
    match factor {
        None => Line::from(Span::styled("Second factor: …", t.dim())),
        Some(f) if f.totp == MfaState::On => Line::from(vec![
            Span::raw("Second factor: "),
            Span::styled("on", t.ok()),
            Span::styled(format!(" · {} recovery codes left · d removes it", f.recovery_codes_left), t.dim()),
        ]),
        Some(f) => Line::from(vec![
            Span::raw("Second factor: "),
            Span::styled("off", if f.required { t.error() } else { t.dim() }),
            Span::styled(
                if f.required {
                    " · your role must have one · e sets it up"
                } else {
                    " · e sets one up (an authenticator app): logins then ask for a code"
                },
                t.dim(),
            ),
        ]),
    }
}
