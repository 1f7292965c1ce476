//! The admin's webhooks: the receivers the clinic's events are posted to.
//! A webhook is added with a URL and the events it wants (its signing
//! secret is shown once, right then), enabled and disabled, deleted; its
//! deliveries are listed by status, and a dead one is sent again.

use healthsynx_shared::api::{DeliveryQuery, NewWebhook, WebhookPatch};
use healthsynx_shared::{Delivery, DeliveryStatus, EventType, Page, Problem, Webhook};
use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use uuid::Uuid;

use crate::app::{Ctx, Msg, View};
use crate::components::Outcome;
use crate::components::waitlist;
use crate::keys::{self, Binding, Cmd, ENTER, ENTER_ESC, ESC, Keymap, LIST, UP_DOWN, bind, char, code};
use crate::time;
use crate::ui::{self, Field, Pick};

/// Deliveries asked for per page.
const PAGE: usize = 50;

/// The results of the tab's tasks.
pub enum WebhooksMsg {
    Loaded(Result<Vec<Webhook>, Problem>),
    /// The new webhook, with its secret.
    Created(Result<Webhook, Problem>),
    /// Enabled or disabled.
    Toggled(Result<Webhook, Problem>),
    /// The deleted webhook's URL.
    Deleted(String, Result<(), Problem>),
    /// A page of one webhook's deliveries under a filter; `more` adds to the rows shown.
    Deliveries {
        webhook: Uuid,
        filter: Option<DeliveryStatus>,
        more: bool,
        page: Result<Page<Delivery>, Problem>,
    },
    Retried(Result<Delivery, Problem>),
}

fn msg(m: WebhooksMsg) -> Msg {
    Msg::new(m)
}

/// The short name of an event, for a list row.
fn short_name(e: EventType) -> &'static str {
    match e {
        EventType::AppointmentBooked => "booked",
        EventType::AppointmentCancelled => "cancelled",
        EventType::AppointmentRescheduled => "rescheduled",
        EventType::AppointmentReminder => "reminder",
        EventType::WaitlistOffer => "offer",
        EventType::InvoiceIssued => "invoice",
    }
}

/// `all events`, or the short names.
fn events_short(events: &[EventType]) -> String {
    if EventType::ALL.iter().all(|e| events.contains(e)) {
        return "all events".to_owned();
    }
    events.iter().map(|e| short_name(*e)).collect::<Vec<_>>().join(" ")
}

/// The next filter `f` steps to: all, pending, dead, delivered, all again.
fn next_filter(f: Option<DeliveryStatus>) -> Option<DeliveryStatus> {
    match f {
        None => Some(DeliveryStatus::Pending),
        Some(DeliveryStatus::Pending) => Some(DeliveryStatus::Dead),
        Some(DeliveryStatus::Dead) => Some(DeliveryStatus::Delivered),
        Some(DeliveryStatus::Delivered) => None,
    }
}

/// The patch that turns a webhook on or off.
fn activation(active: bool) -> WebhookPatch {
    WebhookPatch { active: Some(active), ..WebhookPatch::default() }
}

/// A 422's field errors as one sentence for under the form.
fn field_errors(p: &Problem) -> Option<String> {
    let name = |f: &str| match f {
        "url" => "URL".to_owned(),
        "events" => "Events".to_owned(),
        other => other.to_owned(),
    };
    let parts: Vec<String> = p.errors.iter().map(|e| format!("{} {}.", name(&e.field), e.message)).collect();
    (p.status == 422 && !parts.is_empty()).then(|| parts.join(" "))
}

// ---- the add form ----

/// Adding a webhook: the URL (it has the keyboard) and a checklist of events.
struct AddForm {
    url: Field,
    /// Checked, in the order of [`EventType::ALL`].
    checked: [bool; EventType::ALL.len()],
    /// The event the cursor is on.
    cursor: usize,
    /// What the server refused in the last try.
    error: Option<String>,
}

impl Default for AddForm {
    fn default() -> Self {
        AddForm {
            url: Field::new("URL").hint("https://… a public receiver"),
            checked: [true; EventType::ALL.len()],
            cursor: 0,
            error: None,
        }
    }
}

