//! Invoices, credit notes and payments. Money is integers in minor units
//! of the clinic's currency; an issued invoice never changes (a credit
//! note voids it); numbers are taken in the issuing transaction, so they
//! commit consecutively per year on every backend; a payment locks its
//! invoice, so two at once cannot overpay it.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::Date;
use uuid::Uuid;

use healthsynx_shared::api::{
    AgeBucket, CashByMethod, CashQuery, CashReport, InvoicePatch, InvoiceQuery, NewInvoice, NewInvoiceLine, NewPayment,
    NewRefund, OpenBalance, OutstandingReport, VoidInvoice,
};
use healthsynx_shared::value::IdempotencyKey;
use healthsynx_shared::{
    AppointmentStatus, Invoice, InvoiceKind, InvoiceLine, InvoiceStatus, Page, Payment, PaymentKind, PaymentMethod,
};

use super::{Caller, Pager, State, idempotent};
use crate::audit::{Action, Draft};
use crate::error::{Error, Result};
use crate::policy;
use crate::store::{InvoiceLineRow, InvoiceRow, PaymentRow, Txn};

/// Lines an invoice may have.
const MAX_LINES: usize = 100;
/// Characters of a line's description.
const MAX_DESCRIPTION_CHARS: usize = 200;
/// Characters of a payment's reference (a card slip, a transfer id).
const MAX_REFERENCE_CHARS: usize = 100;
/// The largest quantity of a line.
const MAX_QUANTITY: i64 = 10_000;
/// The largest unit amount, minor units (ten million in major units).
const MAX_UNIT_AMOUNT: i64 = 1_000_000_000;
/// The largest tax rate: 100 %.
const MAX_TAX_BP: u32 = 10_000;

fn line_view(st: &State, owner: Uuid, l: &InvoiceLineRow) -> Result<InvoiceLine> {
    Ok(InvoiceLine {
        description: st.sealer.open(&l.description_sealed, owner.as_bytes())?,
        appointment_id: l.appointment_id,
        quantity: l.quantity,
        unit_amount: l.unit_amount,
        tax_rate_bp: l.tax_rate_bp,
        net: l.net(),
        tax: l.tax(),
        total: l.net() + l.tax(),
    })
}

fn payment_view(p: &PaymentRow) -> Payment {
    Payment {
        id: p.id,
        invoice_id: p.invoice_id,
        patient_id: p.patient_id,
        kind: p.kind,
        amount: p.amount,
        currency: p.currency.clone(),
        method: p.method,
        reference: p.reference.clone(),
        refunds: p.refunds,
        refunded: p.refunded,
        received_at: p.received_at,
        received_by: p.received_by,
    }
}

async fn to_invoice(st: &State, row: &InvoiceRow, payments: &[PaymentRow]) -> Result<Invoice> {
    let lines = row.lines.iter().map(|l| line_view(st, row.id, l)).collect::<Result<Vec<_>>>()?;
    let void_reason = match &row.void_reason_sealed {
        Some(s) => Some(st.sealer.open(s, row.id.as_bytes())?),
        None => None,
    };
    Ok(Invoice {
        id: row.id,
        kind: row.kind,
        number: row.number.clone(),
        patient_id: row.patient_id,
        patient_name: st.store.patient_name(row.patient_id).await?,
        status: row.status,
        currency: row.currency.clone(),
        lines,
        subtotal: row.subtotal(),
        tax: row.tax(),
        total: row.total(),
        paid: row.paid,
        balance: row.balance(),
        issued_at: row.issued_at,
        credits: row.credits,
        credited_by: row.credited_by,
        void_reason,
        payments: payments.iter().map(payment_view).collect(),
        created_at: row.created_at,
        version: row.version,
    })
}

/// An invoice as the API shows it, with its payments, read now.
async fn view(st: &State, row: &InvoiceRow) -> Result<Invoice> {
    let payments = st.store.read().await?.payments_of_invoice(row.id).await?;
    to_invoice(st, row, &payments).await
}

