//! One invoice as a panel: its header, lines, totals and payments. The
//! front desk issues it, takes and refunds payments on it and voids it from here;
//! patients see the same panel with only the PDF key. Also how money is
//! typed in (major units, as on a receipt) and where a PDF is saved.

use std::path::{Path, PathBuf};

use healthsynx_shared::api::{NewPayment, NewRefund};
use healthsynx_shared::value::Currency;
use healthsynx_shared::{Invoice, InvoiceKind, InvoiceStatus, Payment, PaymentKind, PaymentMethod, Problem};
use ratatui::Frame;
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use uuid::Uuid;

use crate::app::{Ctx, Msg, View};
use crate::components::Outcome;
use crate::keys::{self, Binding, Cmd, ENTER, ESC, Keymap, LEFT_RIGHT, LIST, TAB, bind, char, code};
use crate::time;
use crate::ui::{self, Field, Form, Pick};

// ---- money as typed ----

/// `amount` minor units as a plain decimal to edit: `4500` → `45.00`.
/// (Shown money goes through [`Currency::format`]; this is for a field.)
pub fn decimal(amount: i64, digits: u32) -> String {
    let scale = 10u64.pow(digits);
    let abs = amount.unsigned_abs();
    let sign = if amount < 0 { "-" } else { "" };
    match digits {
        0 => format!("{sign}{abs}"),
        d => format!("{sign}{}.{:0w$}", abs / scale, abs % scale, w = d as usize),
    }
}

/// A positive amount typed in major units (`45`, `45.5`, `45.50`), in
/// minor units of `currency`; the error is the sentence to show.
pub fn parse_amount(text: &str, currency: &Currency) -> Result<i64, String> {
    let digits = currency.minor_digits();
    let example = decimal(45 * 10i64.pow(digits), digits);
    let not_a_number = || format!("The amount must be a number like {example}.");
    let text = text.trim();
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let is_digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !is_digits(whole) || !is_digits(frac) {
        return Err(not_a_number());
    }
    if frac.len() > digits as usize {
        return Err(match digits {
            0 => format!("{currency} has no minor unit: type a whole amount like {example}."),
            d => format!("{currency} has {d} decimal places; {text} has {}.", frac.len()),
        });
    }
    let too_large = || format!("{text} is too large an amount.");
    // `45.5` is 45.50: the fraction is padded to the currency's places.
    let frac = format!("{frac:0<w$}", w = digits as usize);
    let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| too_large())? };
    let frac: i64 = if frac.is_empty() { 0 } else { frac.parse().map_err(|_| not_a_number())? };
    let minor = whole.checked_mul(10i64.pow(digits)).and_then(|m| m.checked_add(frac)).ok_or_else(too_large)?;
    if minor == 0 {
        return Err(format!("The amount must be more than {}.", decimal(0, digits)));
    }
    Ok(minor)
}

/// A tax rate in basis points as a percentage: `1900` → `19%`, `750` → `7.5%`.
pub fn tax_percent(bp: u32) -> String {
    match bp % 100 {
        0 => format!("{}%", bp / 100),
        r if r % 10 == 0 => format!("{}.{}%", bp / 100, r / 10),
        r => format!("{}.{r:02}%", bp / 100),
    }
}

pub fn kind_word(k: InvoiceKind) -> &'static str {
    match k {
        InvoiceKind::Invoice => "invoice",
        InvoiceKind::CreditNote => "credit note",
    }
}

/// `2026-000001`, or `draft` before it is issued.
pub fn number(inv: &Invoice) -> &str {
    inv.number.as_deref().unwrap_or("draft")
}

/// The clinic date an invoice was issued on, the year included: it is a document.
pub fn issued_on(inv: &Invoice, v: &View) -> String {
    inv.issued_at.map_or_else(|| "—".to_owned(), |t| time::date_of(t, v.tz).to_string())
}

// ---- the PDF ----

