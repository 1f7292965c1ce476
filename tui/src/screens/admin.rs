//! Admin: user accounts (create, deactivate and activate, password reset
//! with its one-time token), the audit log (filters, verify the chain),
//! the break-glass review queue (emergency accesses to judge, with a note)
//! and the webhooks (in [`WebhooksTab`]).

use healthsynx_shared::api::{
    AuditQuery, BreakGlassGrant, BreakGlassQuery, ChainReport, NewUser, ResetToken, UserQuery,
};
use healthsynx_shared::value::{DepartmentCode, Email};
use healthsynx_shared::{AuditEntry, Outcome, Page, Problem, Role, User, validate};
use ratatui::Frame;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Tabs;
use uuid::Uuid;

use crate::app::{self, Ctx, Handled, View};
use crate::components;
use crate::components::webhooks::{WebhooksMsg, WebhooksTab};
use crate::keys::{self, Binding, Cmd, ENTER, ENTER_ESC, ESC, FIELDS, Keymap, LIST, TAB, bind, char};
use crate::screens::Screen;
use crate::time;
use crate::ui::{self, Field, Form, Pick};

pub enum Msg {
    Users(String, Result<Page<User>, Problem>),
    Created(Result<User, Problem>),
    Toggled(Result<User, Problem>),
    Reset(String, Result<ResetToken, Problem>),
    Audit(bool, Result<Page<AuditEntry>, Problem>),
    Verified(Result<ChainReport, Problem>),
    Grants(Result<Page<BreakGlassGrant>, Problem>),
    Reviewed(Result<BreakGlassGrant, Problem>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Users,
    Audit,
    BreakGlass,
    Webhooks,
}

enum Modal {
    None,
    Search(Field),
    Create(Form),
    Token(String, ResetToken),
    AuditFilter(Form),
    Entry,
    Chain(ChainReport),
    /// Reviewing the selected break-glass grant: the note.
    Review(Field),
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
    /// Break-glass grants waiting for review; `None` until loaded.
    grants: Option<Vec<BreakGlassGrant>>,
    grant_pick: Pick,
    webhooks: WebhooksTab,
    modal: Modal,
}

fn msg(m: Msg) -> app::Msg {
    app::Msg::new(m)
}

#[derive(Debug, Clone, Copy)]
pub enum Act {
    SwitchTab,
    Go,
    Search,
    AddUser,
    Toggle,
    Reset,
    Refresh,
    Details,
    Filter,
    Verify,
    More,
    Close,
    ClearSearch,
    NextField,
    Create,
    Apply,
    Review,
    SendReview,
}

type B = Binding<Admin, Act>;

fn user_active(s: &Admin, active: bool) -> bool {
    s.selected_user().is_some_and(|u| u.active == active)
}

const USERS: &[B] = &[
    bind(TAB, "Tab", "next tab", Act::SwitchTab),
    bind(LIST, "↑↓/jk", "move", Act::Go).when(|s| s.users.len() > 1),
    bind(&[char('/')], "/", "search", Act::Search),
    bind(&[char('a')], "a", "add user", Act::AddUser),
    bind(&[char('d')], "d", "deactivate", Act::Toggle).when(|s| user_active(s, true)),
    bind(&[char('d')], "d", "activate", Act::Toggle).when(|s| user_active(s, false)),
    bind(&[char('r')], "r", "reset password", Act::Reset).when(|s| s.selected_user().is_some()),
    bind(&[char('g')], "g", "refresh", Act::Refresh),
];
const AUDIT: &[B] = &[
    bind(TAB, "Tab", "next tab", Act::SwitchTab),
    bind(LIST, "↑↓/jk", "move", Act::Go).when(|s| s.audit.len() > 1),
    bind(ENTER, "Enter", "details", Act::Details).when(|s| !s.audit.is_empty()),
    bind(&[char('/')], "/", "filter", Act::Filter),
    bind(&[char('v')], "v", "verify chain", Act::Verify),
    bind(&[char(']')], "]", "more", Act::More).when(|s| s.next_cursor.is_some()),
    bind(&[char('g')], "g", "refresh", Act::Refresh),
];
const BREAK_GLASS: &[B] = &[
    bind(TAB, "Tab", "next tab", Act::SwitchTab),
    bind(LIST, "↑↓/jk", "move", Act::Go).when(|s| s.grants.as_ref().is_some_and(|g| g.len() > 1)),
    bind(ENTER, "Enter", "review", Act::Review).when(|s| s.selected_grant().is_some()),
    bind(&[char('g')], "g", "refresh", Act::Refresh),
];
/// The webhooks tab's own keys come from [`WebhooksTab`]; this is the tab switch.
const WEBHOOKS: &[B] = &[bind(TAB, "Tab", "next tab", Act::SwitchTab).when(|s| s.webhooks.on_list())];
const REVIEW: &[B] = &[bind(ENTER, "Enter", "close review", Act::SendReview), bind(ESC, "Esc", "cancel", Act::Close)];
const SEARCH: &[B] = &[bind(ENTER, "Enter", "done", Act::Close), bind(ESC, "Esc", "clear", Act::ClearSearch)];
const CREATE: &[B] = &[
    bind(FIELDS, "Tab/↑↓", "next field", Act::NextField),
    bind(ENTER, "Enter", "create", Act::Create),
    bind(ESC, "Esc", "cancel", Act::Close),
];
const FILTER: &[B] = &[
    bind(FIELDS, "Tab/↑↓", "next field", Act::NextField),
    bind(ENTER, "Enter", "apply", Act::Apply),
    bind(ESC, "Esc", "cancel", Act::Close),
];
const POPUP: &[B] = &[bind(ENTER_ESC, "Enter/Esc", "close", Act::Close)];

impl Keymap for Admin {
    type Action = Act;