fn check_line(i: usize, l: &NewInvoiceLine) -> Result<String> {
    let field = |f: &str| format!("lines[{i}].{f}");
    let description = l.description.trim();
    let chars = description.chars().count();
    if chars == 0 || chars > MAX_DESCRIPTION_CHARS || description.chars().any(char::is_control) {
        return Err(Error::invalid(
            &field("description"),
            format!("must be 1–{MAX_DESCRIPTION_CHARS} characters on one line"),
        ));
    }
    if !(1..=MAX_QUANTITY).contains(&l.quantity) {
        return Err(Error::invalid(&field("quantity"), format!("must be between 1 and {MAX_QUANTITY}")));
    }
    if !(0..=MAX_UNIT_AMOUNT).contains(&l.unit_amount) {
        return Err(Error::invalid(
            &field("unit_amount"),
            format!("must be between 0 and {MAX_UNIT_AMOUNT} (minor units; a correction is a credit note)"),
        ));
    }
    if l.tax_rate_bp > MAX_TAX_BP {
        return Err(Error::invalid(&field("tax_rate_bp"), format!("must be between 0 and {MAX_TAX_BP} basis points")));
    }
    Ok(description.to_owned())
}

/// Checks that `appointment` may be billed to `patient`: a completed
/// visit of theirs. Its type, when it has one, is returned for pricing.
async fn billable(
    st: &State,
    patient: Uuid,
    appointment: Uuid,
    field: &str,
) -> Result<(crate::store::AppointmentRow, Option<healthsynx_shared::AppointmentType>)> {
    let mut r = st.store.read().await?;
    let a = r
        .appointment(appointment)
        .await?
        .filter(|a| a.patient_id == patient)
        .ok_or_else(|| Error::invalid(field, "is not an appointment of this patient"))?;
    if a.status != AppointmentStatus::Completed {
        return Err(Error::invalid(
            field,
            format!("is {}, not completed: only completed visits are billed", a.status.as_str()),
        ));
    }
    let kind = match a.type_id {
        Some(t) => r.appointment_type(t).await?,
        None => None,
    };
    Ok((a, kind))
}

/// The priced line of a completed appointment, from its type.
async fn appointment_line(st: &State, patient: Uuid, appointment: Uuid, field: &str) -> Result<NewInvoiceLine> {
    let (a, kind) = billable(st, patient, appointment, field).await?;
    let kind = kind.ok_or_else(|| {
        Error::invalid(field, "was booked without a type, so it has no price: add it as a line with an amount")
    })?;
    if kind.price.currency != st.config.billing.currency {
        return Err(Error::invalid(
            field,
            format!("is priced in {}, but the clinic bills in {}", kind.price.currency, st.config.billing.currency),
        ));
    }
    let day = a.start.to_zoned(st.config.tz.clone()).date();
    let doctor = st.store.user_name(a.doctor_id).await?;
    Ok(NewInvoiceLine {
        description: format!("{}, {day}, {doctor}", kind.name),
        appointment_id: Some(a.id),
        quantity: 1,
        unit_amount: kind.price.amount.max(0),
        tax_rate_bp: 0,
    })
}

/// The sealed lines of an invoice `id` of `patient`, every line checked
/// and each appointment billed at most once on it.
async fn seal_lines(st: &State, id: Uuid, patient: Uuid, lines: &[NewInvoiceLine]) -> Result<Vec<InvoiceLineRow>> {
    if lines.len() > MAX_LINES {
        return Err(Error::invalid("lines", format!("an invoice has at most {MAX_LINES} lines")));
    }
    let mut seen = Vec::new();
    let mut out = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        let description = check_line(i, l)?;
        if let Some(a) = l.appointment_id {
            let field = format!("lines[{i}].appointment_id");
            if seen.contains(&a) {
                return Err(Error::invalid(&field, "bills the same appointment twice"));
            }
            billable(st, patient, a, &field).await?;
            seen.push(a);
        }
        out.push(InvoiceLineRow {
            description_sealed: st.sealer.seal(&description, id.as_bytes())?,
            appointment_id: l.appointment_id,
            quantity: l.quantity,
            unit_amount: l.unit_amount,
            tax_rate_bp: l.tax_rate_bp,
        });
    }
    Ok(out)
}