/// `invoice-2026-000001.pdf`, or `invoice-draft-0190a1b2.pdf` for a draft.
pub fn pdf_name(inv: &Invoice) -> String {
    let stem = match &inv.number {
        Some(n) => n.clone(),
        None => format!("draft-{}", &inv.id.simple().to_string()[..8]),
    };
    // The number comes from the server: keep it to a plain file name.
    let stem: String = stem.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    format!("invoice-{stem}.pdf")
}

/// Writes `bytes` to `name` in `dir`; the absolute path written.
pub fn save_pdf(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let path = std::path::absolute(dir.join(name))?;
    std::fs::write(&path, bytes)?;
    Ok(path)
}

/// Fetches `inv`'s PDF; [`report`] saves it in the current directory when it comes.
pub fn fetch_pdf(inv: &Invoice, ctx: &mut Ctx) {
    let (id, name) = (inv.id, pdf_name(inv));
    let client = ctx.client.clone();
    ctx.spawn("fetching the PDF", async move { client.invoice_pdf(id).await }, move |r| {
        Msg::new(InvoiceMsg::Pdf(name, r))
    });
}

// ---- results ----

/// The results of an invoice's tasks.
pub enum InvoiceMsg {
    Loaded(Uuid, Result<Invoice, Problem>),
    Issued(Result<Invoice, Problem>),
    Paid(Result<Payment, Problem>),
    /// The refund (a negative payment) of a payment.
    Refunded(Result<Payment, Problem>),
    /// The credit note of an issued invoice, or the discarded draft.
    Voided(Result<Invoice, Problem>),
    /// The PDF to save under the file name given.
    Pdf(String, Result<Vec<u8>, Problem>),
}

/// Tells the user how a task went (and saves a fetched PDF). `true` for
/// the answer to a change, even a refusal (someone else may have changed
/// the invoice meanwhile), so lists of invoices should reload.
pub fn report(msg: &InvoiceMsg, ctx: &mut Ctx) -> bool {
    match msg {
        InvoiceMsg::Loaded(_, Ok(_)) => return false,
        InvoiceMsg::Loaded(_, Err(p)) => {
            ctx.problem("Could not load the invoice", p);
            return false;
        }
        InvoiceMsg::Pdf(name, r) => {
            // A PDF is a few kilobytes: written here, it is on disk before the message says so.
            match r.as_ref().map(|bytes| save_pdf(Path::new("."), name, bytes)) {
                Ok(Ok(path)) => ctx.info(format!("Saved {}", path.display())),
                Ok(Err(e)) => ctx.error(format!("Could not save {name}: {e}")),
                Err(p) => ctx.problem("Could not fetch the PDF", p),
            }
            return false;
        }
        InvoiceMsg::Issued(Ok(inv)) => ctx.info(format!(
            "Issued invoice {} to {} for {}.",
            number(inv),
            inv.patient_name,
            inv.currency.format(inv.total)
        )),
        InvoiceMsg::Issued(Err(p)) => ctx.problem("Not issued", p),
        InvoiceMsg::Paid(Ok(pay)) => {
            ctx.info(format!("Payment taken: {} by {}.", pay.currency.format(pay.amount), pay.method.as_str()))
        }
        InvoiceMsg::Paid(Err(p)) => ctx.problem("Payment not taken", p),
        InvoiceMsg::Refunded(Ok(r)) => {
            ctx.info(format!("Refunded {} by {}.", r.currency.format(r.amount.abs()), r.method.as_str()))
        }
        InvoiceMsg::Refunded(Err(p)) => ctx.problem("Not refunded", p),
        InvoiceMsg::Voided(Ok(inv)) if inv.kind == InvoiceKind::CreditNote => ctx.info(format!(
            "Voided: credit note {} for {} cancels the invoice.",
            number(inv),
            inv.currency.format(inv.total)
        )),
        InvoiceMsg::Voided(Ok(_)) => ctx.info("Draft discarded: its visits may be billed again."),
        InvoiceMsg::Voided(Err(p)) => ctx.problem("Not voided", p),
    }
    true
}

// ---- the payment form ----

