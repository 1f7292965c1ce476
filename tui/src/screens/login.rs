//! Log in: server, email, masked password; or, with `--demo`, a role picker.

use healthsynx_shared::api::LoginAnswer;
use healthsynx_shared::client::Client;
use healthsynx_shared::{Problem, Role, User, validate};
use ratatui::Frame;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use crate::app::{self, Ctx, DemoAccount, Handled, View, explain};
use crate::keys::{self, Binding, Cmd, ENTER, ESC, FIELDS, Keymap, LIST, bind};
use crate::screens::Screen;
use crate::ui::{self, Field, Form, Pick};

/// The answer to a login attempt: a client holding the tokens, and who we
/// are; or the second factor the server wants first.
pub enum Msg {
    Done(Result<(Client, User), Problem>),
    /// The password was right; a code finishes the login (the `mfa_token`).
    Code(Client, String),
    /// The account's role needs a second factor it lacks: the client holds
    /// a token good only for setting one up.
    Enrol(Client),
}

const SERVER: usize = 0;
const EMAIL: usize = 1;
const PASSWORD: usize = 2;

pub struct Login {
    demo: Vec<DemoAccount>,
    /// `true` while the demo role picker is up.
    picking: bool,
    pick: Pick,
    form: Form,
    busy: bool,
    error: Option<String>,
    /// While the login waits for a code: the client and its `mfa_token`.
    mfa: Option<(Client, String)>,
    code: Field,
}

/// How a role reads on the picker.
pub fn role_label(r: Role) -> &'static str {
    match r {
        Role::Receptionist => "Front desk",
        Role::Doctor => "Doctor",
        Role::Nurse => "Nurse",
        Role::Patient => "Patient",
        Role::Admin => "Admin",
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Act {
    Go,
    Pick,
    LogIn,
    NextField,
    Picker,
    Verify,
    StartOver,
}

type B = Binding<Login, Act>;

const PICKER: &[B] = &[bind(LIST, "↑↓/jk", "move", Act::Go), bind(ENTER, "Enter", "log in as", Act::Pick)];
const FORM: &[B] = &[
    bind(ENTER, "Enter", "log in", Act::LogIn),
    bind(FIELDS, "Tab/↑↓", "next field", Act::NextField),
    bind(ESC, "Esc", "role picker", Act::Picker).when(|s| !s.demo.is_empty()),
];

const CODE: &[B] =
    &[bind(ENTER, "Enter", "verify the code", Act::Verify), bind(ESC, "Esc", "start over", Act::StartOver)];

impl Keymap for Login {
    type Action = Act;

    fn bindings(&self) -> &'static [B] {
        match (self.mfa.is_some(), self.picking) {
            (true, _) => CODE,
            (false, true) => PICKER,
            (false, false) => FORM,
        }
    }

    fn text_field(&self) -> Option<&'static str> {
        match (self.mfa.is_some(), self.picking) {
            (true, _) => Some("the code"),
            (false, true) => None,
            (false, false) => Some("email, password"),
        }
    }
}

impl Screen for Login {
    fn title(&self) -> &'static str {
        "Log in"
    }

    fn commands(&self) -> Vec<Cmd> {
        keys::commands(self)
    }

    fn typing(&self) -> bool {
        !self.picking || self.mfa.is_some()
    }

    fn on_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> Handled {
        match keys::action(self, &key) {
            Some(a) => self.act(a, key, ctx),
            None if self.mfa.is_some() => {
                self.code.handle(&key);
            }
            None if self.picking => return Handled::Ignored,
            None => {
                if let Some(field) = self.form.fields.get_mut(self.form.focus) {
                    field.handle(&key);
                }
            }
        }
        Handled::Consumed
    }

    fn on_msg(&mut self, msg: app::Msg, _ctx: &mut Ctx) {
        if let Ok(m) = msg.take::<Msg>() {
            self.on_result(m);
        }
    }

    fn draw(&self, f: &mut Frame, area: Rect, v: &View) {
        self.draw_login(f, area, v);
    }
}