async fn priced_lines(st: &State, patient: Uuid, appointments: &[Uuid]) -> Result<Vec<NewInvoiceLine>> {
    let mut out = Vec::with_capacity(appointments.len());
    for (i, a) in appointments.iter().enumerate() {
        out.push(appointment_line(st, patient, *a, &format!("appointment_ids[{i}]")).await?);
    }
    Ok(out)
}

fn no_double_billing(e: Error) -> Error {
    match e {
        Error::Conflict(_) => Error::Conflict("an appointment on this invoice is already billed on another one".into()),
        e => e,
    }
}

/// `POST /api/invoices`: a draft for a patient.
pub async fn create(st: &State, who: &Caller<'_>, req: NewInvoice, key: Option<&IdempotencyKey>) -> Result<Invoice> {
    policy::bill(who.who)?;
    if st.store.read().await?.patient(req.patient_id).await?.is_none() {
        return Err(Error::invalid("patient_id", "is not a patient"));
    }
    let id = Uuid::now_v7();
    let mut wanted = req.lines.clone();
    wanted.extend(priced_lines(st, req.patient_id, &req.appointment_ids).await?);
    let lines = seal_lines(st, id, req.patient_id, &wanted).await?;
    let now = super::now();
    let mut tx = st.store.begin().await?;
    let once = idempotent(&mut tx, who, key, &req, now).await?;
    if let Some(done) = once.replayed {
        let row = tx.invoice(done).await?.ok_or(Error::NotFound)?;
        drop(tx);
        return view(st, &row).await;
    }
    let row = InvoiceRow {
        id,
        kind: InvoiceKind::Invoice,
        number: None,
        patient_id: req.patient_id,
        status: InvoiceStatus::Draft,
        currency: st.config.billing.currency.clone(),
        lines,
        paid: 0,
        issued_at: None,
        credits: None,
        credited_by: None,
        void_reason_sealed: None,
        created_at: now,
        created_by: who.who.user_id(),
        updated_at: now,
        version: 1,
    };
    tx.bill_appointments(id, &row.appointment_ids(), &[]).await.map_err(|e| no_double_billing(e.into()))?;
    tx.put_invoice(&row).await?;
    once.remember(&mut tx, id).await?;
    tx.audit(Draft::new(&who.actor(), Action::InvoiceCreate, "invoice", Some(id)).patient(row.patient_id));
    tx.commit().await?;
    to_invoice(st, &row, &[]).await
}

/// The clinic day `d` as `[start, end)`.
fn day_span(st: &State, d: Date) -> Result<(Timestamp, Timestamp)> {
    let tz = st.config.tz.clone();
    let start = d.to_zoned(tz.clone()).map_err(|_| Error::invalid("date", "is not a day in the clinic's calendar"))?;
    let end = d
        .tomorrow()
        .and_then(|t| t.to_zoned(tz))
        .map_err(|_| Error::invalid("date", "is not a day in the clinic's calendar"))?;
    Ok((start.timestamp(), end.timestamp()))
}