/// Taking a payment: the amount (the balance to start with), the method, a reference.
pub struct PaymentForm {
    /// The amount, then the reference.
    form: Form,
    /// Into [`PaymentMethod::ALL`].
    method: usize,
}

impl PaymentForm {
    pub fn new(balance: i64, currency: &Currency) -> Self {
        let amount = Field::new("Amount").with(decimal(balance, currency.minor_digits()));
        let reference = Field::new("Reference").hint("optional, e.g. the card slip number");
        PaymentForm { form: Form::new(vec![amount, reference]), method: 0 }
    }

    pub fn method(&self) -> PaymentMethod {
        PaymentMethod::ALL[self.method]
    }

    /// ←→ through the methods, round.
    fn step_method(&mut self, key: &KeyEvent) {
        let n = PaymentMethod::ALL.len();
        self.method = if key.code == KeyCode::Left { (self.method + n - 1) % n } else { (self.method + 1) % n };
    }

    /// The payment to send, or why not.
    pub fn request(&self, currency: &Currency) -> Result<NewPayment, String> {
        let amount = parse_amount(self.form.value(0), currency)?;
        let reference = Some(self.form.value(1)).filter(|r| !r.is_empty()).map(str::to_owned);
        Ok(NewPayment { amount, method: self.method(), reference })
    }

    fn lines(&self, inv: &Invoice, busy: bool, v: &View) -> Vec<Line<'static>> {
        let t = v.theme;
        let field = |i: usize| self.form.fields[i].line(t, self.form.focus == i, 9);
        let owed = format!("{} {} owes {}.", kind_word(inv.kind), number(inv), inv.currency.format(inv.balance));
        let methods: Vec<&str> = PaymentMethod::ALL.iter().map(|m| m.as_str()).collect();
        let foot = if busy { "Sending…" } else { "Enter takes the payment; Esc cancels." };
        let mut amount = field(0);
        amount.spans.push(Span::styled(format!(" {}", inv.currency), t.dim()));
        vec![
            Line::from(format!("{}: {}", inv.patient_name, owed)),
            Line::raw(""),
            amount,
            Line::from(vec![
                Span::raw("   Method: "),
                Span::styled(format!("◂ {} ▸", self.method().as_str()), t.focus()),
                Span::styled(format!("  ({})", methods.join(", ")), t.dim()),
            ]),
            field(1),
            Line::raw(""),
            Line::from(Span::styled(foot, t.dim())),
        ]
    }
}

// ---- the panel ----

enum Mode {
    View,
    /// Asking before a draft is numbered and frozen.
    ConfirmIssue,
    Pay(PaymentForm),
    /// Asking before the rest of this payment is given back.
    ConfirmRefund(Payment),
    /// The reason for voiding, as typed.
    Void(Field),
}

/// One invoice, loaded by id or given whole.
pub struct InvoicePanel {
    id: Uuid,
    /// `None` while it loads.
    invoice: Option<Invoice>,
    /// The front desk's panel; a patient's only shows the invoice and saves its PDF.
    writable: bool,
    mode: Mode,
    /// The selected payment, on the front desk's panel.
    payment: Pick,
    /// A change is on its way; one at a time, so a key pressed twice is not sent twice.
    busy: bool,
}

#[derive(Debug, Clone, Copy)]
pub enum Act {
    AskIssue,
    Issue,
    AskPay,
    Method,
    NextField,
    Pay,
    Go,
    AskRefund,
    Refund,
    SavePdf,
    AskVoid,
    Void,
    Back,
    Close,
}

type B = Binding<InvoicePanel, Act>;

/// The loaded invoice, if the panel may change it now.
fn changeable(s: &InvoicePanel) -> Option<&Invoice> {
    s.invoice.as_ref().filter(|_| s.writable && !s.busy)
}

fn may_issue(s: &InvoicePanel) -> bool {
    changeable(s).is_some_and(|i| i.status == InvoiceStatus::Draft)
}

fn may_pay(s: &InvoicePanel) -> bool {
    changeable(s).is_some_and(|i| i.kind == InvoiceKind::Invoice && i.status == InvoiceStatus::Issued && i.balance > 0)
}