impl AddForm {
    fn step(&mut self, key: &KeyEvent) {
        let last = EventType::ALL.len() - 1;
        self.cursor = if key.code == KeyCode::Up { self.cursor.saturating_sub(1) } else { (self.cursor + 1).min(last) };
    }

    fn toggle(&mut self) {
        self.checked[self.cursor] = !self.checked[self.cursor];
    }

    /// The webhook to ask for, or why not yet.
    fn request(&self) -> Result<NewWebhook, String> {
        let url = self.url.text();
        if url.is_empty() {
            return Err("Type the URL the events are posted to.".to_owned());
        }
        let events: Vec<EventType> =
            EventType::ALL.iter().zip(self.checked).filter(|(_, on)| *on).map(|(e, _)| *e).collect();
        if events.is_empty() {
            return Err("Check at least one event.".to_owned());
        }
        Ok(NewWebhook { url: url.to_owned(), events, active: true })
    }

    fn lines(&self, busy: bool, v: &View) -> Vec<Line<'static>> {
        let t = v.theme;
        let mut lines =
            vec![self.url.line(t, true, 3), Line::raw(""), Line::styled("Events (Space toggles):", t.title())];
        lines.extend(EventType::ALL.iter().zip(self.checked).enumerate().map(|(i, (e, on))| {
            let mark = if on { "[x]" } else { "[ ]" };
            let text = format!("{mark} {}", e.as_str());
            if i == self.cursor {
                Line::styled(format!("› {text}"), t.selected())
            } else {
                Line::from(format!("  {text}"))
            }
        }));
        lines.push(Line::raw(""));
        if let Some(e) = &self.error {
            lines.push(Line::styled(e.clone(), t.error()));
        }
        let foot = if busy { "Sending…" } else { "Enter adds the webhook; Esc cancels." };
        lines.push(Line::styled(foot, t.dim()));
        lines
    }
}

// ---- deliveries ----

/// One webhook's deliveries, oldest first, under a status filter.
struct Deliveries {
    webhook: Webhook,
    filter: Option<DeliveryStatus>,
    /// `None` while the first page loads.
    rows: Option<Vec<Delivery>>,
    next_cursor: Option<String>,
    pick: Pick,
}

impl Deliveries {
    fn selected(&self) -> Option<&Delivery> {
        self.rows.as_ref().and_then(|r| r.get(self.pick.sel))
    }

    fn len(&self) -> usize {
        self.rows.as_ref().map_or(0, Vec::len)
    }

    fn take(&mut self, more: bool, page: Page<Delivery>) {
        match (&mut self.rows, more) {
            (Some(rows), true) => rows.extend(page.items),
            _ => self.rows = Some(page.items),
        }
        self.next_cursor = page.next_cursor;
        self.pick.clamp(self.len());
    }
}

// ---- the tab ----

enum Mode {
    List,
    Add(AddForm),
    /// The webhook just made, with the secret shown this once.
    Secret(Webhook),
    /// Asking before the selected webhook is deleted.
    ConfirmDelete,
    Deliveries(Deliveries),
}

/// The webhooks tab of the admin screen.
pub struct WebhooksTab {
    /// `None` until loaded.
    webhooks: Option<Vec<Webhook>>,
    pick: Pick,
    mode: Mode,
    /// A change is on its way; one at a time, so a key pressed twice is not sent twice.
    busy: bool,
}

#[derive(Debug, Clone, Copy)]
pub enum Act {
    Go,
    Add,
    Enable,
    Disable,
    AskDelete,
    Delete,
    Open,
    Refresh,
    Step,
    Toggle,
    Create,
    Back,
    Filter,
    Retry,
    More,
}

type B = Binding<WebhooksTab, Act>;

fn webhook_active(s: &WebhooksTab, active: bool) -> bool {
    !s.busy && s.selected().is_some_and(|w| w.active == active)
}

fn deliveries(s: &WebhooksTab) -> Option<&Deliveries> {
    match &s.mode {
        Mode::Deliveries(d) => Some(d),
        _ => None,
    }
}

fn on_dead(s: &WebhooksTab) -> bool {
    !s.busy && deliveries(s).and_then(Deliveries::selected).is_some_and(|d| d.status == DeliveryStatus::Dead)
}