/// `GET /api/invoices?patient_id=&status=&from=&to=`: newest last, a page
/// at a time (a patient sees their own issued ones).
pub async fn list(st: &State, who: &Caller<'_>, q: InvoiceQuery) -> Result<Page<Invoice>> {
    let own = policy::billing_scope(who.who)?;
    let limit = super::limit(q.limit)?;
    let after = super::cursor(q.cursor.as_deref())?;
    if let (Some(from), Some(to)) = (q.from, q.to)
        && to < from
    {
        return Err(Error::invalid("to", "must not be before from"));
    }
    let from = q.from.map(|d| day_span(st, d).map(|s| s.0)).transpose()?;
    let to = q.to.map(|d| day_span(st, d).map(|s| s.1)).transpose()?;
    let patient = match own {
        Some(p) => Some(p),
        None => q.patient_id,
    };
    let wanted = |r: &InvoiceRow| {
        let at = r.issued_at.unwrap_or(r.created_at);
        policy::read_invoice(who.who, r.patient_id, r.status == InvoiceStatus::Draft).is_ok()
            && q.status.is_none_or(|s| r.status == s)
            && from.is_none_or(|f| at >= f)
            && to.is_none_or(|t| at < t)
    };
    let mut pager = Pager::new(after, limit);
    let mut rows = Vec::new();
    loop {
        let batch = st.store.read().await?.invoices(patient, pager.at(), pager.batch()).await?;
        let n = batch.len();
        let mut full = false;
        for (at, row) in batch {
            let keep = wanted(&row);
            if !pager.push(at, keep.then_some(())) {
                full = true;
                break;
            }
            if keep {
                rows.push(row);
            }
        }
        if full || pager.ended(n) {
            break;
        }
    }
    let page = pager.finish();
    let mut items = Vec::with_capacity(rows.len());
    let mut audit = Vec::with_capacity(rows.len());
    for row in &rows {
        items.push(view(st, row).await?);
        audit.push(Draft::new(&who.actor(), Action::InvoiceList, "invoice", Some(row.id)).patient(row.patient_id));
    }
    st.store.append_audit(audit).await?;
    Ok(Page { items, next_cursor: page.next_cursor })
}

async fn readable(st: &State, who: &Caller<'_>, id: Uuid) -> Result<InvoiceRow> {
    policy::billing_scope(who.who)?;
    let row = st.store.read().await?.invoice(id).await?.ok_or(Error::NotFound)?;
    policy::read_invoice(who.who, row.patient_id, row.status == InvoiceStatus::Draft)?;
    Ok(row)
}

/// `GET /api/invoices/{id}`
pub async fn get(st: &State, who: &Caller<'_>, id: Uuid) -> Result<Invoice> {
    let row = readable(st, who, id).await?;
    let inv = view(st, &row).await?;
    st.store
        .append_audit([Draft::new(&who.actor(), Action::InvoiceRead, "invoice", Some(id)).patient(row.patient_id)])
        .await?;
    Ok(inv)
}

/// `GET /api/invoices/{id}.pdf`: the printable invoice.
pub async fn pdf(st: &State, who: &Caller<'_>, id: Uuid) -> Result<Vec<u8>> {
    let row = readable(st, who, id).await?;
    let inv = view(st, &row).await?;
    let credits = match inv.credits {
        Some(c) => st.store.read().await?.invoice(c).await?.and_then(|r| r.number),
        None => None,
    };
    let bytes = super::billing_pdf::render(&inv, credits.as_deref(), &st.config.billing, &st.config.tz);
    st.store
        .append_audit([Draft::new(&who.actor(), Action::InvoicePrint, "invoice", Some(id)).patient(row.patient_id)])
        .await?;
    Ok(bytes)
}

/// An invoice to change: locked, the caller's, and a draft.
async fn draft_to_change(tx: &mut Txn<'_>, id: Uuid) -> Result<InvoiceRow> {
    let row = tx.invoice(id).await?.ok_or(Error::NotFound)?;
    if row.status != InvoiceStatus::Draft {
        return Err(Error::Conflict(format!(
            "the invoice is {}: an issued invoice never changes (void it for a credit note)",
            row.status.as_str()
        )));
    }
    Ok(row)
}