/// What is left to refund of a payment: nothing for a refund.
fn refundable(p: &Payment) -> i64 {
    match p.kind {
        PaymentKind::Payment => (p.amount - p.refunded).max(0),
        PaymentKind::Refund => 0,
    }
}

/// The selected payment, on the front desk's panel.
fn selected(s: &InvoicePanel) -> Option<&Payment> {
    s.invoice.as_ref().filter(|_| s.writable).and_then(|i| i.payments.get(s.payment.sel))
}

fn may_refund(s: &InvoicePanel) -> bool {
    changeable(s).is_some() && selected(s).is_some_and(|p| refundable(p) > 0)
}

fn may_void(s: &InvoicePanel) -> bool {
    changeable(s).is_some_and(|i| i.kind != InvoiceKind::CreditNote && i.status != InvoiceStatus::Void)
}

const VIEW: &[B] = &[
    bind(&[char('i')], "i", "issue", Act::AskIssue).when(may_issue),
    bind(&[char('p')], "p", "take payment", Act::AskPay).when(may_pay),
    bind(&[char('r')], "r", "refund", Act::AskRefund).when(may_refund),
    bind(&[char('s')], "s", "save PDF", Act::SavePdf).when(|s| s.invoice.is_some()),
    bind(&[char('v')], "v", "void", Act::AskVoid).when(may_void),
    bind(LIST, "↑↓/jk", "move", Act::Go)
        .when(|s| s.writable && s.invoice.as_ref().is_some_and(|i| i.payments.len() > 1)),
    bind(ESC, "Esc", "back", Act::Close),
];
const CONFIRM_REFUND: &[B] = &[
    bind(&[char('y')], "y", "refund it", Act::Refund),
    bind(&[char('n'), code(KeyCode::Esc)], "n/Esc", "keep it", Act::Back),
];
const CONFIRM_ISSUE: &[B] = &[
    bind(&[char('y')], "y", "issue it", Act::Issue),
    bind(&[char('n'), code(KeyCode::Esc)], "n/Esc", "keep the draft", Act::Back),
];
// Enter and Esc first: the bar at 80 columns keeps them when the rest does not fit.
const PAY: &[B] = &[
    bind(ENTER, "Enter", "take payment", Act::Pay).when(|s| !s.busy),
    bind(ESC, "Esc", "cancel", Act::Back),
    bind(LEFT_RIGHT, "←→", "method", Act::Method),
    bind(TAB, "Tab", "next field", Act::NextField),
];
const VOID: &[B] =
    &[bind(ENTER, "Enter", "void it", Act::Void).when(|s| !s.busy), bind(ESC, "Esc", "keep it", Act::Back)];

impl Keymap for InvoicePanel {
    type Action = Act;

    fn bindings(&self) -> &'static [B] {
        match self.mode {
            Mode::View => VIEW,
            Mode::ConfirmIssue => CONFIRM_ISSUE,
            Mode::ConfirmRefund(_) => CONFIRM_REFUND,
            Mode::Pay(_) => PAY,
            Mode::Void(_) => VOID,
        }
    }

    fn text_field(&self) -> Option<&'static str> {
        match &self.mode {
            Mode::Pay(form) if form.form.focus == 1 => Some("reference"),
            Mode::Pay(_) => Some("amount"),
            Mode::Void(_) => Some("reason"),
            _ => None,
        }
    }
}

impl InvoicePanel {
    /// A panel on an invoice at hand.
    pub fn with(invoice: Invoice, writable: bool) -> Self {
        InvoicePanel {
            id: invoice.id,
            invoice: Some(invoice),
            writable,
            mode: Mode::View,
            payment: Pick::default(),
            busy: false,
        }
    }

    /// A panel that loads invoice `id`.
    pub fn open(id: Uuid, writable: bool, ctx: &mut Ctx) -> Self {
        let panel =
            InvoicePanel { id, invoice: None, writable, mode: Mode::View, payment: Pick::default(), busy: false };
        panel.load(ctx);
        panel
    }