    fn bindings(&self) -> &'static [B] {
        match self.modal {
            Modal::None if self.tab == Tab::Users => USERS,
            Modal::None if self.tab == Tab::Audit => AUDIT,
            Modal::None if self.tab == Tab::BreakGlass => BREAK_GLASS,
            Modal::None => WEBHOOKS,
            Modal::Review(_) => REVIEW,
            Modal::Search(_) => SEARCH,
            Modal::Create(_) => CREATE,
            Modal::AuditFilter(_) => FILTER,
            Modal::Token(..) | Modal::Entry | Modal::Chain(_) => POPUP,
        }
    }

    fn text_field(&self) -> Option<&'static str> {
        match self.modal {
            Modal::Search(_) => Some("search"),
            Modal::Create(_) => Some("the new user"),
            Modal::AuditFilter(_) => Some("filters"),
            Modal::Review(_) => Some("the review note"),
            _ => None,
        }
    }
}

impl Screen for Admin {
    fn title(&self) -> &'static str {
        "Admin"
    }

    fn commands(&self) -> Vec<Cmd> {
        let mut cmds = keys::commands(self);
        if self.on_webhooks() {
            cmds.extend(self.webhooks.commands());
        }
        cmds
    }

    fn typing(&self) -> bool {
        self.text_field().is_some() || (self.on_webhooks() && self.webhooks.typing())
    }

    fn on_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> Handled {
        if self.on_webhooks() && self.webhooks.handle_key(key, ctx) == components::Outcome::Open {
            return Handled::Consumed;
        }
        match keys::action(self, &key) {
            Some(a) => self.act(a, key, ctx),
            None if self.typing() => self.type_key(key, ctx),
            None => return Handled::Ignored,
        }
        Handled::Consumed
    }

    fn on_msg(&mut self, m: app::Msg, ctx: &mut Ctx) {
        match m.take::<Msg>() {
            Ok(m) => self.on_result(m, ctx),
            Err(m) => {
                if let Ok(m) = m.take::<WebhooksMsg>() {
                    self.webhooks.on_msg(m, ctx);
                }
            }
        }
    }

    fn draw(&self, f: &mut Frame, area: Rect, v: &View) {
        self.draw_tabs(f, area, v);
    }
}