/// `PATCH /api/invoices/{id}` with `If-Match` (drafts only).
pub async fn patch(st: &State, who: &Caller<'_>, id: Uuid, if_match: u64, p: InvoicePatch) -> Result<Invoice> {
    policy::bill(who.who)?;
    let current = st.store.read().await?.invoice(id).await?.ok_or(Error::NotFound)?;
    let mut wanted = match &p.lines {
        Some(lines) => lines.clone(),
        None => current
            .lines
            .iter()
            .map(|l| {
                Ok(NewInvoiceLine {
                    description: st.sealer.open(&l.description_sealed, id.as_bytes())?,
                    appointment_id: l.appointment_id,
                    quantity: l.quantity,
                    unit_amount: l.unit_amount,
                    tax_rate_bp: l.tax_rate_bp,
                })
            })
            .collect::<Result<Vec<_>>>()?,
    };
    wanted.extend(priced_lines(st, current.patient_id, &p.appointment_ids).await?);
    let lines = seal_lines(st, id, current.patient_id, &wanted).await?;
    let mut tx = st.store.begin().await?;
    let old = draft_to_change(&mut tx, id).await?;
    // The lines kept were read before the lock: only as that version.
    if old.version != if_match || old.version != current.version {
        return Err(Error::PreconditionFailed);
    }
    let mut row = old.clone();
    row.lines = lines;
    row.version += 1;
    row.updated_at = super::now();
    let (had, has) = (old.appointment_ids(), row.appointment_ids());
    let added: Vec<Uuid> = has.iter().copied().filter(|a| !had.contains(a)).collect();
    let removed: Vec<Uuid> = had.iter().copied().filter(|a| !has.contains(a)).collect();
    tx.bill_appointments(id, &added, &removed).await.map_err(|e| no_double_billing(e.into()))?;
    tx.put_invoice(&row).await?;
    tx.audit(Draft::new(&who.actor(), Action::InvoiceUpdate, "invoice", Some(id)).patient(row.patient_id));
    tx.commit().await?;
    view(st, &row).await
}

/// The next number of the year `now` falls in (in the clinic's zone).
async fn take_number(st: &State, tx: &mut Txn<'_>, now: Timestamp) -> Result<String> {
    let year = now.to_zoned(st.config.tz.clone()).year();
    let n = tx.next_invoice_number(year).await?;
    Ok(format!("{year}-{n:06}"))
}

/// `POST /api/invoices/{id}/issue` (optional `If-Match`): numbers and freezes a draft.
pub async fn issue(st: &State, who: &Caller<'_>, id: Uuid, if_match: Option<u64>) -> Result<Invoice> {
    policy::bill(who.who)?;
    let now = super::now();
    let mut tx = st.store.begin().await?;
    let mut row = draft_to_change(&mut tx, id).await?;
    if if_match.is_some_and(|v| v != row.version) {
        return Err(Error::PreconditionFailed);
    }
    if row.lines.is_empty() {
        return Err(Error::invalid("lines", "an invoice needs at least one line to be issued"));
    }
    row.number = Some(take_number(st, &mut tx, now).await?);
    row.issued_at = Some(now);
    row.status = if row.total() == 0 { InvoiceStatus::Paid } else { InvoiceStatus::Issued };
    row.version += 1;
    row.updated_at = now;
    tx.put_invoice(&row).await?;
    tx.audit(Draft::new(&who.actor(), Action::InvoiceIssue, "invoice", Some(id)).patient(row.patient_id));
    let told = super::outbox::emit_invoice_issued(&mut *tx, &row, now).await?;
    tx.commit().await?;
    if told {
        super::outbox::wake(st);
    }
    view(st, &row).await
}

/// What `void` made: the credit note of an issued invoice, or the discarded draft.
pub enum Voided {
    CreditNote(Invoice),
    Discarded(Invoice),
}