    fn load(&self, ctx: &mut Ctx) {
        let (id, client) = (self.id, ctx.client.clone());
        ctx.spawn("loading the invoice", async move { client.invoice(id).await }, move |r| {
            Msg::new(InvoiceMsg::Loaded(id, r))
        });
    }

    pub fn commands(&self) -> Vec<Cmd> {
        keys::commands(self)
    }

    pub fn typing(&self) -> bool {
        self.text_field().is_some()
    }

    pub fn handle_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> Outcome {
        if let Some(a) = keys::action(self, &key) {
            return self.act(a, &key, ctx);
        }
        match &mut self.mode {
            Mode::Pay(form) => form.form.handle(&key),
            Mode::Void(reason) => reason.handle(&key),
            _ => return Outcome::Ignored,
        };
        Outcome::Open
    }

    fn act(&mut self, a: Act, key: &KeyEvent, ctx: &mut Ctx) -> Outcome {
        match a {
            Act::AskIssue => self.mode = Mode::ConfirmIssue,
            Act::Issue => self.issue(ctx),
            Act::AskPay => {
                if let Some(inv) = &self.invoice {
                    self.mode = Mode::Pay(PaymentForm::new(inv.balance, &inv.currency));
                }
            }
            Act::Method => {
                if let Mode::Pay(form) = &mut self.mode {
                    form.step_method(key);
                }
            }
            Act::NextField => {
                if let Mode::Pay(form) = &mut self.mode {
                    form.form.handle(key);
                }
            }
            Act::Pay => self.pay(ctx),
            Act::Go => {
                let n = self.invoice.as_ref().map_or(0, |i| i.payments.len());
                self.payment.go(key, n);
            }
            Act::AskRefund => {
                if let Some(p) = selected(self) {
                    self.mode = Mode::ConfirmRefund(p.clone());
                }
            }
            Act::Refund => self.refund(ctx),
            Act::SavePdf => {
                if let Some(inv) = &self.invoice {
                    fetch_pdf(inv, ctx);
                }
            }
            Act::AskVoid => self.mode = Mode::Void(Field::new("Reason").hint("e.g. billed to the wrong patient")),
            Act::Void => self.void(ctx),
            Act::Back => self.mode = Mode::View,
            Act::Close => return Outcome::Closed,
        }
        Outcome::Open
    }

    fn issue(&mut self, ctx: &mut Ctx) {
        self.mode = Mode::View;
        self.busy = true;
        let (id, client) = (self.id, ctx.client.clone());
        ctx.spawn("issuing the invoice", async move { client.issue_invoice(id).await }, |r| {
            Msg::new(InvoiceMsg::Issued(r))
        });
    }

    /// Sends the payment form, once what it says parses.
    fn pay(&mut self, ctx: &mut Ctx) {
        let (Mode::Pay(form), Some(inv)) = (&self.mode, &self.invoice) else { return };
        let new = match form.request(&inv.currency) {
            Ok(new) => new,
            Err(e) => return ctx.error(e),
        };
        self.busy = true;
        let (id, client) = (self.id, ctx.client.clone());
        ctx.spawn("taking the payment", async move { client.pay_invoice(id, &new).await }, |r| {
            Msg::new(InvoiceMsg::Paid(r))
        });
    }

    /// Gives back all that is left of the payment asked about.
    fn refund(&mut self, ctx: &mut Ctx) {
        let Mode::ConfirmRefund(p) = std::mem::replace(&mut self.mode, Mode::View) else { return };
        self.busy = true;
        let client = ctx.client.clone();
        ctx.spawn(
            "refunding the payment",
            async move { client.refund_payment(p.id, &NewRefund { amount: None }).await },
            |r| Msg::new(InvoiceMsg::Refunded(r)),
        );
    }