const LIST_KEYS: &[B] = &[
    bind(ENTER, "Enter", "deliveries", Act::Open).when(|s| s.selected().is_some()),
    bind(&[char('a')], "a", "add", Act::Add),
    bind(&[char('e')], "e", "enable", Act::Enable).when(|s| webhook_active(s, false)),
    bind(&[char('d')], "d", "disable", Act::Disable).when(|s| webhook_active(s, true)),
    bind(&[char('x')], "x", "delete", Act::AskDelete).when(|s| !s.busy && s.selected().is_some()),
    bind(&[char('g')], "g", "refresh", Act::Refresh),
    bind(LIST, "↑↓/jk", "move", Act::Go).when(|s| s.len() > 1),
];
// Enter and Esc first: the bar at 80 columns keeps them when the rest does not fit.
const ADD: &[B] = &[
    bind(ENTER, "Enter", "add", Act::Create).when(|s| !s.busy),
    bind(ESC, "Esc", "cancel", Act::Back),
    bind(UP_DOWN, "↑↓", "event", Act::Step),
    bind(&[char(' ')], "Space", "check/uncheck", Act::Toggle),
];
const SECRET: &[B] = &[bind(ENTER_ESC, "Enter/Esc", "close", Act::Back)];
const CONFIRM_DELETE: &[B] = &[
    bind(&[char('y')], "y", "delete it", Act::Delete),
    bind(&[char('n'), code(KeyCode::Esc)], "n/Esc", "keep it", Act::Back),
];
const DELIVERIES: &[B] = &[
    bind(ESC, "Esc", "back", Act::Back),
    bind(LIST, "↑↓/jk", "move", Act::Go).when(|s| deliveries(s).is_some_and(|d| d.len() > 1)),
    bind(&[char('f')], "f", "filter", Act::Filter),
    bind(&[char('r')], "r", "retry", Act::Retry).when(on_dead),
    bind(&[char(']')], "]", "more", Act::More).when(|s| deliveries(s).is_some_and(|d| d.next_cursor.is_some())),
    bind(&[char('g')], "g", "refresh", Act::Refresh),
];

impl Keymap for WebhooksTab {
    type Action = Act;

    fn bindings(&self) -> &'static [B] {
        match self.mode {
            Mode::List => LIST_KEYS,
            Mode::Add(_) => ADD,
            Mode::Secret(_) => SECRET,
            Mode::ConfirmDelete => CONFIRM_DELETE,
            Mode::Deliveries(_) => DELIVERIES,
        }
    }

    fn text_field(&self) -> Option<&'static str> {
        matches!(self.mode, Mode::Add(_)).then_some("the URL")
    }
}

impl Default for WebhooksTab {
    fn default() -> Self {
        WebhooksTab { webhooks: None, pick: Pick::default(), mode: Mode::List, busy: false }
    }
}

impl WebhooksTab {
    pub fn load(&self, ctx: &mut Ctx) {
        let client = ctx.client.clone();
        ctx.spawn("loading webhooks", async move { client.webhooks().await }, |r| msg(WebhooksMsg::Loaded(r)));
    }

    pub fn commands(&self) -> Vec<Cmd> {
        keys::commands(self)
    }

    pub fn typing(&self) -> bool {
        self.text_field().is_some()
    }

    /// On the list, with nothing open over it: the admin screen's `Tab` applies.
    pub fn on_list(&self) -> bool {
        matches!(self.mode, Mode::List)
    }

    fn len(&self) -> usize {
        self.webhooks.as_ref().map_or(0, Vec::len)
    }

    fn selected(&self) -> Option<&Webhook> {
        self.webhooks.as_ref().and_then(|w| w.get(self.pick.sel))
    }

    pub fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> Outcome {
        if let Some(a) = keys::action(self, &key) {
            self.act(a, &key, ctx);
            return Outcome::Open;
        }
        match &mut self.mode {
            Mode::Add(form) => {
                form.url.handle(&key);
                Outcome::Open
            }
            _ => Outcome::Ignored,
        }
    }