fn create_form() -> Form {
    Form::new(vec![
        Field::new("Email"),
        Field::new("Full name"),
        Field::new("Role").hint("doctor, nurse, receptionist, admin"),
        Field::new("Department").hint("for doctors and nurses, e.g. cardiology"),
        Field::new("Password").masked().hint("optional: empty sends a reset token"),
    ])
}

fn filter_form(q: &AuditQuery, ctx: &Ctx) -> Form {
    let opt = |v: Option<String>| v.unwrap_or_default();
    Form::new(vec![
        Field::new("Actor id").with(opt(q.actor_id.map(|i| i.to_string()))),
        Field::new("Patient id").with(opt(q.patient_id.map(|i| i.to_string()))),
        Field::new("Action").with(opt(q.action.clone())).hint("e.g. login, record.read"),
        Field::new("From").with(opt(q.from.map(|t| time::full(t, ctx.tz)))).hint("YYYY-MM-DD [HH:MM]"),
        Field::new("To").with(opt(q.to.map(|t| time::full(t, ctx.tz)))).hint("YYYY-MM-DD [HH:MM]"),
    ])
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
            grants: None,
            grant_pick: Pick::default(),
            webhooks: WebhooksTab::default(),
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

    fn load_grants(&mut self, ctx: &mut Ctx) {
        let client = ctx.client.clone();
        let q = BreakGlassQuery { reviewed: Some(false), limit: Some(200) };
        ctx.spawn("loading the break-glass queue", async move { client.break_glass_grants(&q).await }, |r| {
            msg(Msg::Grants(r))
        });
    }

    fn selected_grant(&self) -> Option<&BreakGlassGrant> {
        self.grants.as_ref().and_then(|g| g.get(self.grant_pick.sel))
    }

    fn send_review(&mut self, ctx: &mut Ctx) {
        let (Modal::Review(note), Some(g)) = (&self.modal, self.selected_grant()) else { return };
        let note = note.text().trim().to_owned();
        if let Err(e) = validate::text(&note, validate::MAX_REASON_CHARS) {
            ctx.error(format!("The note {e}."));
            return;
        }
        let (id, client) = (g.id, ctx.client.clone());
        ctx.spawn("closing the review", async move { client.review_break_glass(id, &note).await }, |r| {
            msg(Msg::Reviewed(r))
        });
    }

    /// The webhooks tab with no admin pop-up over it: its keys go to [`WebhooksTab`].
    fn on_webhooks(&self) -> bool {
        self.tab == Tab::Webhooks && matches!(self.modal, Modal::None)
    }

    fn selected_user(&self) -> Option<&User> {
        self.users.get(self.user_pick.sel)
    }

    fn act(&mut self, a: Act, key: KeyEvent, ctx: &mut Ctx) {
        match a {
            Act::SwitchTab => {
                self.tab = match self.tab {
                    Tab::Users => Tab::Audit,
                    Tab::Audit => Tab::BreakGlass,
                    Tab::BreakGlass => Tab::Webhooks,
                    Tab::Webhooks => Tab::Users,
                };
                match self.tab {
                    Tab::BreakGlass => self.load_grants(ctx),
                    Tab::Webhooks => self.webhooks.load(ctx),
                    Tab::Users | Tab::Audit => {}
                }
            }
            Act::Go if self.tab == Tab::Users => self.user_pick.go(&key, self.users.len()),
            Act::Go if self.tab == Tab::Audit => self.audit_pick.go(&key, self.audit.len()),
            Act::Go => self.grant_pick.go(&key, self.grants.as_ref().map_or(0, Vec::len)),
            Act::Search => self.modal = Modal::Search(Field::new("Search").with(self.query.clone())),
            Act::AddUser => self.modal = Modal::Create(create_form()),
            Act::Toggle => self.toggle(ctx),
            Act::Reset => self.reset(ctx),
            Act::Refresh if self.tab == Tab::Users => self.load_users(ctx),
            Act::Refresh if self.tab == Tab::Audit => self.load_audit(false, ctx),
            Act::Refresh => self.load_grants(ctx),
            Act::Review => self.modal = Modal::Review(Field::new("Note").hint("what you found: justified or not, why")),
            Act::SendReview => self.send_review(ctx),
            Act::Details => self.modal = Modal::Entry,
            Act::Filter => self.modal = Modal::AuditFilter(filter_form(&self.audit_query, ctx)),
            Act::Verify => {
                let client = ctx.client.clone();
                ctx.spawn("verifying the audit chain", async move { client.verify_audit().await }, |r| {
                    msg(Msg::Verified(r))
                });
            }
            Act::More => self.load_audit(true, ctx),
            Act::Close => self.modal = Modal::None,
            Act::ClearSearch => {
                self.modal = Modal::None;
                self.query.clear();
                self.load_users(ctx);
            }
            Act::NextField => {
                if let Modal::Create(form) | Modal::AuditFilter(form) = &mut self.modal {
                    form.handle(&key);
                }
            }
            Act::Create => self.create(ctx),
            Act::Apply => self.apply_filter(ctx),
        }
    }

    /// A key for the field being typed into.
    fn type_key(&mut self, key: KeyEvent, ctx: &mut Ctx) {
        match &mut self.modal {
            Modal::Search(field) => {
                if !field.handle(&key) {
                    return;
                }
                self.query = field.text().to_owned();
                self.user_pick = Pick::default();
                self.load_users(ctx);
            }
            Modal::Create(form) | Modal::AuditFilter(form) => {
                form.handle(&key);
            }
            Modal::Review(note) => {
                note.handle(&key);
            }
            _ => {}
        }
    }

    fn toggle(&mut self, ctx: &mut Ctx) {
        let Some(u) = self.selected_user() else { return };
        let (id, active) = (u.id, u.active);
        let client = ctx.client.clone();
        let what = if active { "deactivating" } else { "activating" };
        ctx.spawn(
            what,
            async move { if active { client.deactivate_user(id).await } else { client.activate_user(id).await } },
            |r| msg(Msg::Toggled(r)),
        );
    }

    fn reset(&mut self, ctx: &mut Ctx) {
        let Some(u) = self.selected_user() else { return };
        let (id, name) = (u.id, u.full_name.clone());
        let client = ctx.client.clone();
        ctx.spawn("issuing a reset token", async move { client.issue_password_reset(id).await }, move |r| {
            msg(Msg::Reset(name, r))
        });
    }

    fn create(&mut self, ctx: &mut Ctx) {
        let Modal::Create(form) = &self.modal else { return };
        match new_user(form) {
            Ok(new) => {
                let client = ctx.client.clone();
                ctx.spawn("creating the user", async move { client.create_user(&new).await }, |r| msg(Msg::Created(r)));
            }
            Err(e) => ctx.error(e),
        }
    }

    fn apply_filter(&mut self, ctx: &mut Ctx) {
        let Modal::AuditFilter(form) = &self.modal else { return };
        match audit_query(form, ctx) {
            Ok(q) => {
                self.audit_query = q;
                self.modal = Modal::None;
                self.audit_pick = Pick::default();
                self.load_audit(false, ctx);
            }
            Err(e) => ctx.error(e),
        }
    }

    fn on_result(&mut self, m: Msg, ctx: &mut Ctx) {
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
            Msg::Grants(Ok(page)) => {
                self.grant_pick.clamp(page.items.len());
                self.grants = Some(page.items);
            }
            Msg::Grants(Err(p)) => ctx.problem("Could not load the break-glass queue", &p),
            Msg::Reviewed(Ok(g)) => {
                self.modal = Modal::None;
                ctx.info(format!("Review closed: {}'s access to {}.", g.actor_name, g.patient_name));
                self.load_grants(ctx);
            }
            Msg::Reviewed(Err(p)) => {
                ctx.problem("Review not closed", &p);
                self.load_grants(ctx);
            }
        }
    }

    fn draw_tabs(&self, f: &mut Frame, area: Rect, v: &View) {
        let t = v.theme;
        let [tabs, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(3)]).areas(area);
        let sel = match self.tab {
            Tab::Users => 0,
            Tab::Audit => 1,
            Tab::BreakGlass => 2,
            Tab::Webhooks => 3,
        };
        let names = vec!["Users", "Audit log", "Break-glass review", "Webhooks"];
        f.render_widget(Tabs::new(names).select(sel).highlight_style(t.selected()), tabs);
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
            Tab::BreakGlass => self.draw_grants(f, body, v),
            Tab::Webhooks => self.webhooks.draw(f, body, v),
        }
        self.draw_modal(f, area, v);
    }

    fn draw_grants(&self, f: &mut Frame, area: Rect, v: &View) {
        let t = v.theme;
        let title = "Emergency accesses waiting for review (oldest first)";
        match &self.grants {
            None => f.render_widget(
                ratatui::widgets::Paragraph::new(Span::styled("Loading…", t.dim())).block(ui::block(title, t)),
                area,
            ),
            Some(g) if g.is_empty() => f.render_widget(
                ratatui::widgets::Paragraph::new(Span::styled("Nothing to review.", t.dim()))
                    .block(ui::block(title, t)),
                area,
            ),
            Some(g) => {
                let [list, detail] = Layout::vertical([Constraint::Min(3), Constraint::Length(7)]).areas(area);
                let rows = g.iter().map(|g| grant_row(g, v)).collect();
                ui::draw_list(f, list, title, rows, self.grant_pick, t, true);
                if let Some(g) = self.selected_grant() {
                    let lines = grant_lines(g, v);
                    f.render_widget(
                        ratatui::widgets::Paragraph::new(lines)
                            .wrap(ratatui::widgets::Wrap { trim: true })
                            .block(ui::block("Selected", t)),
                        detail,
                    );
                }
            }
        }
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
            Modal::Review(note) => {
                let who = self.selected_grant().map_or(String::new(), |g| {
                    format!("{} ({}) read {}'s data.", g.actor_name, g.actor_role, g.patient_name)
                });
                let lines = vec![Line::from(who), Line::raw(""), note.line(t, true, 4)];
                ui::draw_popup(f, area, "Close the review", lines, 78, t);
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

fn grant_row(g: &BreakGlassGrant, v: &View) -> Line<'static> {
    let state = if g.expires_at > v.now { "live" } else { "ended" };
    Line::from(format!(
        "{}  {:<20} {:<7} → {:<20} {}",
        time::full(g.created_at, v.tz),
        ui::fit(&g.actor_name, 19),
        g.actor_role.as_str(),
        ui::fit(&g.patient_name, 19),
        state
    ))
}

fn grant_lines(g: &BreakGlassGrant, v: &View) -> Vec<Line<'static>> {
    vec![
        Line::from(format!("{} ({}) → {}", g.actor_name, g.actor_role, g.patient_name)),
        Line::from(format!("From {} until {}", time::full(g.created_at, v.tz), time::full(g.expires_at, v.tz))),
        Line::from(format!("Reason: {}", g.reason)),
        Line::from(format!("Grant {}", g.id)),
    ]
}

fn entry_lines(e: &AuditEntry, v: &View) -> Vec<Line<'static>> {
    let id = |i: Option<Uuid>| i.map_or("—".to_owned(), |i| i.to_string());
    let mut lines = vec![
        Line::from(format!("Seq:     {}   at {}", e.seq, time::full(e.at, v.tz))),
        Line::from(format!("Action:  {} on {} ({:?})", e.action, e.target_type, e.outcome)),
        Line::from(format!("Actor:   {} {}", id(e.actor_id), e.actor_role.map(Role::as_str).unwrap_or(""))),
        Line::from(format!("Target:  {}", id(e.target_id))),
        Line::from(format!("Patient: {}", id(e.patient_id))),
        Line::from(format!("From:    {}", e.client_addr.as_deref().unwrap_or("—"))),
        Line::from(format!("Hash:    {}", e.hash)),
        Line::from(format!("Prev:    {}", e.prev_hash)),
    ];
    if let Some(g) = e.grant_id {
        lines.insert(5, Line::from(format!("EMERGENCY ACCESS under grant {g}")));
    }
    lines
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