    fn void(&mut self, ctx: &mut Ctx) {
        let Mode::Void(reason) = &self.mode else { return };
        let reason = reason.text().to_owned();
        if reason.is_empty() {
            return ctx.error("Say why it is voided: the reason is kept with the invoice.");
        }
        self.busy = true;
        let (id, client) = (self.id, ctx.client.clone());
        ctx.spawn("voiding the invoice", async move { client.void_invoice(id, &reason).await }, |r| {
            Msg::new(InvoiceMsg::Voided(r))
        });
    }

    /// Takes a result of an invoice task; `true` after a change (see [`report`]).
    pub fn on_msg(&mut self, msg: InvoiceMsg, ctx: &mut Ctx) -> bool {
        match msg {
            InvoiceMsg::Loaded(id, Ok(inv)) => {
                if id == self.id {
                    self.payment.clamp(inv.payments.len());
                    self.invoice = Some(inv);
                }
                false
            }
            InvoiceMsg::Loaded(..) | InvoiceMsg::Pdf(..) => report(&msg, ctx),
            done => {
                self.busy = false;
                let wrote = report(&done, ctx);
                self.after(done, ctx);
                wrote
            }
        }
    }

    /// Shows what a change made of this invoice; a refusal leaves the form as typed.
    fn after(&mut self, done: InvoiceMsg, ctx: &mut Ctx) {
        match done {
            InvoiceMsg::Issued(Ok(inv)) if inv.id == self.id => self.invoice = Some(inv),
            InvoiceMsg::Paid(Ok(p)) | InvoiceMsg::Refunded(Ok(p)) if p.invoice_id == self.id => {
                self.mode = Mode::View;
                self.load(ctx);
            }
            // A discarded draft comes back itself, void.
            InvoiceMsg::Voided(Ok(inv)) if inv.id == self.id => {
                self.mode = Mode::View;
                self.invoice = Some(inv);
            }
            // A credit note: this invoice is now void.
            InvoiceMsg::Voided(Ok(note)) if note.credits == Some(self.id) => {
                self.mode = Mode::View;
                self.load(ctx);
            }
            _ => {}
        }
    }

    pub fn draw(&self, f: &mut Frame, area: Rect, v: &View) {
        let t = v.theme;
        let width = PANEL_W.min(area.width);
        let Some(inv) = &self.invoice else {
            let lines = vec![Line::from(Span::styled("Loading the invoice…", t.dim()))];
            return ui::draw_popup(f, area, "Invoice", lines, width, t);
        };
        let pick = self.writable.then_some(self.payment.sel);
        let mut lines = invoice_lines(inv, usize::from(width.saturating_sub(2)), pick, v);
        if let Some(hint) = self.hint(inv) {
            lines.push(Line::raw(""));
            lines.push(Line::from(Span::styled(hint, t.dim())));
        }
        ui::draw_popup(f, area, &title(inv), lines, width, t);
        self.draw_mode(inv, f, area, v);
    }

    fn draw_mode(&self, inv: &Invoice, f: &mut Frame, area: Rect, v: &View) {
        let t = v.theme;
        let total = inv.currency.format(inv.total);
        match &self.mode {
            Mode::View => {}
            Mode::ConfirmIssue => {
                let lines = vec![
                    Line::from(format!("Issue this draft to {} for {total}?", inv.patient_name)),
                    Line::from("It gets the next number and can no longer be changed."),
                    Line::from(Span::styled("y issues it; n or Esc keeps the draft.", t.dim())),
                ];
                ui::draw_popup(f, area, "Issue the invoice", lines, DIALOG_W, t);
            }
            Mode::ConfirmRefund(p) => {
                let left = p.currency.format(refundable(p));
                let lines = vec![
                    Line::from(format!("Refund {left} by {}? y/n", p.method.as_str())),
                    Line::from("The money goes back to the patient; the invoice owes it again."),
                    Line::from(Span::styled("y refunds it; n or Esc keeps the payment.", t.dim())),
                ];
                ui::draw_popup(f, area, "Refund the payment", lines, DIALOG_W, t);
            }
            Mode::Pay(form) => ui::draw_popup(f, area, "Take a payment", form.lines(inv, self.busy, v), DIALOG_W, t),
            Mode::Void(reason) => {
                let what = match inv.status {
                    InvoiceStatus::Draft => "Discard this draft? Its visits may then be billed again.".to_owned(),
                    _ => format!("Void invoice {}? A credit note for -{total} cancels it.", number(inv)),
                };
                let foot = if self.busy { "Sending…" } else { "Enter voids it; Esc keeps it." };
                let lines = vec![Line::from(what), reason.line(t, true, 6), Line::from(Span::styled(foot, t.dim()))];
                ui::draw_popup(f, area, "Void", lines, DIALOG_W, t);
            }
        }
    }