/// `POST /api/invoices/{id}/void`: an issued invoice gets a credit note
/// (its own number, the lines negated); a draft is discarded and its
/// appointments may be billed again.
pub async fn void(
    st: &State,
    who: &Caller<'_>,
    id: Uuid,
    req: VoidInvoice,
    key: Option<&IdempotencyKey>,
) -> Result<Voided> {
    policy::bill(who.who)?;
    let reason = req.reason.trim();
    if reason.is_empty() {
        return Err(Error::invalid("reason", "say why the invoice is voided"));
    }
    let now = super::now();
    let mut tx = st.store.begin().await?;
    let once = idempotent(&mut tx, who, key, &(id, &req), now).await?;
    if let Some(done) = once.replayed {
        let row = tx.invoice(done).await?.ok_or(Error::NotFound)?;
        drop(tx);
        let inv = view(st, &row).await?;
        return Ok(if row.kind == InvoiceKind::CreditNote { Voided::CreditNote(inv) } else { Voided::Discarded(inv) });
    }
    let mut row = tx.invoice(id).await?.ok_or(Error::NotFound)?;
    match (row.kind, row.status) {
        (InvoiceKind::CreditNote, _) => return Err(Error::Conflict("a credit note cannot be voided".into())),
        (_, InvoiceStatus::Void) => return Err(Error::Conflict("the invoice is already void".into())),
        _ if row.paid != 0 => {
            return Err(Error::Conflict(format!(
                "the invoice has {} paid on it: refund the payments before voiding it",
                row.paid
            )));
        }
        _ => {}
    }
    let draft = row.status == InvoiceStatus::Draft;
    row.status = InvoiceStatus::Void;
    row.void_reason_sealed = Some(st.sealer.seal(reason, id.as_bytes())?);
    row.version += 1;
    row.updated_at = now;
    tx.bill_appointments(id, &[], &row.appointment_ids()).await?;
    let made = if draft {
        tx.put_invoice(&row).await?;
        once.remember(&mut tx, id).await?;
        tx.audit(Draft::new(&who.actor(), Action::InvoiceVoid, "invoice", Some(id)).patient(row.patient_id));
        tx.commit().await?;
        Voided::Discarded(view(st, &row).await?)
    } else {
        let note = credit_note(st, &mut tx, &row, who.who.user_id(), now).await?;
        row.credited_by = Some(note.id);
        tx.put_invoice(&row).await?;
        tx.put_invoice(&note).await?;
        once.remember(&mut tx, note.id).await?;
        tx.audit(Draft::new(&who.actor(), Action::InvoiceVoid, "invoice", Some(id)).patient(row.patient_id));
        tx.audit(Draft::new(&who.actor(), Action::InvoiceIssue, "invoice", Some(note.id)).patient(row.patient_id));
        tx.commit().await?;
        Voided::CreditNote(to_invoice(st, &note, &[]).await?)
    };
    Ok(made)
}

/// The credit note that cancels `invoice`: its lines with the unit
/// amounts negated (so each line's tax negates exactly), numbered now.
async fn credit_note(
    st: &State,
    tx: &mut Txn<'_>,
    invoice: &InvoiceRow,
    by: Uuid,
    now: Timestamp,
) -> Result<InvoiceRow> {
    let id = Uuid::now_v7();
    let mut lines = Vec::with_capacity(invoice.lines.len());
    for l in &invoice.lines {
        let description = st.sealer.open(&l.description_sealed, invoice.id.as_bytes())?;
        lines.push(InvoiceLineRow {
            description_sealed: st.sealer.seal(&description, id.as_bytes())?,
            appointment_id: l.appointment_id,
            quantity: l.quantity,
            unit_amount: -l.unit_amount,
            tax_rate_bp: l.tax_rate_bp,
        });
    }
    Ok(InvoiceRow {
        id,
        kind: InvoiceKind::CreditNote,
        number: Some(take_number(st, tx, now).await?),
        patient_id: invoice.patient_id,
        status: InvoiceStatus::Issued,
        currency: invoice.currency.clone(),
        lines,
        paid: 0,
        issued_at: Some(now),
        credits: Some(invoice.id),
        credited_by: None,
        void_reason_sealed: None,
        created_at: now,
        created_by: by,
        updated_at: now,
        version: 1,
    })
}

