//! The state machine: which screen is up, who is logged in, what is in
//! flight. Everything that happens arrives as an [`Action`] through
//! [`App::update`]; [`App::draw`] only reads state.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;

use healthsynx_shared::client::Client;
use healthsynx_shared::{Problem, Role, User};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use uuid::Uuid;

use crate::keys::{self, Cmd, is_char, is_ctrl};
use crate::screens::{self, Screen, login, security};
use crate::theme::Theme;
use crate::ui;

/// Everything that can happen to the app.
// Each action is moved once, through a channel; boxing the big one buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum Action {
    Key(KeyEvent),
    /// Time passed: spinners turn, notices age, boards refresh.
    Tick(Timestamp),
    /// The terminal changed size; the next draw adapts.
    Resize,
    /// A task whose result no screen reads (logging out) finished.
    Finished,
    /// A background task panicked. The panic hook has already given the
    /// terminal back, so the app stops rather than draw into a cooked terminal.
    TaskPanicked,
    /// A network task finished for the screen numbered `screen`. `status` is
    /// the failure's HTTP status, if any, so the app can notice an ended
    /// session without knowing the message.
    Net {
        screen: u64,
        status: Option<u16>,
        msg: Msg,
    },
}

/// A network result: one screen's own message type, which only that
/// screen reads back (see [`Msg::take`]).
pub struct Msg(Box<dyn Any + Send>);

impl Msg {
    pub fn new<M: Any + Send>(m: M) -> Msg {
        Msg(Box::new(m))
    }

    /// The message, if it is an `M`; else itself again.
    pub fn take<M: Any>(self) -> Result<M, Msg> {
        self.0.downcast().map(|m| *m).map_err(Msg)
    }
}

/// Network work for the run loop to spawn.
pub struct Task {
    pub label: &'static str,
    pub fut: Pin<Box<dyn Future<Output = Action> + Send>>,
}

/// A one-line message under the screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub error: bool,
    pub at: Timestamp,
}

/// What screens get while they handle keys and results.
pub struct Ctx<'a> {
    pub client: &'a Client,
    pub tz: &'a TimeZone,
    pub now: Timestamp,
    pub user: Option<&'a User>,
    /// The screen whose results the spawned tasks carry.
    screen: u64,
    tasks: &'a mut Vec<Task>,
    notice: &'a mut Option<Notice>,
}

impl Ctx<'_> {
    /// Runs `fut` in the background; its result comes back through `wrap`.
    pub fn spawn<T, F, W>(&mut self, label: &'static str, fut: F, wrap: W)
    where
        T: Send + 'static,
        F: Future<Output = Result<T, Problem>> + Send + 'static,
        W: FnOnce(Result<T, Problem>) -> Msg + Send + 'static,
    {
        let screen = self.screen;
        let fut = async move {
            let r = fut.await;
            let status = r.as_ref().err().map(|p| p.status);
            Action::Net { screen, status, msg: wrap(r) }
        };
        self.tasks.push(Task { label, fut: Box::pin(fut) });
    }

    pub fn info(&mut self, text: impl Into<String>) {
        *self.notice = Some(Notice { text: text.into(), error: false, at: self.now });
    }

    pub fn error(&mut self, text: impl Into<String>) {
        *self.notice = Some(Notice { text: text.into(), error: true, at: self.now });
    }

    /// Shows a failed call as a sentence: `what` failed, and why.
    pub fn problem(&mut self, what: &str, p: &Problem) {
        self.error(format!("{what}: {}", explain(p)));
    }

    /// The logged-in user's id (nil before login, which no screen reaches).
    pub fn user_id(&self) -> Uuid {
        self.user.map_or(Uuid::nil(), |u| u.id)
    }
}

/// What drawing needs besides the screen's own state.
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub theme: Theme,
    pub tz: &'a TimeZone,
    pub now: Timestamp,
}

/// Whether a screen used a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    Consumed,
    Ignored,
}

/// A problem as one plain sentence for the notice line.
pub fn explain(p: &Problem) -> String {
    let detail = p.detail.clone().unwrap_or_default();
    let fields: Vec<String> = p.errors.iter().map(|e| format!("{} {}", e.field, e.message)).collect();
    let fields = fields.join("; ");
    match p.status {
        0 => format!("cannot reach the server ({detail})"),
        401 => "you are not logged in any more".to_owned(),
        403 => "your role may not do this".to_owned(),
        404 => "not found (it may be gone, or outside what you may see)".to_owned(),
        409 => format!("conflict: {detail}"),
        412 => "someone else changed it since you opened it".to_owned(),
        422 if !fields.is_empty() => format!("not accepted: {fields}"),
        422 => format!("not accepted: {detail}"),
        429 => format!("too many requests, slow down {detail}"),
        _ => p.to_string(),
    }
}

