//! Admin: user accounts (create, deactivate and activate, password reset
//! with its one-time token) and the audit log (filters, verify the chain).

use healthsynx_shared::api::{AuditQuery, ChainReport, NewUser, ResetToken, UserQuery};
use healthsynx_shared::value::{DepartmentCode, Email};
use healthsynx_shared::{AuditEntry, Outcome, Page, Problem, Role, User, validate};
use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Tabs;
use uuid::Uuid;

use crate::app::{self, Ctx, Handled, View};
use crate::keys::{Cmd, LIST_NAV, cmd, is_char};
use crate::time;
use crate::ui::{self, Field, Form, Pick};

pub enum Msg {
    Users(String, Result<Page<User>, Problem>),
    Created(Result<User, Problem>),
    Toggled(Result<User, Problem>),
    Reset(String, Result<ResetToken, Problem>),
    Audit(bool, Result<Page<AuditEntry>, Problem>),
    Verified(Result<ChainReport, Problem>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Users,
    Audit,
}

enum Modal {
    None,
    Search(Field),
    Create(Form),
    Token(String, ResetToken),
    AuditFilter(Form),
    Entry,
    Chain(ChainReport),
}

pub struct Admin {
    pub tab: Tab,
    query: String,
    users: Vec<User>,
    user_pick: Pick,
    audit: Vec<AuditEntry>,
    audit_pick: Pick,
    audit_query: AuditQuery,
    next_cursor: Option<String>,
    modal: Modal,
}

fn msg(m: Msg) -> app::Msg {
    app::Msg::Admin(m)
}

impl Admin {
    pub fn new(ctx: &mut Ctx) -> Self {
        let mut a = Admin {
            tab: Tab::Users,
            query: String::new(),
            users: Vec::new(),
            user_pick: Pick::default(),
            audit: Vec::new(),
            audit_pick: Pick::default(),
            audit_query: AuditQuery { limit: Some(200), ..AuditQuery::default() },
            next_cursor: None,
            modal: Modal::None,
        };
        a.load_users(ctx);
        a.load_audit(false, ctx);
        a
    }

    fn load_users(&mut self, ctx: &mut Ctx) {
        let q = self.query.clone();
        let uq = UserQuery { q: (!q.is_empty()).then(|| q.clone()), limit: Some(500), ..UserQuery::default() };
        let client = ctx.client.clone();
        ctx.spawn("loading users", async move { client.users(&uq).await }, move |r| msg(Msg::Users(q, r)));
    }

    /// Loads the first page, or with `more` the page after the last one.
    fn load_audit(&mut self, more: bool, ctx: &mut Ctx) {
        let mut q = self.audit_query.clone();
        q.cursor = if more { self.next_cursor.clone() } else { None };
        let client = ctx.client.clone();
        ctx.spawn("loading the audit log", async move { client.audit(&q).await }, move |r| msg(Msg::Audit(more, r)));
    }

    fn selected_user(&self) -> Option<&User> {
        self.users.get(self.user_pick.sel)
    }

    pub fn typing(&self) -> bool {
        matches!(self.modal, Modal::Search(_) | Modal::Create(_) | Modal::AuditFilter(_))
    }

    pub fn commands(&self) -> Vec<Cmd> {
        match &self.modal {
            Modal::Search(_) => return vec![cmd("type", "search"), cmd("Enter", "done"), cmd("Esc", "clear")],
            Modal::Create(_) => return vec![cmd("Tab", "next field"), cmd("Enter", "create"), cmd("Esc", "cancel")],
            Modal::AuditFilter(_) => {
                return vec![cmd("Tab", "next field"), cmd("Enter", "apply"), cmd("Esc", "cancel")];
            }
            Modal::Token(..) | Modal::Entry | Modal::Chain(_) => return vec![cmd("Esc", "close")],
            Modal::None => {}
        }
        let mut c = vec![cmd("Tab", "users/audit"), LIST_NAV];
        match self.tab {
            Tab::Users => {
                c.extend([cmd("/", "search"), cmd("a", "add user")]);
                if let Some(u) = self.selected_user() {
                    c.push(cmd("d", if u.active { "deactivate" } else { "activate" }));
                    c.push(cmd("r", "reset password"));
                }
            }
            Tab::Audit => {
                c.extend([cmd("Enter", "details"), cmd("/", "filter"), cmd("v", "verify chain")]);
                if self.next_cursor.is_some() {
                    c.push(cmd("]", "more"));
                }
            }
        }
        c.push(cmd("g", "refresh"));
        c
    }