    /// A line under the invoice about what can be done with it.
    fn hint(&self, inv: &Invoice) -> Option<&'static str> {
        if self.busy {
            return Some("Sending…");
        }
        if !self.writable {
            return Some("s saves it as a PDF in the current directory.");
        }
        match inv.status {
            InvoiceStatus::Draft => Some("A draft: i issues it (it is numbered and never changes again)."),
            InvoiceStatus::Issued if inv.balance > 0 => Some("p takes a payment; v voids it with a credit note."),
            InvoiceStatus::Paid if may_refund(self) => Some("r refunds the selected payment; then v voids it."),
            _ => None,
        }
    }
}

/// The panel's width at most: the lines' columns fit in it.
const PANEL_W: u16 = 80;
/// A dialog over the panel: as wide as its inside, so no cut-off columns show beside it.
const DIALOG_W: u16 = PANEL_W - 2;
/// Quantity, unit, tax and amount columns.
const AMOUNTS_W: usize = 5 + 14 + 7 + 14;

fn title(inv: &Invoice) -> String {
    match (&inv.number, inv.kind) {
        (None, _) => "Draft invoice".to_owned(),
        (Some(n), InvoiceKind::Invoice) => format!("Invoice {n}"),
        (Some(n), InvoiceKind::CreditNote) => format!("Credit note {n}"),
    }
}

/// An invoice to read, `width` columns wide: header, lines, totals,
/// payments (marked `›` at `pick`, if they can be picked).
pub fn invoice_lines(inv: &Invoice, width: usize, pick: Option<usize>, v: &View) -> Vec<Line<'static>> {
    let t = v.theme;
    let cur = &inv.currency;
    let half = width / 2;
    let pair = |a: String, b: String| Line::from(format!("{:<half$}{b}", ui::fit(&a, half.saturating_sub(1))));
    let mut lines = vec![
        pair(format!("Patient: {}", inv.patient_name), format!("Status: {}", inv.status.as_str())),
        pair(format!("Issued:  {}", issued_on(inv, v)), format!("Kind:   {}", kind_word(inv.kind))),
    ];
    if let Some(reason) = &inv.void_reason {
        lines.push(Line::from(format!("Voided:  {reason}")));
    }
    lines.push(Line::raw(""));
    let desc_w = width.saturating_sub(AMOUNTS_W).max(12);
    let heading = format!("{:<desc_w$}{:>5}{:>14}{:>7}{:>14}", "Description", "Qty", "Unit", "Tax", "Amount");
    lines.push(Line::from(Span::styled(heading, t.title())));
    lines.extend(inv.lines.iter().map(|l| {
        Line::from(format!(
            "{:<desc_w$}{:>5}{:>14}{:>7}{:>14}",
            ui::fit(&l.description, desc_w - 1),
            l.quantity,
            cur.format(l.unit_amount),
            tax_percent(l.tax_rate_bp),
            cur.format(l.net)
        ))
    }));
    if inv.lines.is_empty() {
        lines.push(Line::from(Span::styled("No lines yet.", t.dim())));
    }
    lines.push(Line::raw(""));
    // Right-aligned under the amounts.
    let label_w = desc_w + AMOUNTS_W - 14;
    let sum = |label: &str, amount: i64| format!("{label:>label_w$}{:>14}", cur.format(amount));
    lines.push(Line::from(sum("Subtotal", inv.subtotal)));
    lines.push(Line::from(sum("Tax", inv.tax)));
    lines.push(Line::from(sum("Total", inv.total)));
    lines.push(Line::from(sum("Paid", inv.paid)));
    lines.push(Line::from(Span::styled(sum("Balance", inv.balance), t.title())));
    lines.push(Line::raw(""));
    lines.push(Line::from(Span::styled(format!("Payments ({})", inv.payments.len()), t.title())));
    lines.extend(inv.payments.iter().enumerate().map(|(i, p)| {
        let text = payment_text(p, v);
        match pick {
            None => Line::from(text),
            Some(sel) if sel == i => Line::from(Span::styled(format!("› {text}"), t.selected())),
            Some(_) => Line::from(format!("  {text}")),
        }
    }));
    if inv.payments.is_empty() {
        lines.push(Line::from(Span::styled("None yet.", t.dim())));
    }
    lines
}

