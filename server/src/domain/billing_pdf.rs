//! The printable invoice: an A4 PDF in Helvetica, one of the fonts every
//! PDF reader has, so nothing is embedded or fetched. Text is written in
//! WinAnsi (Latin-1 and the euro sign); other characters print as `?`.

use jiff::tz::TimeZone;
use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};

use healthsynx_shared::{Invoice, InvoiceKind, InvoiceStatus, PaymentKind};

use crate::config::Billing;

const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const MARGIN: f32 = 56.0;
const RIGHT: f32 = PAGE_W - MARGIN;
const BOTTOM: f32 = 72.0;
const REGULAR: Name<'static> = Name(b"F1");
const BOLD: Name<'static> = Name(b"F2");

/// A character in WinAnsiEncoding.
fn win_ansi(c: char) -> u8 {
    match c {
        ' '..='~' => c as u8,
        '\u{a0}'..='\u{ff}' => c as u32 as u8,
        '€' => 0x80,
        '–' => 0x96,
        '—' => 0x97,
        '‘' => 0x91,
        '’' => 0x92,
        '“' => 0x93,
        '”' => 0x94,
        '•' => 0x95,
        _ => b'?',
    }
}

/// Helvetica advance widths (per 1000 em) of what amounts are made of;
/// enough to right-align numbers.
fn width(text: &str, size: f32) -> f32 {
    let units: u32 = text
        .chars()
        .map(|c| match c {
            '0'..='9' => 556,
            '.' | ',' | ' ' => 278,
            '-' => 333,
            'I' => 278,
            'M' | 'W' => 833,
            'A'..='Z' => 700,
            'a'..='z' => 520,
            _ => 556,
        })
        .sum();
    units as f32 * size / 1000.0
}

/// Pages of text, written top to bottom.
struct Writer {
    pages: Vec<Content>,
    y: f32,
}

impl Writer {
    fn new() -> Self {
        Writer { pages: vec![Content::new()], y: PAGE_H - MARGIN }
    }

    fn page(&mut self) -> &mut Content {
        self.pages.last_mut().expect("a writer has a page")
    }

    /// Moves down `by`, starting a new page when the bottom is near.
    fn down(&mut self, by: f32) {
        self.y -= by;
        if self.y < BOTTOM {
            self.pages.push(Content::new());
            self.y = PAGE_H - MARGIN - by;
        }
    }

    fn text(&mut self, x: f32, font: Name<'static>, size: f32, text: &str) {
        let bytes: Vec<u8> = text.chars().map(win_ansi).collect();
        let y = self.y;
        let c = self.page();
        c.begin_text();
        c.set_font(font, size);
        c.next_line(x, y);
        c.show(Str(&bytes));
        c.end_text();
    }

    fn right(&mut self, right_edge: f32, font: Name<'static>, size: f32, text: &str) {
        self.text(right_edge - width(text, size), font, size, text);
    }

    fn rule(&mut self) {
        let y = self.y - 4.0;
        let c = self.page();
        c.set_line_width(0.5);
        c.move_to(MARGIN, y);
        c.line_to(RIGHT, y);
        c.stroke();
    }
}

fn title(inv: &Invoice) -> String {
    let number = inv.number.as_deref().unwrap_or("");
    match (inv.kind, inv.status) {
        (InvoiceKind::CreditNote, _) => format!("Credit note {number}"),
        (_, InvoiceStatus::Draft) => "Draft invoice (not issued, no number yet)".to_owned(),
        (_, InvoiceStatus::Void) => format!("Invoice {number} (VOID)"),
        _ => format!("Invoice {number}"),
    }
}