/// A demo account offered by the `--demo` role picker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoAccount {
    pub role: Role,
    pub email: String,
    pub password: String,
}

/// The whole client.
pub struct App {
    pub client: Client,
    pub server: String,
    pub tz: TimeZone,
    pub now: Timestamp,
    pub theme: Theme,
    pub user: Option<User>,
    pub screen: Box<dyn Screen>,
    /// Numbers the screens put up, so a result for a screen that is gone is dropped.
    screen_id: u64,
    pub notice: Option<Notice>,
    pub help: bool,
    pub quit: bool,
    /// Why the app stopped on its own, for the run loop to report.
    pub fatal: Option<String>,
    /// The `--demo` accounts, offered again after logging out.
    demo: Vec<DemoAccount>,
    /// The screen of a session that ended, kept so unsaved edits survive a
    /// re-login as the same user.
    suspended: Option<(Uuid, u64, Box<dyn Screen>)>,
    /// The home screen (and its number) while Security is up over it.
    under: Option<(u64, Box<dyn Screen>)>,
    tasks: Vec<Task>,
    in_flight: usize,
    ticks: usize,
}

const SPINNER: [&str; 8] = ["⣾", "⣽", "⣻", "⢿", "⡿", "⣟", "⣯", "⣷"];

impl App {
    /// A logged-out app for `server`; with demo accounts it opens the role picker.
    pub fn new(
        server: &str,
        demo: Vec<DemoAccount>,
        tz: TimeZone,
        now: Timestamp,
        theme: Theme,
    ) -> anyhow::Result<Self> {
        let client = Client::new(server).map_err(|p| anyhow::anyhow!("{p}"))?;
        Ok(App {
            client,
            server: server.to_owned(),
            tz,
            now,
            theme,
            user: None,
            screen: Box::new(login::Login::new(server, demo.clone())),
            screen_id: 0,
            demo,
            notice: None,
            help: false,
            quit: false,
            fatal: None,
            suspended: None,
            under: None,
            tasks: Vec::new(),
            in_flight: 0,
            ticks: 0,
        })
    }