    fn act(&mut self, a: Act, key: &KeyEvent, ctx: &mut Ctx) {
        match a {
            Act::Go => self.go(key),
            Act::Add => self.mode = Mode::Add(AddForm::default()),
            Act::Enable => self.set_active(true, ctx),
            Act::Disable => self.set_active(false, ctx),
            Act::AskDelete => self.mode = Mode::ConfirmDelete,
            Act::Delete => self.delete(ctx),
            Act::Open => self.open_deliveries(ctx),
            Act::Refresh => self.refresh(ctx),
            Act::Step => self.on_form(|form| form.step(key)),
            Act::Toggle => self.on_form(AddForm::toggle),
            Act::Create => self.create(ctx),
            Act::Back => self.mode = Mode::List,
            Act::Filter => self.cycle_filter(ctx),
            Act::Retry => self.retry(ctx),
            Act::More => self.load_deliveries(true, ctx),
        }
    }

    fn on_form(&mut self, change: impl FnOnce(&mut AddForm)) {
        if let Mode::Add(form) = &mut self.mode {
            change(form);
        }
    }

    fn go(&mut self, key: &KeyEvent) {
        let n = self.len();
        match &mut self.mode {
            Mode::Deliveries(d) => {
                let n = d.len();
                d.pick.go(key, n);
            }
            _ => self.pick.go(key, n),
        }
    }

    fn refresh(&self, ctx: &mut Ctx) {
        if matches!(self.mode, Mode::Deliveries(_)) {
            self.load_deliveries(false, ctx);
        } else {
            self.load(ctx);
        }
    }

    fn create(&mut self, ctx: &mut Ctx) {
        let Mode::Add(form) = &self.mode else { return };
        let new = match form.request() {
            Ok(new) => new,
            Err(e) => return ctx.error(e),
        };
        self.busy = true;
        let client = ctx.client.clone();
        ctx.spawn("adding the webhook", async move { client.create_webhook(&new).await }, |r| {
            msg(WebhooksMsg::Created(r))
        });
    }

    /// Enables or disables the selected webhook, from the version shown.
    fn set_active(&mut self, active: bool, ctx: &mut Ctx) {
        let Some((id, version)) = self.selected().map(|w| (w.id, w.version)) else { return };
        self.busy = true;
        let client = ctx.client.clone();
        let what = if active { "enabling the webhook" } else { "disabling the webhook" };
        ctx.spawn(what, async move { client.patch_webhook(id, version, &activation(active)).await }, |r| {
            msg(WebhooksMsg::Toggled(r))
        });
    }

    fn delete(&mut self, ctx: &mut Ctx) {
        self.mode = Mode::List;
        let Some((id, url)) = self.selected().map(|w| (w.id, w.url.clone())) else { return };
        self.busy = true;
        let client = ctx.client.clone();
        ctx.spawn("deleting the webhook", async move { client.delete_webhook(id).await }, move |r| {
            msg(WebhooksMsg::Deleted(url, r))
        });
    }

    fn open_deliveries(&mut self, ctx: &mut Ctx) {
        let Some(webhook) = self.selected().cloned() else { return };
        let d = Deliveries { webhook, filter: None, rows: None, next_cursor: None, pick: Pick::default() };
        self.mode = Mode::Deliveries(d);
        self.load_deliveries(false, ctx);
    }

    fn cycle_filter(&mut self, ctx: &mut Ctx) {
        if let Mode::Deliveries(d) = &mut self.mode {
            d.filter = next_filter(d.filter);
            d.rows = None;
            d.next_cursor = None;
            d.pick = Pick::default();
        }
        self.load_deliveries(false, ctx);
    }

    /// The first page of the open webhook's deliveries, or with `more` the next one.
    fn load_deliveries(&self, more: bool, ctx: &mut Ctx) {
        let Some(d) = deliveries(self) else { return };
        let (webhook, filter) = (d.webhook.id, d.filter);
        let cursor = if more { d.next_cursor.clone() } else { None };
        let q = DeliveryQuery { status: filter, limit: Some(PAGE), cursor };
        let client = ctx.client.clone();
        ctx.spawn("loading deliveries", async move { client.deliveries(webhook, &q).await }, move |page| {
            msg(WebhooksMsg::Deliveries { webhook, filter, more, page })
        });
    }

    fn retry(&mut self, ctx: &mut Ctx) {
        let Some(id) = deliveries(self).and_then(Deliveries::selected).map(|d| d.id) else { return };
        self.busy = true;
        let client = ctx.client.clone();
        ctx.spawn("retrying the delivery", async move { client.retry_delivery(id).await }, |r| {
            msg(WebhooksMsg::Retried(r))
        });
    }