/// `POST /api/invoices/{id}/payments`: money taken on an issued invoice,
/// never more than its balance, even when two payments arrive at once.
pub async fn pay(
    st: &State,
    who: &Caller<'_>,
    id: Uuid,
    req: NewPayment,
    key: Option<&IdempotencyKey>,
) -> Result<Payment> {
    policy::bill(who.who)?;
    if req.amount <= 0 {
        return Err(Error::invalid("amount", "must be a positive amount in minor units"));
    }
    let reference = match req.reference.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) if r.chars().count() > MAX_REFERENCE_CHARS || r.chars().any(char::is_control) => {
            return Err(Error::invalid(
                "reference",
                format!("must be at most {MAX_REFERENCE_CHARS} characters on one line"),
            ));
        }
        r => r.map(str::to_owned),
    };
    let now = super::now();
    let mut tx = st.store.begin().await?;
    let once = idempotent(&mut tx, who, key, &(id, &req), now).await?;
    if let Some(done) = once.replayed {
        return Ok(payment_view(&tx.payment(done).await?.ok_or(Error::NotFound)?));
    }
    let mut inv = tx.invoice(id).await?.ok_or(Error::NotFound)?;
    match (inv.kind, inv.status) {
        (InvoiceKind::CreditNote, _) => return Err(Error::Conflict("a credit note takes no payments".into())),
        (_, InvoiceStatus::Draft) => return Err(Error::Conflict("the invoice is a draft: issue it first".into())),
        (_, InvoiceStatus::Void) => return Err(Error::Conflict("the invoice is void".into())),
        (_, InvoiceStatus::Paid) => return Err(Error::Conflict("the invoice is paid in full".into())),
        (_, InvoiceStatus::Issued) => {}
    }
    let balance = inv.balance();
    if req.amount > balance {
        return Err(Error::Conflict(format!("the payment of {} is more than the balance of {balance}", req.amount)));
    }
    let payment = PaymentRow {
        id: Uuid::now_v7(),
        invoice_id: id,
        patient_id: inv.patient_id,
        kind: PaymentKind::Payment,
        amount: req.amount,
        currency: inv.currency.clone(),
        method: req.method,
        reference,
        refunds: None,
        refunded: 0,
        received_at: now,
        received_by: who.who.user_id(),
    };
    inv.paid += req.amount;
    if inv.balance() == 0 {
        inv.status = InvoiceStatus::Paid;
    }
    inv.version += 1;
    inv.updated_at = now;
    tx.put_payment(&payment).await?;
    tx.put_invoice(&inv).await?;
    once.remember(&mut tx, payment.id).await?;
    tx.audit(Draft::new(&who.actor(), Action::PaymentCreate, "payment", Some(payment.id)).patient(inv.patient_id));
    tx.commit().await?;
    Ok(payment_view(&payment))
}

/// `POST /api/payments/{id}/refund`: gives back what is left of a payment
/// (or `amount` of it) by the same method; the invoice owes it again.
pub async fn refund(
    st: &State,
    who: &Caller<'_>,
    id: Uuid,
    req: NewRefund,
    key: Option<&IdempotencyKey>,
) -> Result<Payment> {
    policy::bill(who.who)?;
    let now = super::now();
    let mut tx = st.store.begin().await?;
    let once = idempotent(&mut tx, who, key, &(id, &req), now).await?;
    if let Some(done) = once.replayed {
        return Ok(payment_view(&tx.payment(done).await?.ok_or(Error::NotFound)?));
    }
    // The payment, then its invoice, both locked: two refunds of one
    // payment wait for each other, and the invoice's balance for both.
    let mut paid = tx.payment(id).await?.ok_or(Error::NotFound)?;
    let mut inv = tx.invoice(paid.invoice_id).await?.ok_or(Error::NotFound)?;
    if paid.kind != PaymentKind::Payment {
        return Err(Error::Conflict("a refund cannot be refunded".into()));
    }
    let left = paid.amount - paid.refunded;
    let amount = req.amount.unwrap_or(left);
    if amount <= 0 {
        return Err(Error::invalid("amount", "must be a positive amount in minor units"));
    }
    if left == 0 {
        return Err(Error::Conflict("the payment has been refunded in full".into()));
    }
    if amount > left {
        return Err(Error::Conflict(format!("only {left} of the payment is left to refund")));
    }
    let refund = PaymentRow {
        id: Uuid::now_v7(),
        invoice_id: inv.id,
        patient_id: inv.patient_id,
        kind: PaymentKind::Refund,
        amount: -amount,
        currency: paid.currency.clone(),
        method: paid.method,
        reference: None,
        refunds: Some(paid.id),
        refunded: 0,
        received_at: now,
        received_by: who.who.user_id(),
    };
    paid.refunded += amount;
    inv.paid -= amount;
    if inv.status == InvoiceStatus::Paid && inv.balance() > 0 {
        inv.status = InvoiceStatus::Issued;
    }
    inv.version += 1;
    inv.updated_at = now;
    tx.put_payment(&paid).await?;
    tx.put_payment(&refund).await?;
    tx.put_invoice(&inv).await?;
    once.remember(&mut tx, refund.id).await?;
    tx.audit(Draft::new(&who.actor(), Action::PaymentRefund, "payment", Some(refund.id)).patient(inv.patient_id));
    tx.commit().await?;
    Ok(payment_view(&refund))
}