    pub fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> Handled {
        if !matches!(self.modal, Modal::None) {
            self.modal_key(key, ctx);
            return Handled::Consumed;
        }
        if key.code == KeyCode::Tab || key.code == KeyCode::BackTab {
            self.tab = if self.tab == Tab::Users { Tab::Audit } else { Tab::Users };
            return Handled::Consumed;
        }
        match self.tab {
            Tab::Users => self.users_key(key, ctx),
            Tab::Audit => self.audit_key(key, ctx),
        }
    }

    fn users_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> Handled {
        if self.user_pick.handle(&key, self.users.len()) {
        } else if is_char(&key, '/') {
            self.modal = Modal::Search(Field::new("Search").with(self.query.clone()));
        } else if is_char(&key, 'a') {
            self.modal = Modal::Create(Form::new(vec![
                Field::new("Email"),
                Field::new("Full name"),
                Field::new("Role").hint("doctor, nurse, receptionist, admin"),
                Field::new("Department").hint("for doctors and nurses, e.g. cardiology"),
                Field::new("Password").masked().hint("optional: empty sends a reset token"),
            ]));
        } else if is_char(&key, 'd') {
            if let Some(u) = self.selected_user() {
                let (id, active) = (u.id, u.active);
                let client = ctx.client.clone();
                let what = if active { "deactivating" } else { "activating" };
                ctx.spawn(
                    what,
                    async move { if active { client.deactivate_user(id).await } else { client.activate_user(id).await } },
                    |r| msg(Msg::Toggled(r)),
                );
            }
        } else if is_char(&key, 'r') {
            if let Some(u) = self.selected_user() {
                let (id, name) = (u.id, u.full_name.clone());
                let client = ctx.client.clone();
                ctx.spawn("issuing a reset token", async move { client.issue_password_reset(id).await }, move |r| {
                    msg(Msg::Reset(name, r))
                });
            }
        } else if is_char(&key, 'g') {
            self.load_users(ctx);
        } else {
            return Handled::Ignored;
        }
        Handled::Consumed
    }

    fn audit_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> Handled {
        if self.audit_pick.handle(&key, self.audit.len()) {
        } else if key.code == KeyCode::Enter && !self.audit.is_empty() {
            self.modal = Modal::Entry;
        } else if is_char(&key, '/') {
            let q = &self.audit_query;
            let opt = |v: Option<String>| v.unwrap_or_default();
            self.modal = Modal::AuditFilter(Form::new(vec![
                Field::new("Actor id").with(opt(q.actor_id.map(|i| i.to_string()))),
                Field::new("Patient id").with(opt(q.patient_id.map(|i| i.to_string()))),
                Field::new("Action").with(opt(q.action.clone())).hint("e.g. login, record.read"),
                Field::new("From").with(opt(q.from.map(|t| time::full(t, ctx.tz)))).hint("YYYY-MM-DD [HH:MM]"),
                Field::new("To").with(opt(q.to.map(|t| time::full(t, ctx.tz)))).hint("YYYY-MM-DD [HH:MM]"),
            ]));
        } else if is_char(&key, 'v') {
            let client = ctx.client.clone();
            ctx.spawn("verifying the audit chain", async move { client.verify_audit().await }, |r| {
                msg(Msg::Verified(r))
            });
        } else if is_char(&key, ']') && self.next_cursor.is_some() {
            self.load_audit(true, ctx);
        } else if is_char(&key, 'g') {
            self.load_audit(false, ctx);
        } else {
            return Handled::Ignored;
        }
        Handled::Consumed
    }

    fn modal_key(&mut self, key: KeyEvent, ctx: &mut Ctx) {
        let esc = key.code == KeyCode::Esc;
        let enter = key.code == KeyCode::Enter;
        match &mut self.modal {
            Modal::Search(field) => {
                if esc {
                    field.value.clear();
                }
                if esc || enter {
                    self.modal = Modal::None;
                } else if field.handle(&key) {
                    self.query = field.text().to_owned();
                    self.user_pick = Pick::default();
                    self.load_users(ctx);
                    return;
                }
                if esc {
                    self.query.clear();
                    self.load_users(ctx);
                }
            }
            Modal::Create(form) => {
                if esc {
                    self.modal = Modal::None;
                } else if enter {
                    match new_user(form) {
                        Ok(new) => {
                            let client = ctx.client.clone();
                            ctx.spawn("creating the user", async move { client.create_user(&new).await }, |r| {
                                msg(Msg::Created(r))
                            });
                        }
                        Err(e) => ctx.error(e),
                    }
                } else {
                    form.handle(&key);
                }
            }
            Modal::AuditFilter(form) => {
                if esc {
                    self.modal = Modal::None;
                } else if enter {
                    match audit_query(form, ctx) {
                        Ok(q) => {
                            self.audit_query = q;
                            self.modal = Modal::None;
                            self.audit_pick = Pick::default();
                            self.load_audit(false, ctx);
                        }
                        Err(e) => ctx.error(e),
                    }
                } else {
                    form.handle(&key);
                }
            }
            Modal::Token(..) | Modal::Entry | Modal::Chain(_) => {
                if esc || enter {
                    self.modal = Modal::None;
                }
            }
            Modal::None => {}
        }
    }