    pub fn on_msg(&mut self, m: WebhooksMsg, ctx: &mut Ctx) {
        match m {
            WebhooksMsg::Loaded(Ok(list)) => {
                self.pick.clamp(list.len());
                self.webhooks = Some(list);
            }
            WebhooksMsg::Loaded(Err(p)) => ctx.problem("Could not load webhooks", &p),
            WebhooksMsg::Created(r) => self.on_created(r, ctx),
            WebhooksMsg::Toggled(r) => {
                self.busy = false;
                match r {
                    Ok(w) if w.active => ctx.info(format!("Enabled: events go to {} again.", w.url)),
                    Ok(w) => ctx.info(format!("Disabled: nothing more is sent to {}.", w.url)),
                    Err(p) => ctx.problem("Not changed", &p),
                }
                self.load(ctx);
            }
            WebhooksMsg::Deleted(url, r) => {
                self.busy = false;
                match r {
                    Ok(()) => ctx.info(format!("Deleted the webhook to {url} with its deliveries.")),
                    Err(p) => ctx.problem("Not deleted", &p),
                }
                self.load(ctx);
            }
            WebhooksMsg::Deliveries { webhook, filter, more, page } => {
                self.on_deliveries(webhook, filter, more, page, ctx)
            }
            WebhooksMsg::Retried(r) => {
                self.busy = false;
                match r {
                    Ok(_) => {
                        ctx.info("Retrying: sent again now.");
                        self.load_deliveries(false, ctx);
                    }
                    Err(p) => ctx.problem("Not retried", &p),
                }
            }
        }
    }

    /// Shows the secret of a new webhook; a refused one keeps the form as typed, with why.
    fn on_created(&mut self, r: Result<Webhook, Problem>, ctx: &mut Ctx) {
        self.busy = false;
        match r {
            Ok(w) => {
                self.mode = Mode::Secret(w);
                self.load(ctx);
            }
            Err(p) => match (&mut self.mode, field_errors(&p)) {
                (Mode::Add(form), Some(why)) => form.error = Some(why),
                _ => ctx.problem("Not added", &p),
            },
        }
    }

    /// A page for the deliveries shown, unless the view moved on since it was asked for.
    fn on_deliveries(
        &mut self,
        webhook: Uuid,
        filter: Option<DeliveryStatus>,
        more: bool,
        page: Result<Page<Delivery>, Problem>,
        ctx: &mut Ctx,
    ) {
        let Mode::Deliveries(d) = &mut self.mode else { return };
        if d.webhook.id != webhook || d.filter != filter {
            return;
        }
        match page {
            Ok(page) => d.take(more, page),
            Err(p) => ctx.problem("Could not load deliveries", &p),
        }
    }

    pub fn draw(&self, f: &mut Frame, area: Rect, v: &View) {
        match &self.mode {
            Mode::Deliveries(d) => draw_deliveries(d, f, area, v),
            _ => self.draw_list(f, area, v),
        }
        self.draw_popup(f, area, v);
    }

    fn draw_list(&self, f: &mut Frame, area: Rect, v: &View) {
        let t = v.theme;
        let Some(list) = &self.webhooks else {
            let b = ui::block("Webhooks", t);
            return f.render_widget(Paragraph::new(Span::styled("Loading…", t.dim())).block(b), area);
        };
        if list.is_empty() {
            let text = "No webhooks yet: a adds one, to post the clinic's events to another system.";
            let b = ui::block("Webhooks", t);
            return f
                .render_widget(Paragraph::new(Span::styled(text, t.dim())).wrap(Wrap { trim: true }).block(b), area);
        }
        let [rows_area, detail] = Layout::vertical([Constraint::Min(4), Constraint::Length(6)]).areas(area);
        // The borders, the selection mark and a column of air take five; on a
        // wide screen the URL stops at [`URL_MAX_W`], so the events stay near it.
        let url_w = usize::from(rows_area.width).saturating_sub(5 + FIXED_W).clamp(12, URL_MAX_W);
        let heading = format!("{:<8} {:<url_w$} {:<EVENTS_W$} {}", "State", "URL", "Events", "Added");
        let rows = list.iter().map(|w| webhook_row(w, url_w, v)).collect();
        let title = format!("Webhooks ({})", list.len());
        ui::draw_headed_list(f, rows_area, &title, &heading, rows, self.pick, t);
        if let Some(w) = self.selected() {
            let p = Paragraph::new(webhook_lines(w, v)).wrap(Wrap { trim: true }).block(ui::block("Selected", t));
            f.render_widget(p, detail);
        }
    }

