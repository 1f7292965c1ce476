//! The front desk's billing view: the invoices still open (drafts to
//! issue, issued ones with money owed) and the day's cash-up by method.
//! An invoice opens in the [`InvoicePanel`]; a completed visit is billed
//! from the board with [`draft_for`].

use healthsynx_shared::api::{CashReport, InvoiceQuery, NewInvoice, OpenBalance, OutstandingReport};
use healthsynx_shared::client::Client;
use healthsynx_shared::{Appointment, Invoice, InvoiceStatus, Problem};
use jiff::Timestamp;
use ratatui::Frame;
use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use crate::app::{Ctx, Msg, View};
use crate::components::Outcome;
use crate::components::invoice::{self, InvoiceMsg, InvoicePanel};
use crate::keys::{self, Binding, Cmd, ENTER, ESC, Keymap, LIST, bind, char};
use crate::time;
use crate::ui::{self, Pick};

/// What the billing view shows.
pub struct Billing {
    pub drafts: Vec<Invoice>,
    pub outstanding: OutstandingReport,
    pub cash: CashReport,
}

/// Loads the drafts, the open balances and today's cash-up.
pub async fn load(client: Client) -> Result<Billing, Problem> {
    let q = InvoiceQuery { status: Some(InvoiceStatus::Draft), limit: Some(200), ..InvoiceQuery::default() };
    let drafts = client.invoices(&q).await?.items;
    let outstanding = client.outstanding_report().await?;
    let cash = client.cash_report(None).await?;
    Ok(Billing { drafts, outstanding, cash })
}

pub enum BillingMsg {
    Loaded(Result<Billing, Problem>),
    /// The draft made for a completed visit.
    Drafted(Result<Invoice, Problem>),
}

/// Makes a draft invoice for a completed visit (its type gives the price).
pub fn draft_for(a: &Appointment, ctx: &mut Ctx) {
    let new = NewInvoice { patient_id: a.patient_id, appointment_ids: vec![a.id], lines: vec![] };
    let client = ctx.client.clone();
    ctx.spawn("making a draft invoice", async move { client.create_invoice(&new).await }, |r| {
        Msg::new(BillingMsg::Drafted(r))
    });
}

/// Says what the draft for a visit came to, or why there is none.
pub fn report_draft(r: &Result<Invoice, Problem>, ctx: &mut Ctx) {
    match r {
        Ok(inv) => ctx.info(format!(
            "Draft invoice for {}: {}. i issues it.",
            inv.patient_name,
            inv.currency.format(inv.total)
        )),
        Err(p) => ctx.problem("Not billed", p),
    }
}

/// Days since `at`, whole.
fn days_since(at: Timestamp, now: Timestamp) -> i64 {
    now.duration_since(at).as_secs().max(0) / 86_400
}

enum Row<'a> {
    Draft(&'a Invoice),
    Open(&'a OpenBalance),
}

/// The open invoices and the cash-up, with one invoice open over them at a time.
pub struct BillingView {
    data: Option<Billing>,
    pick: Pick,
    invoice: Option<Box<InvoicePanel>>,
}

#[derive(Debug, Clone, Copy)]
pub enum Act {
    Go,
    Open,
    Refresh,
    Close,
}

type B = Binding<BillingView, Act>;

const VIEW: &[B] = &[
    bind(LIST, "↑↓/jk", "move", Act::Go).when(|s| s.len() > 1),
    bind(ENTER, "Enter", "open invoice", Act::Open).when(|s| s.len() > 0),
    bind(&[char('g')], "g", "refresh", Act::Refresh),
    bind(ESC, "Esc", "close", Act::Close),
];

impl Keymap for BillingView {
    type Action = Act;

    fn bindings(&self) -> &'static [B] {
        VIEW
    }
}

impl BillingView {
    pub fn open(ctx: &mut Ctx) -> Self {
        let view = BillingView { data: None, pick: Pick::default(), invoice: None };
        view.load(ctx);
        view
    }