/// The PDF of `inv`; `credits` is the number of the invoice a credit note cancels.
pub fn render(inv: &Invoice, credits: Option<&str>, clinic: &Billing, tz: &TimeZone) -> Vec<u8> {
    let money = |a: i64| inv.currency.format(a);
    let day = |t: jiff::Timestamp| t.to_zoned(tz.clone()).date().to_string();
    let mut w = Writer::new();
    w.text(MARGIN, BOLD, 16.0, &clinic.clinic_name);
    for line in &clinic.clinic_address {
        w.down(13.0);
        w.text(MARGIN, REGULAR, 10.0, line);
    }
    w.down(36.0);
    w.text(MARGIN, BOLD, 14.0, &title(inv));
    w.down(20.0);
    w.text(MARGIN, REGULAR, 10.0, &format!("Patient: {}", inv.patient_name));
    w.down(13.0);
    w.text(MARGIN, REGULAR, 10.0, &format!("Patient id: {}", inv.patient_id));
    if let Some(at) = inv.issued_at {
        w.down(13.0);
        w.text(MARGIN, REGULAR, 10.0, &format!("Date of issue: {}", day(at)));
    }
    if let Some(n) = credits {
        w.down(13.0);
        w.text(MARGIN, REGULAR, 10.0, &format!("Cancels invoice {n}"));
    }
    w.down(28.0);
    let cols = [(RIGHT - 250.0, "Qty"), (RIGHT - 170.0, "Unit price"), (RIGHT - 95.0, "Tax"), (RIGHT, "Amount")];
    w.text(MARGIN, BOLD, 10.0, "Description");
    for (x, h) in cols {
        w.right(x, BOLD, 10.0, h);
    }
    w.rule();
    for l in &inv.lines {
        w.down(16.0);
        let description: String = l.description.chars().take(48).collect();
        w.text(MARGIN, REGULAR, 10.0, &description);
        w.right(cols[0].0, REGULAR, 10.0, &l.quantity.to_string());
        w.right(cols[1].0, REGULAR, 10.0, &money(l.unit_amount));
        let rate = format!("{}.{:02} %", l.tax_rate_bp / 100, l.tax_rate_bp % 100);
        w.right(cols[2].0, REGULAR, 10.0, &rate);
        w.right(cols[3].0, REGULAR, 10.0, &money(l.net));
    }
    w.rule();
    w.down(22.0);
    let mut totals = vec![("Subtotal", inv.subtotal), ("Tax", inv.tax), ("Total", inv.total)];
    if inv.kind == InvoiceKind::Invoice && inv.status != InvoiceStatus::Draft {
        totals.push(("Paid", inv.paid));
        totals.push(("Balance due", inv.balance));
    }
    for (label, amount) in totals {
        let font = if label == "Total" || label == "Balance due" { BOLD } else { REGULAR };
        w.right(RIGHT - 120.0, font, 10.0, label);
        w.right(RIGHT, font, 10.0, &money(amount));
        w.down(14.0);
    }
    if !inv.payments.is_empty() {
        w.down(14.0);
        w.text(MARGIN, BOLD, 10.0, "Payments");
        for p in &inv.payments {
            w.down(14.0);
            let what = match p.kind {
                PaymentKind::Payment => "payment",
                PaymentKind::Refund => "refund",
            };
            w.text(MARGIN, REGULAR, 10.0, &format!("{}  {} by {}", day(p.received_at), what, p.method.as_str()));
            w.right(RIGHT, REGULAR, 10.0, &money(p.amount));
        }
    }
    if let Some(reason) = &inv.void_reason {
        w.down(24.0);
        let reason: String = reason.chars().take(90).collect();
        w.text(MARGIN, REGULAR, 10.0, &format!("Voided: {reason}"));
    }
    finish(w.pages)
}

/// The document around the pages' content.
fn finish(pages: Vec<Content>) -> Vec<u8> {
    let catalog = Ref::new(1);
    let tree = Ref::new(2);
    let regular = Ref::new(3);
    let bold = Ref::new(4);
    let first_page = 5;
    let page_ids: Vec<Ref> = (0..pages.len()).map(|i| Ref::new(first_page + 2 * i as i32)).collect();
    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree).kids(page_ids.iter().copied()).count(pages.len() as i32);
    pdf.type1_font(regular).base_font(Name(b"Helvetica")).encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold).base_font(Name(b"Helvetica-Bold")).encoding_predefined(Name(b"WinAnsiEncoding"));
    for (content, page_id) in pages.into_iter().zip(&page_ids) {
        let content_id = Ref::new(page_id.get() + 1);
        let mut page = pdf.page(*page_id);
        page.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H));
        page.parent(tree);
        page.contents(content_id);
        let mut resources = page.resources();
        resources.fonts().pair(REGULAR, regular).pair(BOLD, bold);
        resources.finish();
        page.finish();
        pdf.stream(content_id, &content.finish());
    }
    pdf.finish()
}