impl Login {
    pub fn new(server: &str, demo: Vec<DemoAccount>) -> Self {
        let form = Form::new(vec![
            Field::new("Server").with(server),
            Field::new("Email").hint("name@clinic.org"),
            Field::new("Password").masked(),
        ]);
        let picking = !demo.is_empty();
        let code = Field::new("Code").hint("6 digits, or a recovery code");
        let mut login = Login { demo, picking, pick: Pick::default(), form, busy: false, error: None, mfa: None, code };
        login.form.focus = EMAIL;
        login
    }

    /// Fills in the email and puts the cursor on the password.
    pub fn prefill(&mut self, email: &str) {
        self.form.fields[EMAIL].value = email.to_owned();
        self.form.focus = PASSWORD;
        self.picking = false;
    }

    pub fn set_error(&mut self, text: &str) {
        self.error = Some(text.to_owned());
    }

    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    fn act(&mut self, a: Act, key: KeyEvent, ctx: &mut Ctx) {
        match a {
            // The last row opens the form for any other account.
            Act::Go => self.pick.go(&key, self.demo.len() + 1),
            Act::Pick => match self.demo.get(self.pick.sel).cloned() {
                Some(acct) => {
                    self.form.fields[EMAIL].value = acct.email;
                    self.form.fields[PASSWORD].value = acct.password;
                    self.submit(ctx);
                }
                None => self.picking = false,
            },
            Act::LogIn if self.form.focus != PASSWORD && self.form.value(PASSWORD).is_empty() => {
                self.form.focus += 1;
            }
            Act::LogIn => self.submit(ctx),
            Act::NextField => {
                self.form.handle(&key);
            }
            Act::Picker => self.picking = true,
            Act::Verify => self.verify(ctx),
            Act::StartOver => {
                self.mfa = None;
                self.code.value.clear();
                self.form.fields[PASSWORD].value.clear();
                self.form.focus = PASSWORD;
                self.error = None;
            }
        }
    }

    fn verify(&mut self, ctx: &mut Ctx) {
        let Some((client, token)) = self.mfa.clone() else { return };
        if self.busy {
            return;
        }
        let code = self.code.value.trim().to_owned();
        if code.is_empty() {
            self.error = Some("Type the code your authenticator app shows.".into());
            return;
        }
        self.busy = true;
        self.error = None;
        ctx.spawn(
            "verifying the code",
            async move {
                let pair = client.verify_mfa(&token, &code).await?;
                Ok((client, pair.user))
            },
            |r| app::Msg::new(Msg::Done(r)),
        );
    }

    fn submit(&mut self, ctx: &mut Ctx) {
        if self.busy {
            return;
        }
        let server = self.form.value(SERVER).to_owned();
        let email = self.form.value(EMAIL).to_owned();
        let password = self.form.fields[PASSWORD].value.clone();
        if let Err(e) = validate::email(&email) {
            self.error = Some(format!("Email {e}."));
            self.form.focus = EMAIL;
            return;
        }
        if password.is_empty() {
            self.error = Some("Enter your password.".into());
            self.form.focus = PASSWORD;
            return;
        }
        self.busy = true;
        self.error = None;
        ctx.spawn(
            "logging in",
            async move {
                let client = Client::new(&server)?;
                let answer = client.login(&email, &password).await?;
                Ok((client, answer))
            },
            |r| {
                app::Msg::new(match r {
                    Ok((client, LoginAnswer::Tokens(pair))) => Msg::Done(Ok((client, pair.user))),
                    Ok((client, LoginAnswer::MfaRequired(m))) => Msg::Code(client, m.mfa_token),
                    Ok((client, LoginAnswer::EnrolmentRequired(_))) => Msg::Enrol(client),
                    Err(p) => Msg::Done(Err(p)),
                })
            },
        );
    }