    fn draw_popup(&self, f: &mut Frame, area: Rect, v: &View) {
        let t = v.theme;
        match &self.mode {
            Mode::List | Mode::Deliveries(_) => {}
            Mode::Add(form) => ui::draw_popup(f, area, "Add a webhook", form.lines(self.busy, v), 76, t),
            Mode::Secret(w) => ui::draw_popup(f, area, "Webhook added", secret_lines(w, v), 76, t),
            Mode::ConfirmDelete => {
                let url = self.selected().map_or(String::new(), |w| w.url.clone());
                let lines = vec![
                    Line::from(format!("Delete the webhook to {url}?")),
                    Line::from("Its deliveries go with it, and it gets no more events."),
                    Line::styled("y deletes it; n or Esc keeps it.", t.dim()),
                ];
                ui::draw_popup(f, area, "Delete the webhook", lines, 70, t);
            }
        }
    }
}

/// The widest the URL column gets.
const URL_MAX_W: usize = 64;
/// The events column's width.
const EVENTS_W: usize = 18;
/// Every column of a webhook row but the URL: state, events, date, and the gaps.
const FIXED_W: usize = 8 + 1 + 1 + EVENTS_W + 1 + 10;

fn webhook_row(w: &Webhook, url_w: usize, v: &View) -> Line<'static> {
    let state = if w.active { "active" } else { "disabled" };
    let style = if w.active { v.theme.ok() } else { v.theme.dim() };
    let rest = format!(
        " {:<url_w$} {:<EVENTS_W$} {}",
        ui::fit(&w.url, url_w),
        ui::fit(&events_short(&w.events), EVENTS_W),
        time::date_of(w.created_at, v.tz)
    );
    Line::from(vec![Span::styled(format!("{state:<8}"), style), Span::raw(rest)])
}

fn webhook_lines(w: &Webhook, v: &View) -> Vec<Line<'static>> {
    let names: Vec<&str> = w.events.iter().map(|e| e.as_str()).collect();
    let state = if w.active { "active" } else { "disabled: nothing is sent to it" };
    vec![
        Line::from(format!("URL:    {}", w.url)),
        Line::from(format!("Events: {}", names.join(", "))),
        Line::from(format!("Added {} · {state}", time::full(w.created_at, v.tz))),
    ]
}

fn secret_lines(w: &Webhook, v: &View) -> Vec<Line<'static>> {
    let t = v.theme;
    vec![
        Line::from(format!("Added {}. Its signing secret:", w.url)),
        Line::raw(""),
        Line::styled(w.secret.clone().unwrap_or_default(), t.key()),
        Line::raw(""),
        Line::styled("Copy it now: it is not shown again.", t.error()),
        Line::from("The receiver checks each delivery's signature with it."),
    ]
}

fn filter_word(f: Option<DeliveryStatus>) -> &'static str {
    f.map_or("all", DeliveryStatus::as_str)
}

fn draw_deliveries(d: &Deliveries, f: &mut Frame, area: Rect, v: &View) {
    let t = v.theme;
    let title = format!("Deliveries to {} · {}", ui::fit(&d.webhook.url, 44), filter_word(d.filter));
    let Some(rows) = &d.rows else {
        let b = ui::block(title, t);
        return f.render_widget(Paragraph::new(Span::styled("Loading…", t.dim())).block(b), area);
    };
    let [list, about] = Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).areas(area);
    if rows.is_empty() {
        let text = match d.filter {
            None => "Nothing sent yet: events it asked for show here once they happen.".to_owned(),
            Some(s) => format!("No {} deliveries. f shows another status.", s.as_str()),
        };
        f.render_widget(Paragraph::new(Span::styled(text, t.dim())).block(ui::block(title, t)), list);
        return;
    }
    let last_w = usize::from(list.width).saturating_sub(4 + 9 + 1 + 23 + 1 + 16 + 1 + 5 + 1).max(10);
    let heading = format!("{:<9} {:<23} {:<16} {:>5} {}", "Status", "Event", "Created", "Tries", "Last answer");
    let lines = rows.iter().map(|r| delivery_row(r, last_w, v)).collect();
    ui::draw_headed_list(f, list, &title, &heading, lines, d.pick, t);
    if let Some(sel) = d.selected() {
        f.render_widget(Paragraph::new(Span::styled(about_delivery(sel, v), t.dim())), about);
    }
}