fn payment_text(p: &Payment, v: &View) -> String {
    let what = match p.kind {
        PaymentKind::Payment => p.method.as_str().to_owned(),
        PaymentKind::Refund => format!("refund, {}", p.method.as_str()),
    };
    let mut text = format!("{}  {:<16}{:>14}", time::full(p.received_at, v.tz), what, p.currency.format(p.amount));
    if p.refunded > 0 {
        text.push_str(&format!("  refunded {}", p.currency.format(p.refunded)));
    }
    if let Some(r) = &p.reference {
        text.push_str(&format!("  {}", ui::fit(r, 24)));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        Currency::parse("EUR").unwrap()
    }

    #[test]
    fn amounts_are_typed_in_major_units_with_the_currencys_places() {
        assert_eq!(parse_amount("45.00", &eur()), Ok(4500));
        assert_eq!(parse_amount(" 45 ", &eur()), Ok(4500));
        assert_eq!(parse_amount("45.5", &eur()), Ok(4550));
        assert_eq!(parse_amount(".05", &eur()), Ok(5));
        assert_eq!(parse_amount("12.345", &eur()), Err("EUR has 2 decimal places; 12.345 has 3.".into()));
        assert_eq!(parse_amount("abc", &eur()), Err("The amount must be a number like 45.00.".into()));
        assert_eq!(parse_amount("-5", &eur()), Err("The amount must be a number like 45.00.".into()));
        assert_eq!(parse_amount("", &eur()), Err("The amount must be a number like 45.00.".into()));
        assert_eq!(parse_amount("0.00", &eur()), Err("The amount must be more than 0.00.".into()));
        assert!(parse_amount("99999999999999999999", &eur()).unwrap_err().contains("too large"));
        let yen = Currency::parse("JPY").unwrap();
        assert_eq!(parse_amount("1500", &yen), Ok(1500));
        assert!(parse_amount("1500.5", &yen).unwrap_err().contains("no minor unit"));
        let dinar = Currency::parse("KWD").unwrap();
        assert_eq!(parse_amount("1.234", &dinar), Ok(1234));
        assert_eq!(decimal(4500, 2), "45.00");
        assert_eq!(decimal(1234, 3), "1.234");
        assert_eq!(decimal(1500, 0), "1500");
        assert_eq!(decimal(-5, 2), "-0.05");
    }

    #[test]
    fn tax_rates_read_as_percentages() {
        assert_eq!(tax_percent(1900), "19%");
        assert_eq!(tax_percent(750), "7.5%");
        assert_eq!(tax_percent(1925), "19.25%");
        assert_eq!(tax_percent(0), "0%");
    }

    #[test]
    fn a_pdf_is_named_by_its_number_and_written_where_asked() {
        let dir = std::env::temp_dir().join(format!("hsx-pdf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = save_pdf(&dir, "invoice-2026-000001.pdf", b"%PDF-1.4").unwrap();
        assert!(path.is_absolute() && path.ends_with("invoice-2026-000001.pdf"), "{}", path.display());
        assert_eq!(std::fs::read(&path).unwrap(), b"%PDF-1.4");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