    fn on_result(&mut self, msg: Msg) {
        self.busy = false;
        let r = match msg {
            Msg::Done(r) => r,
            Msg::Code(client, token) => {
                self.mfa = Some((client, token));
                self.picking = false;
                self.code.value.clear();
                self.form.fields[PASSWORD].value.clear();
                self.error = None;
                return;
            }
            // Taken by the app, which opens the enrolment.
            Msg::Enrol(_) => return,
        };
        if let (Some(_), Err(p)) = (&self.mfa, &r) {
            self.code.value.clear();
            if p.status == 401 {
                self.error = Some(
                    "Code not accepted: wrong, already used, or the login waited too long. Try the next code, or Esc to start over."
                        .into(),
                );
                return;
            }
            self.mfa = None;
        }
        // Success is taken by the app, which switches screens.
        if let Err(p) = r {
            self.error = Some(self.login_problem(&p));
            if p.status == 401 {
                self.form.fields[PASSWORD].value.clear();
                self.form.focus = PASSWORD;
            }
            if p.status == 0 {
                self.form.focus = SERVER;
            }
        }
    }

    fn login_problem(&self, p: &Problem) -> String {
        match p.status {
            401 => "Wrong email or password (or the account is deactivated). Try again.".to_owned(),
            429 => format!(
                "Too many failed attempts: login is paused for this account{}. Wait, then try again.",
                p.detail.as_deref().and_then(retry_hint).unwrap_or_default()
            ),
            0 => format!(
                "Cannot reach the server at {}. Check the address, and that the server is running.",
                self.form.value(SERVER)
            ),
            _ => format!("Login failed: {}", explain(p)),
        }
    }

    fn draw_login(&self, f: &mut Frame, area: Rect, v: &View) {
        let t = v.theme;
        let h = if self.picking { self.demo.len() as u16 + 10 } else { 14 };
        let r = ui::popup(f, area, 72, h);
        let title = match (self.mfa.is_some(), self.picking) {
            (true, _) => "Health Synx: second factor",
            (false, true) => "Health Synx demo: who are you today?",
            (false, false) => "Health Synx: log in",
        };
        let b = ui::block(title, t);
        let inner = b.inner(r);
        f.render_widget(b, r);
        let [top, msg] = Layout::vertical([Constraint::Min(3), Constraint::Length(4)]).areas(inner);
        if self.picking {
            let rows = self
                .demo
                .iter()
                .map(|a| Line::from(format!("{:<11} {}", role_label(a.role), a.email)))
                .chain(std::iter::once(Line::from("Another account…")))
                .collect();
            ui::draw_list(f, top, "Pick a role (a running demo clinic)", rows, self.pick, t, true);
        } else if self.mfa.is_some() {
            let lines = vec![
                Line::raw(""),
                Line::from("This account has a second factor. Type the 6-digit code"),
                Line::from("your authenticator app shows (or one of your recovery codes)."),
                Line::raw(""),
                self.code.line(t, true, 4),
            ];
            f.render_widget(Paragraph::new(lines), top);
        } else {
            let mut lines = vec![Line::raw("")];
            lines.extend(self.form.lines(t));
            lines.push(Line::raw(""));
            lines.push(Line::from(Span::styled("Enter logs in. Tokens stay in memory only.", t.dim())));
            f.render_widget(Paragraph::new(lines), top);
        }
        let status = match (&self.error, self.busy) {
            (_, true) if self.mfa.is_some() => Line::from(Span::styled("Checking the code…", t.focus())),
            (_, true) => Line::from(Span::styled("Logging in…", t.focus())),
            (Some(e), _) => Line::from(Span::styled(e.clone(), t.error())),
            (None, _) => Line::raw(""),
        };
        f.render_widget(Paragraph::new(status).wrap(Wrap { trim: true }), msg);
    }
}

/// ` (retry after 30 s)` → ` for 30 s`.
fn retry_hint(detail: &str) -> Option<String> {
    let secs = detail.split("retry after ").nth(1)?.split(' ').next()?;
    Some(format!(" for {secs} s"))
}
