//! Log in: server, email, masked password; or, with `--demo`, a role picker.

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

/// The answer to a login attempt: a client holding the tokens, and who we are.
pub enum Msg {
    Done(Result<(Client, User), Problem>),
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
}

type B = Binding<Login, Act>;

const PICKER: &[B] = &[bind(LIST, "↑↓/jk", "move", Act::Go), bind(ENTER, "Enter", "log in as", Act::Pick)];
const FORM: &[B] = &[
    bind(ENTER, "Enter", "log in", Act::LogIn),
    bind(FIELDS, "Tab/↑↓", "next field", Act::NextField),
    bind(ESC, "Esc", "role picker", Act::Picker).when(|s| !s.demo.is_empty()),
];

impl Keymap for Login {
    type Action = Act;

    fn bindings(&self) -> &'static [B] {
        if self.picking { PICKER } else { FORM }
    }

    fn text_field(&self) -> Option<&'static str> {
        (!self.picking).then_some("email, password")
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
        !self.picking
    }

    fn on_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> Handled {
        match keys::action(self, &key) {
            Some(a) => self.act(a, key, ctx),
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
        let mut login = Login { demo, picking, pick: Pick::default(), form, busy: false, error: None };
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
        }
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
                match client.login(&email, &password).await? {
                    healthsynx_shared::api::LoginAnswer::Tokens(pair) => Ok((client, pair.user)),
                    _ => Err(Problem::new(401, "a second factor is needed")),
                }
            },
            |r| app::Msg::new(Msg::Done(r)),
        );
    }

    fn on_result(&mut self, msg: Msg) {
        let Msg::Done(r) = msg;
        self.busy = false;
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
        let title = if self.picking { "Health Synx demo: who are you today?" } else { "Health Synx: log in" };
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
        } else {
            let mut lines = vec![Line::raw("")];
            lines.extend(self.form.lines(t));
            lines.push(Line::raw(""));
            lines.push(Line::from(Span::styled("Enter logs in. Tokens stay in memory only.", t.dim())));
            f.render_widget(Paragraph::new(lines), top);
        }
        let status = match (&self.error, self.busy) {
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