    pub fn on_msg(&mut self, m: Msg, ctx: &mut Ctx) {
        match m {
            Msg::Users(q, Ok(page)) if q == self.query => {
                self.users = page.items;
                self.user_pick.clamp(self.users.len());
            }
            Msg::Users(_, Ok(_)) => {}
            Msg::Users(_, Err(p)) => ctx.problem("Could not load users", &p),
            Msg::Created(Ok(u)) => {
                self.modal = Modal::None;
                ctx.info(format!("Created {} ({}), username {}.", u.full_name, u.role, u.username));
                self.load_users(ctx);
            }
            Msg::Created(Err(p)) => ctx.problem("Not created", &p),
            Msg::Toggled(Ok(u)) => {
                let state = if u.active { "active again" } else { "deactivated: they cannot log in" };
                ctx.info(format!("{} is {state}.", u.full_name));
                self.load_users(ctx);
            }
            Msg::Toggled(Err(p)) => ctx.problem("Not changed", &p),
            Msg::Reset(name, Ok(tok)) => self.modal = Modal::Token(name, tok),
            Msg::Reset(_, Err(p)) => ctx.problem("No reset token", &p),
            Msg::Audit(more, Ok(page)) => {
                if more {
                    self.audit.extend(page.items);
                } else {
                    self.audit = page.items;
                }
                self.next_cursor = page.next_cursor;
                self.audit_pick.clamp(self.audit.len());
            }
            Msg::Audit(_, Err(p)) => ctx.problem("Could not load the audit log", &p),
            Msg::Verified(Ok(r)) => self.modal = Modal::Chain(r),
            Msg::Verified(Err(p)) => ctx.problem("Could not verify the chain", &p),
        }
    }

    pub fn draw(&self, f: &mut Frame, area: Rect, v: &View) {
        let t = v.theme;
        let [tabs, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(3)]).areas(area);
        let sel = if self.tab == Tab::Users { 0 } else { 1 };
        f.render_widget(Tabs::new(vec!["Users", "Audit log"]).select(sel).highlight_style(t.selected()), tabs);
        match self.tab {
            Tab::Users => {
                let rows = self.users.iter().map(user_row).collect();
                let title = if self.query.is_empty() {
                    "Users".to_owned()
                } else {
                    format!("Users matching “{}”", self.query)
                };
                ui::draw_list(f, body, &title, rows, self.user_pick, t, true);
            }
            Tab::Audit => {
                let rows = self.audit.iter().map(|e| audit_row(e, v)).collect();
                let title = format!("Audit log{}", filter_summary(&self.audit_query));
                ui::draw_list(f, body, &title, rows, self.audit_pick, t, true);
            }
        }
        self.draw_modal(f, area, v);
    }

    fn draw_modal(&self, f: &mut Frame, area: Rect, v: &View) {
        let t = v.theme;
        match &self.modal {
            Modal::None => {}
            Modal::Search(field) => ui::draw_popup(f, area, "Search users", vec![field.line(t, true, 6)], 60, t),
            Modal::Create(form) => ui::draw_popup(f, area, "Add a user", form.lines(t), 76, t),
            Modal::AuditFilter(form) => ui::draw_popup(f, area, "Filter the audit log", form.lines(t), 76, t),
            Modal::Token(name, tok) => {
                let lines = vec![
                    Line::from(format!("One-time password reset code for {name}:")),
                    Line::from(Span::styled(tok.token.clone(), t.key())),
                    Line::from(format!("Valid until {}. It is shown only now.", time::full(tok.expires_at, v.tz))),
                ];
                ui::draw_popup(f, area, "Password reset", lines, 76, t);
            }
            Modal::Entry => {
                if let Some(e) = self.audit.get(self.audit_pick.sel) {
                    ui::draw_popup(f, area, "Audit entry", entry_lines(e, v), 78, t);
                }
            }
            Modal::Chain(r) => {
                let line = if r.ok {
                    Line::from(Span::styled(
                        format!("The chain is intact: {} entries verified.", r.entries.unwrap_or(0)),
                        t.ok(),
                    ))
                } else {
                    Line::from(Span::styled(
                        format!("The chain is BROKEN at entry #{}. The log was altered.", r.first_bad.unwrap_or(0)),
                        t.error(),
                    ))
                };
                ui::draw_popup(f, area, "Audit chain", vec![line], 64, t);
            }
        }
    }
}