fn delivery_row(d: &Delivery, last_w: usize, v: &View) -> Line<'static> {
    let t = v.theme;
    let style = match d.status {
        DeliveryStatus::Pending => t.focus(),
        DeliveryStatus::Delivered => t.ok(),
        DeliveryStatus::Dead => t.error(),
    };
    let rest = format!(
        " {:<23} {:<16} {:>5} {}",
        d.event_type.as_str(),
        time::full(d.created_at, v.tz),
        d.attempts,
        ui::fit(&last_answer(d, v), last_w)
    );
    Line::from(vec![Span::styled(format!("{:<9}", d.status.as_str()), style), Span::raw(rest)])
}

/// What the receiver said last, and for a pending delivery when it is tried next.
fn last_answer(d: &Delivery, v: &View) -> String {
    let said = match (&d.last_error, d.last_status) {
        (Some(e), _) => e.clone(),
        (None, Some(s)) => format!("HTTP {s}"),
        (None, None) => "not tried yet".to_owned(),
    };
    match (d.status, d.next_attempt_at) {
        (DeliveryStatus::Pending, Some(next)) => format!("{said}; next {}", waitlist::clock(next, v.now, v.tz)),
        _ => said,
    }
}

fn about_delivery(d: &Delivery, v: &View) -> String {
    let last = d.last_attempt_at.map_or("never".to_owned(), |at| time::full(at, v.tz));
    match (d.status, d.delivered_at) {
        (DeliveryStatus::Delivered, Some(at)) => format!("Delivered {} · event {}", time::full(at, v.tz), d.event_id),
        (DeliveryStatus::Dead, _) => format!("Given up after {} tries (last {last}): r sends it again.", d.attempts),
        _ => format!("Last tried {last} · event {}", d.event_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::key;

    #[test]
    fn the_form_asks_for_the_url_and_the_checked_events() {
        let mut form = AddForm::default();
        assert_eq!(form.request().unwrap_err(), "Type the URL the events are posted to.");
        form.url.value = " https://hooks.example.org/healthsynx ".into();
        let all = form.request().unwrap();
        assert_eq!(all.url, "https://hooks.example.org/healthsynx");
        assert_eq!(all.events, EventType::ALL.to_vec(), "every event is checked to begin with");
        assert!(all.active);
        form.toggle();
        form.step(&key(KeyCode::Down));
        form.step(&key(KeyCode::Down));
        form.toggle();
        let some = form.request().unwrap();
        assert!(!some.events.contains(&EventType::AppointmentBooked));
        assert!(!some.events.contains(&EventType::AppointmentRescheduled));
        assert_eq!(some.events.len(), 4);
        form.checked = [false; 6];
        assert_eq!(form.request().unwrap_err(), "Check at least one event.");
    }

    #[test]
    fn the_filter_cycles_all_pending_dead_delivered() {
        let seen: Vec<&str> =
            std::iter::successors(Some(None), |f| Some(next_filter(*f))).take(5).map(filter_word).collect();
        assert_eq!(seen, ["all", "pending", "dead", "delivered", "all"]);
    }

    #[test]
    fn enabling_and_disabling_patch_only_active() {
        let on = activation(true);
        assert_eq!((on.active, on.url, on.events), (Some(true), None, None));
        assert_eq!(activation(false).active, Some(false));
    }

    #[test]
    fn a_422_on_a_field_reads_as_a_sentence() {
        let mut p = Problem::new(422, "invalid");
        p.errors.push(healthsynx_shared::api::FieldError::new("url", "must be an https URL"));
        assert_eq!(field_errors(&p).as_deref(), Some("URL must be an https URL."));
        assert_eq!(field_errors(&Problem::new(409, "conflict")), None);
    }
}