    pub fn load(&self, ctx: &mut Ctx) {
        let client = ctx.client.clone();
        ctx.spawn("loading billing", load(client), |r| Msg::new(BillingMsg::Loaded(r)));
    }

    pub fn commands(&self) -> Vec<Cmd> {
        self.invoice.as_ref().map_or_else(|| keys::commands(self), |p| p.commands())
    }

    pub fn typing(&self) -> bool {
        self.invoice.as_ref().is_some_and(|p| p.typing())
    }

    /// Drafts, then issued invoices with money owed (oldest first).
    fn rows(&self) -> Vec<Row<'_>> {
        let Some(d) = &self.data else { return Vec::new() };
        let drafts = d.drafts.iter().map(Row::Draft);
        drafts.chain(d.outstanding.invoices.iter().map(Row::Open)).collect()
    }

    fn len(&self) -> usize {
        self.data.as_ref().map_or(0, |d| d.drafts.len() + d.outstanding.invoices.len())
    }

    pub fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> Outcome {
        if let Some(panel) = &mut self.invoice {
            return match panel.handle_key(key, ctx) {
                Outcome::Closed => {
                    self.invoice = None;
                    Outcome::Open
                }
                out => out,
            };
        }
        match keys::action(self, &key) {
            Some(Act::Go) => {
                let n = self.len();
                self.pick.go(&key, n);
            }
            Some(Act::Open) => self.open_selected(ctx),
            Some(Act::Refresh) => self.load(ctx),
            Some(Act::Close) => return Outcome::Closed,
            None => return Outcome::Ignored,
        }
        Outcome::Open
    }

    /// A draft is at hand whole; an issued invoice is loaded.
    fn open_selected(&mut self, ctx: &mut Ctx) {
        let panel = match self.rows().get(self.pick.sel) {
            Some(Row::Draft(inv)) => InvoicePanel::with((*inv).clone(), true),
            Some(Row::Open(o)) => InvoicePanel::open(o.invoice_id, true, ctx),
            None => return,
        };
        self.invoice = Some(Box::new(panel));
    }

    pub fn on_loaded(&mut self, r: Result<Billing, Problem>, ctx: &mut Ctx) {
        match r {
            Ok(data) => {
                self.data = Some(data);
                let n = self.len();
                self.pick.clamp(n);
            }
            Err(p) => ctx.problem("Could not load billing", &p),
        }
    }

    /// A result of the open invoice's tasks; after a change the lists reload.
    pub fn on_invoice(&mut self, msg: InvoiceMsg, ctx: &mut Ctx) {
        let wrote = match &mut self.invoice {
            Some(panel) => panel.on_msg(msg, ctx),
            None => invoice::report(&msg, ctx),
        };
        if wrote {
            self.load(ctx);
        }
    }

    pub fn draw(&self, f: &mut Frame, area: Rect, v: &View) {
        f.render_widget(Clear, area);
        match &self.data {
            Some(data) => self.draw_data(data, f, area, v),
            None => {
                let b = ui::block("Billing", v.theme);
                let text = Span::styled("Loading billing…", v.theme.dim());
                f.render_widget(Paragraph::new(text).block(b), area);
            }
        }
        if let Some(panel) = &self.invoice {
            panel.draw(f, area, v);
        }
    }

    /// The cash-up beside the invoices where there is room, else under them.
    fn draw_data(&self, data: &Billing, f: &mut Frame, area: Rect, v: &View) {
        let cash_h = u16::try_from(data.cash.methods.len() + 4).unwrap_or(u16::MAX);
        let [list, cash] = if area.width >= 120 {
            let [list, side] = Layout::horizontal([Constraint::Min(60), Constraint::Length(CASH_W + 2)]).areas(area);
            let [cash, _] = Layout::vertical([Constraint::Length(cash_h), Constraint::Min(0)]).areas(side);
            [list, cash]
        } else {
            Layout::vertical([Constraint::Min(5), Constraint::Length(cash_h)]).areas(area)
        };
        self.draw_invoices(data, f, list, v);
        draw_cash(&data.cash, f, cash, v);
    }

    fn draw_invoices(&self, data: &Billing, f: &mut Frame, area: Rect, v: &View) {
        let t = v.theme;
        let owed = data.outstanding.currency.format(data.outstanding.total);
        let title = format!("Open invoices ({}) · owed {owed}", self.len());
        let b = ui::block(title, t).border_style(t.focus());
        let inner = b.inner(area);
        f.render_widget(b, area);
        let [heading, list, about] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(1), Constraint::Length(1)]).areas(inner);
        let head = format!("  {:<11} {:<20} {:<10} {:>14} {:>6}", "Number", "Patient", "Issued", "Amount", "Age");
        f.render_widget(Paragraph::new(Span::styled(head, t.title())), heading);
        let rows: Vec<Line> = self.rows().iter().map(|r| row_line(r, data, v)).collect();
        if rows.is_empty() {
            let text = "Nothing open: every invoice is paid. Bill a completed visit with $ on the board.";
            f.render_widget(Paragraph::new(Span::styled(text, t.dim())), list);
        } else {
            ui::draw_rows(f, list, rows, self.pick, t);
        }
        let text = self.rows().get(self.pick.sel).map(|r| about_line(r, data, v)).unwrap_or_default();
        f.render_widget(Paragraph::new(Span::styled(text, t.dim())), about);
    }
}