    /// Network work queued since the last call, for the run loop to spawn.
    pub fn take_tasks(&mut self) -> Vec<Task> {
        let tasks = std::mem::take(&mut self.tasks);
        self.in_flight += tasks.len();
        tasks
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// The number of the screen that is up; results carry it.
    pub fn screen_id(&self) -> u64 {
        self.screen_id
    }

    /// Puts `make`'s screen up; what it spawns while being made is its own.
    fn put_up(&mut self, make: impl FnOnce(&mut Ctx) -> Box<dyn Screen>) {
        self.screen_id += 1;
        let (_, mut ctx) = self.ctx_parts();
        self.screen = make(&mut ctx);
    }

    /// The one place state changes.
    pub fn update(&mut self, action: Action) {
        match action {
            Action::Key(key) if key.kind != KeyEventKind::Release => self.on_key(key),
            Action::Key(_) | Action::Resize => {}
            Action::Finished => self.in_flight = self.in_flight.saturating_sub(1),
            Action::TaskPanicked => {
                self.fatal = Some("a background task failed unexpectedly; please report this".into());
                self.quit = true;
            }
            Action::Tick(now) => self.on_tick(now),
            Action::Net { screen, status, msg } => {
                self.in_flight = self.in_flight.saturating_sub(1);
                if screen == self.screen_id {
                    self.on_net(status, msg);
                }
            }
        }
    }

    fn ctx_parts(&mut self) -> (&mut dyn Screen, Ctx<'_>) {
        let ctx = Ctx {
            client: &self.client,
            tz: &self.tz,
            now: self.now,
            user: self.user.as_ref(),
            screen: self.screen_id,
            tasks: &mut self.tasks,
            notice: &mut self.notice,
        };
        (self.screen.as_mut(), ctx)
    }

    fn on_key(&mut self, key: KeyEvent) {
        if is_ctrl(&key, 'c') {
            self.quit = true;
            return;
        }
        if self.help {
            // Any key closes help; it is read-only.
            self.help = false;
            return;
        }
        if key.code == KeyCode::F(1) {
            self.help = true;
            return;
        }
        // An error stays until the user does something.
        if self.notice.as_ref().is_some_and(|n| n.error) {
            self.notice = None;
        }
        // `?` is help wherever it is not being typed, even inside pop-ups.
        if is_char(&key, '?') && !self.screen.typing() {
            self.help = true;
            return;
        }
        let (screen, mut ctx) = self.ctx_parts();
        if screen.on_key(key, &mut ctx) == Handled::Consumed {
            if self.screen.closed() {
                self.close_screen();
            }
            return;
        }
        if is_char(&key, 'q') {
            self.quit = true;
        } else if is_char(&key, 'L') && self.user.is_some() {
            self.log_out();
        } else if is_char(&key, 'S') && self.security_offered() {
            self.open_security();
        }
    }

    /// Security is offered over a home screen, not over itself.
    fn security_offered(&self) -> bool {
        self.user.is_some() && self.under.is_none()
    }

    /// Puts Security up over the home screen, which waits underneath as it is.
    fn open_security(&mut self) {
        let home_id = self.screen_id;
        self.screen_id += 1;
        let (_, mut ctx) = self.ctx_parts();
        let screen: Box<dyn Screen> = Box::new(security::Security::new(&mut ctx));
        let home = std::mem::replace(&mut self.screen, screen);
        self.under = Some((home_id, home));
    }

    /// A screen said it is done: the one under it comes back (or, after an
    /// enrolment at login, the login screen).
    fn close_screen(&mut self) {
        match self.under.take() {
            Some((id, home)) => {
                self.screen = home;
                self.screen_id = id;
            }
            None if self.user.is_none() => {
                // An enrolment token is good for nothing more: drop it.
                self.client = Client::new(&self.server).unwrap_or_else(|_| self.client.clone());
                let login = login::Login::new(&self.server, self.demo.clone());
                self.put_up(|_| Box::new(login));
            }
            None => self.open_home(),
        }
    }

    fn on_tick(&mut self, now: Timestamp) {
        self.now = now;
        self.ticks = self.ticks.wrapping_add(1);
        if let Some(n) = &self.notice
            && !n.error
            && now.duration_since(n.at).as_secs() >= 8
        {
            self.notice = None;
        }
        let (screen, mut ctx) = self.ctx_parts();
        screen.on_tick(&mut ctx);
    }

    fn on_net(&mut self, status: Option<u16>, msg: Msg) {
        let msg = match msg.take::<login::Msg>() {
            Ok(login::Msg::Done(Ok((client, user)))) => return self.logged_in(client, user),
            Ok(login::Msg::Enrol(client)) => {
                // The client holds an enrolment token: good for setting up a factor only.
                self.client = client;
                self.notice = None;
                return self.put_up(|ctx| Box::new(security::Security::enrolment(ctx)));
            }
            Ok(m) => Msg::new(m),
            Err(msg) => msg,
        };
        let (screen, mut ctx) = self.ctx_parts();
        // The screen hears about the failure first (so a save stops
        // spinning and keeps its text), then the session is put away.
        screen.on_msg(msg, &mut ctx);
        if self.screen.closed() {
            self.close_screen();
        }
        if status == Some(401) && self.user.is_some() {
            self.session_ended();
        }
    }

    fn logged_in(&mut self, client: Client, user: User) {
        self.client = client;
        self.server = self.client.base().to_owned();
        self.notice = None;
        let restored = match self.suspended.take() {
            Some((id, screen_id, screen)) if id == user.id => Some((screen_id, screen)),
            _ => None,
        };
        self.user = Some(user);
        match restored {
            Some((screen_id, screen)) => {
                self.screen = screen;
                self.screen_id = screen_id;
                let (_, mut ctx) = self.ctx_parts();
                ctx.info("Welcome back. Your unsaved work is as you left it.");
            }
            None => self.open_home(),
        }
    }

    /// Opens the logged-in user's home screen, which starts its own loads.
    fn open_home(&mut self) {
        let Some(role) = self.user.as_ref().map(|u| u.role) else { return };
        self.put_up(screens::home(role));
    }

    /// The server no longer accepts this login (refresh failed): back to the
    /// login screen, keeping the screen and its edits for a re-login.
    fn session_ended(&mut self) {
        let Some(user) = self.user.take() else { return };
        self.notice = None;
        // The home screen under Security is the one worth keeping.
        if let Some((id, home)) = self.under.take() {
            self.screen = home;
            self.screen_id = id;
        }
        let mut login = login::Login::new(&self.server, self.demo.clone());
        login.prefill(&user.email);
        let msg = "Your session has ended. Log in again to continue; unsaved edits are kept until then.";
        login.set_error(msg);
        let old = std::mem::replace(&mut self.screen, Box::new(login));
        self.suspended = Some((user.id, self.screen_id, old));
        self.screen_id += 1;
    }

    fn log_out(&mut self) {
        let client = self.client.clone();
        self.tasks.push(Task {
            label: "logging out",
            fut: Box::pin(async move {
                // Best effort: the tokens are dropped here either way.
                let _ = client.logout().await;
                Action::Finished
            }),
        });
        self.user = None;
        self.suspended = None;
        self.under = None;
        let login = login::Login::new(&self.server, self.demo.clone());
        self.put_up(|_| Box::new(login));
        self.notice = Some(Notice { text: "Logged out.".into(), error: false, at: self.now });
    }

    /// Commands for the status bar and help: the screen's, then the global ones.
    pub fn commands(&self) -> Vec<Cmd> {
        let mut cmds = self.screen.commands();
        if self.screen.typing() {
            cmds.extend([keys::HELP_TYPING, keys::QUIT_NOW]);
        } else {
            cmds.push(keys::HELP);
            if self.security_offered() {
                cmds.push(keys::SECURITY);
            }
            if self.user.is_some() {
                cmds.push(keys::LOG_OUT);
            }
            cmds.extend([keys::QUIT, keys::QUIT_NOW]);
        }
        cmds
    }

    pub fn draw(&self, f: &mut Frame) {
        let [header, body, notice, status] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(3), Constraint::Length(1), Constraint::Length(1)])
                .areas(f.area());
        let view = View { theme: self.theme, tz: &self.tz, now: self.now };
        self.draw_header(f, header);
        self.screen.draw(f, body, &view);
        if let Some(n) = &self.notice {
            let style = if n.error { self.theme.error() } else { self.theme.ok() };
            f.render_widget(Paragraph::new(Span::styled(n.text.clone(), style)), notice);
        }
        self.draw_status(f, status);
        if self.help {
            self.draw_help(f, body);
        }
    }

    fn draw_header(&self, f: &mut Frame, area: Rect) {
        let who = match &self.user {
            Some(u) => format!(" · {} · {}", self.screen.title(), u.full_name),
            None => String::new(),
        };
        let text = format!(" Health Synx{who} · {}", self.server);
        f.render_widget(Paragraph::new(ui::fit(&text, area.width as usize)).style(self.theme.header()), area);
    }

    fn draw_status(&self, f: &mut Frame, area: Rect) {
        let mut spans = Vec::new();
        if self.in_flight > 0 {
            spans.push(Span::styled(format!("{} ", SPINNER[self.ticks % SPINNER.len()]), self.theme.focus()));
        }
        let mut width: usize = spans.iter().map(|s| s.width()).sum();
        let cmds = self.commands();
        for c in &cmds {
            let w = c.key.chars().count() + c.what.chars().count() + 3;
            // Keep room for the help key, which must always show.
            if width + w + 8 > area.width as usize && c.key != "?" {
                continue;
            }
            spans.push(Span::styled(c.key.to_owned(), self.theme.key()));
            spans.push(Span::raw(format!(" {}  ", c.what)));
            width += w;
        }
        f.render_widget(Paragraph::new(Line::from(spans)), area);
    }

    fn draw_help(&self, f: &mut Frame, area: Rect) {
        let cmds = self.commands();
        let t = self.theme;
        let entry =
            |c: &Cmd| vec![Span::styled(format!("{:>11}  ", c.key), t.key()), Span::raw(format!("{:<20}", c.what))];
        let mut lines: Vec<Line> =
            vec![Line::from(Span::styled(format!("Keys on this screen ({})", self.screen.title()), t.title()))];
        // Two columns when one would not fit the height (small terminals).
        let two = cmds.len() + 4 > area.height as usize;
        if two {
            for pair in cmds.chunks(2) {
                let mut spans = entry(&pair[0]);
                if let Some(c) = pair.get(1) {
                    spans.extend(entry(c));
                }
                lines.push(Line::from(spans));
            }
        } else {
            lines.extend(cmds.iter().map(|c| Line::from(entry(c))));
        }
        lines.push(Line::from(Span::styled("F1 or ? shows this; any key closes it.", t.dim())));
        ui::draw_popup(f, area, "Help", lines, if two { 74 } else { 40 }, t);
    }
}