/// One audit entry per patient whose money a report shows.
async fn audit_report(
    st: &State,
    who: &Caller<'_>,
    action: Action,
    patients: impl Iterator<Item = Uuid>,
) -> Result<()> {
    let mut seen: Vec<Uuid> = patients.collect();
    seen.sort();
    seen.dedup();
    let drafts: Vec<Draft> =
        seen.into_iter().map(|p| Draft::new(&who.actor(), action, "report", None).patient(p)).collect();
    st.store.append_audit(drafts).await?;
    Ok(())
}

/// `GET /api/reports/cash?date=`: the day's payments and refunds by method.
pub async fn cash(st: &State, who: &Caller<'_>, q: CashQuery) -> Result<CashReport> {
    policy::bill(who.who)?;
    let date = q.date.unwrap_or_else(|| super::now().to_zoned(st.config.tz.clone()).date());
    let (from, to) = day_span(st, date)?;
    let rows = st.store.read().await?.payments_received(from, to).await?;
    let mut by: BTreeMap<PaymentMethod, CashByMethod> = PaymentMethod::ALL
        .iter()
        .map(|m| (*m, CashByMethod { method: *m, payments: 0, refunds: 0, amount: 0 }))
        .collect();
    for p in &rows {
        if let Some(line) = by.get_mut(&p.method) {
            match p.kind {
                PaymentKind::Payment => line.payments += 1,
                PaymentKind::Refund => line.refunds += 1,
            }
            line.amount += p.amount;
        }
    }
    audit_report(st, who, Action::ReportCash, rows.iter().map(|p| p.patient_id)).await?;
    let methods: Vec<CashByMethod> = by.into_values().collect();
    Ok(CashReport {
        date,
        currency: st.config.billing.currency.clone(),
        total: methods.iter().map(|m| m.amount).sum(),
        methods,
        payments: rows.iter().map(payment_view).collect(),
    })
}

/// The age bands of the outstanding report, by days since issue.
const AGE_BANDS: [(&str, i64); 4] = [("0-30", 30), ("31-60", 60), ("61-90", 90), (">90", i64::MAX)];

/// `GET /api/reports/outstanding`: open balances by age.
pub async fn outstanding(st: &State, who: &Caller<'_>) -> Result<OutstandingReport> {
    policy::bill(who.who)?;
    let now = super::now();
    let rows = st.store.read().await?.open_invoices().await?;
    let mut buckets: Vec<AgeBucket> =
        AGE_BANDS.iter().map(|(label, _)| AgeBucket { label: (*label).into(), invoices: 0, balance: 0 }).collect();
    let mut invoices = Vec::new();
    for r in rows.iter().filter(|r| r.balance() > 0) {
        let issued_at = r.issued_at.unwrap_or(r.created_at);
        let age_days = now.duration_since(issued_at).as_secs().max(0) / 86_400;
        let band = AGE_BANDS.iter().position(|(_, max)| age_days <= *max).unwrap_or(AGE_BANDS.len() - 1);
        buckets[band].invoices += 1;
        buckets[band].balance += r.balance();
        invoices.push(OpenBalance {
            invoice_id: r.id,
            number: r.number.clone().unwrap_or_default(),
            patient_id: r.patient_id,
            patient_name: st.store.patient_name(r.patient_id).await?,
            issued_at,
            age_days,
            balance: r.balance(),
        });
    }
    invoices.sort_by_key(|i| (i.issued_at, i.invoice_id));
    audit_report(st, who, Action::ReportOutstanding, invoices.iter().map(|i| i.patient_id)).await?;
    Ok(OutstandingReport {
        as_of: now,
        currency: st.config.billing.currency.clone(),
        total: buckets.iter().map(|b| b.balance).sum(),
        buckets,
        invoices,
    })
}