fn user_row(u: &User) -> Line<'static> {
    let state = if u.active { "" } else { "  [deactivated]" };
    Line::from(format!(
        "{:<22} {:<13} {:<11} {}{state}",
        ui::fit(&u.full_name, 21),
        u.role.as_str(),
        u.department.as_deref().unwrap_or("—"),
        u.email
    ))
}

fn audit_row(e: &AuditEntry, v: &View) -> Line<'static> {
    let outcome = match e.outcome {
        Outcome::Success => "ok",
        Outcome::Failure => "failed",
        Outcome::Denied => "denied",
    };
    let role = e.actor_role.map(Role::as_str).unwrap_or("—");
    Line::from(format!(
        "#{:<6} {}  {:<22} {:<12} {}",
        e.seq,
        time::full(e.at, v.tz),
        ui::fit(&e.action, 21),
        role,
        outcome
    ))
}

fn entry_lines(e: &AuditEntry, v: &View) -> Vec<Line<'static>> {
    let id = |i: Option<Uuid>| i.map_or("—".to_owned(), |i| i.to_string());
    vec![
        Line::from(format!("Seq:     {}   at {}", e.seq, time::full(e.at, v.tz))),
        Line::from(format!("Action:  {} on {} ({:?})", e.action, e.target_type, e.outcome)),
        Line::from(format!("Actor:   {} {}", id(e.actor_id), e.actor_role.map(Role::as_str).unwrap_or(""))),
        Line::from(format!("Target:  {}", id(e.target_id))),
        Line::from(format!("Patient: {}", id(e.patient_id))),
        Line::from(format!("From:    {}", e.client_addr.as_deref().unwrap_or("—"))),
        Line::from(format!("Hash:    {}", e.hash)),
        Line::from(format!("Prev:    {}", e.prev_hash)),
    ]
}

fn filter_summary(q: &AuditQuery) -> String {
    let mut parts = Vec::new();
    if let Some(a) = &q.action {
        parts.push(format!("action={a}"));
    }
    if q.actor_id.is_some() {
        parts.push("actor".to_owned());
    }
    if q.patient_id.is_some() {
        parts.push("patient".to_owned());
    }
    if q.from.is_some() || q.to.is_some() {
        parts.push("time range".to_owned());
    }
    if parts.is_empty() { String::new() } else { format!(" · filtered by {}", parts.join(", ")) }
}

fn new_user(form: &Form) -> Result<NewUser, String> {
    let email = Email::parse(form.value(0)).map_err(|e| format!("Email {e}."))?;
    let name = form.value(1);
    validate::text(name, validate::MAX_SHORT_TEXT).map_err(|e| format!("Full name {e}."))?;
    let role: Role =
        form.value(2).parse().map_err(|_| "Role must be doctor, nurse, receptionist, admin or patient.")?;
    let department = Some(form.value(3)).filter(|d| !d.is_empty());
    let department = department.map(DepartmentCode::parse).transpose().map_err(|e| format!("Department {e}."))?;
    if role.needs_department() && department.is_none() {
        return Err(format!("A {role} needs a department."));
    }
    let password = form.fields.get(4).map(|f| f.value.clone()).filter(|p| !p.is_empty());
    Ok(NewUser { email, full_name: name.to_owned(), role, department, password, username: None })
}

fn audit_query(form: &Form, ctx: &Ctx) -> Result<AuditQuery, String> {
    let uuid = |s: &str, what: &str| -> Result<Option<Uuid>, String> {
        if s.is_empty() { Ok(None) } else { s.parse().map(Some).map_err(|_| format!("{what} must be an id (UUID).")) }
    };
    let when = |s: &str, what: &str| -> Result<Option<jiff::Timestamp>, String> {
        if s.is_empty() {
            Ok(None)
        } else {
            time::parse_local(s, ctx.tz)
                .map(Some)
                .ok_or_else(|| format!("{what} must look like 2026-11-27 or 2026-11-27 09:00."))
        }
    };
    Ok(AuditQuery {
        actor_id: uuid(form.value(0), "Actor id")?,
        patient_id: uuid(form.value(1), "Patient id")?,
        action: Some(form.value(2).to_owned()).filter(|a| !a.is_empty()),
        from: when(form.value(3), "From")?,
        to: when(form.value(4), "To")?,
        limit: Some(200),
        cursor: None,
    })
}