/// The cash-up's columns: method, payments, refunds, amount.
const CASH_W: u16 = 10 + 9 + 8 + 15;

fn row_line(r: &Row, data: &Billing, v: &View) -> Line<'static> {
    let (number, patient, issued, amount, age) = match r {
        Row::Draft(inv) => (
            "draft".to_owned(),
            inv.patient_name.clone(),
            "—".to_owned(),
            inv.currency.format(inv.total),
            days_since(inv.created_at, v.now),
        ),
        Row::Open(o) => (
            o.number.clone(),
            o.patient_name.clone(),
            time::date_of(o.issued_at, v.tz).to_string(),
            data.outstanding.currency.format(o.balance),
            o.age_days,
        ),
    };
    let text =
        format!("{number:<11} {:<20} {issued:<10} {amount:>14} {:>6}", ui::fit(&patient, 20), format!("{age} d"));
    Line::from(text)
}

/// A line about the selected row: what its amount is.
fn about_line(r: &Row, data: &Billing, v: &View) -> String {
    match r {
        Row::Draft(inv) => format!(
            "Draft for {}, {} in total, made {}: not yet issued.",
            inv.patient_name,
            inv.currency.format(inv.total),
            time::date_of(inv.created_at, v.tz)
        ),
        Row::Open(o) => format!(
            "{} still owes {} on {} ({} days since issue).",
            o.patient_name,
            data.outstanding.currency.format(o.balance),
            o.number,
            o.age_days
        ),
    }
}

fn draw_cash(cash: &CashReport, f: &mut Frame, area: Rect, v: &View) {
    let t = v.theme;
    let title = format!("Cash-up · {}", time::day(cash.date));
    let w = usize::from(CASH_W) - 10 - 9 - 8;
    let mut lines = vec![Line::from(Span::styled(
        format!("{:<10}{:>9}{:>8}{:>w$}", "Method", "Payments", "Refunds", "Amount"),
        t.title(),
    ))];
    lines.extend(cash.methods.iter().map(|m| {
        Line::from(format!(
            "{:<10}{:>9}{:>8}{:>w$}",
            m.method.as_str(),
            m.payments,
            m.refunds,
            cash.currency.format(m.amount)
        ))
    }));
    let total = format!("{:<27}{:>w$}", "Total", cash.currency.format(cash.total));
    lines.push(Line::from(Span::styled(total, t.title())));
    f.render_widget(Paragraph::new(lines).block(ui::block(title, t)), area);
}
