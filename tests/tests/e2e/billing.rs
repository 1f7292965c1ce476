//! Billing: drafts from completed visits, gapless numbers under any
//! concurrency, frozen issued invoices, credit notes, payments that can
//! never overpay, exact integer rounding, the printable PDF and who may see what.

use std::collections::BTreeSet;

use healthsynx_tests::shared::api::{
    InvoicePatch, InvoiceQuery, NewAppointmentType, NewInvoice, NewInvoiceLine, NewPayment, NewRefund, PageQuery,
    RouteId,
};
use healthsynx_tests::shared::client::Client;
use healthsynx_tests::shared::{
    AppointmentStatus, Invoice, InvoiceKind, InvoiceStatus, Money, PaymentKind, PaymentMethod,
};
use healthsynx_tests::{Clinic, TestApp};
use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;

use crate::support::{code, put_visit, send_json, status};

fn line(description: &str, quantity: i64, unit_amount: i64, tax_rate_bp: u32) -> NewInvoiceLine {
    NewInvoiceLine { description: description.into(), appointment_id: None, quantity, unit_amount, tax_rate_bp }
}

fn draft_of(patient: Uuid, lines: Vec<NewInvoiceLine>) -> NewInvoice {
    NewInvoice { patient_id: patient, appointment_ids: vec![], lines }
}

fn pay(amount: i64, method: PaymentMethod) -> NewPayment {
    NewPayment { amount, method, reference: None }
}

/// A cardiology type priced `cents` EUR.
async fn priced_type(clinic: &Clinic, name: &str, cents: i64) -> Uuid {
    let t = NewAppointmentType {
        department: "cardiology".parse().unwrap(),
        name: name.into(),
        minutes: 30,
        buffer_before: 0,
        buffer_after: 0,
        price: Money { amount: cents, currency: "EUR".parse().unwrap() },
        patient_bookable: true,
        resource_kind: None,
    };
    clinic.admin.client.create_appointment_type(&t).await.unwrap().id
}

/// A past visit of `patient` with the cardiology doctor, with `status`
/// (booking refuses the past). Each an hour apart, so no two overlap
/// (PostgreSQL refuses that).
async fn past_visit(
    app: &TestApp,
    clinic: &Clinic,
    patient: Uuid,
    kind: Option<Uuid>,
    status: AppointmentStatus,
) -> Uuid {
    static VISITS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
    let hours = 30 + VISITS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let start = Timestamp::from_second(Timestamp::now().as_second()).unwrap() - SignedDuration::from_hours(hours);
    put_visit(app, clinic, patient, (start, SignedDuration::from_mins(30)), status, kind).await
}

/// An issued invoice of one line of `cents` (no tax) for `patient`.
async fn issued(desk: &Client, patient: Uuid, cents: i64) -> Invoice {
    let d = desk.create_invoice(&draft_of(patient, vec![line("Certificate", 1, cents, 0)])).await.unwrap();
    desk.issue_invoice(d.id).await.unwrap()
}

fn year_now() -> i16 {
    Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).year()
}

fn sequence_of(number: &str) -> u32 {
    let (year, n) = number.split_once('-').expect("YYYY-NNNNNN");
    assert_eq!(year.parse::<i16>().unwrap(), year_now(), "{number}");
    assert_eq!(n.len(), 6, "{number}");
    n.parse().unwrap()
}

#[tokio::test]
async fn a_completed_visit_is_billed_issued_frozen_and_paid_down_to_zero() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let (desk, pid) = (&clinic.reception.client, clinic.patient.patient_id);
    let kind = priced_type(&clinic, "Consultation", 4500).await;
    let visit = past_visit(&app, &clinic, pid, Some(kind), AppointmentStatus::Completed).await;

    let new =
        NewInvoice { patient_id: pid, appointment_ids: vec![visit], lines: vec![line("ECG strip copy", 3, 333, 1900)] };
    let d = desk.create_invoice(&new).await.unwrap();
    assert_eq!((d.status, d.number.as_deref(), d.currency.as_str()), (InvoiceStatus::Draft, None, "EUR"));
    assert_eq!(d.lines.len(), 2);
    let visit_line = d.lines.iter().find(|l| l.appointment_id == Some(visit)).unwrap();
    assert!(visit_line.description.starts_with("Consultation, "), "{}", visit_line.description);
    assert_eq!((visit_line.unit_amount, visit_line.total), (4500, 4500));
    // 3 × 3.33 = 9.99; 19 % of it is 1.8981, rounded to 1.90.
    assert_eq!((d.subtotal, d.tax, d.total), (4500 + 999, 190, 4500 + 999 + 190));

    // The same visit cannot be billed twice while this draft lives.
    let twice = NewInvoice { patient_id: pid, appointment_ids: vec![visit], lines: vec![] };
    assert_eq!(status(desk.create_invoice(&twice).await, "bill the visit twice"), 409);
    // A visit not completed, or another patient's, is not billable.
    let booked = past_visit(&app, &clinic, pid, Some(kind), AppointmentStatus::Scheduled).await;
    let theirs = past_visit(&app, &clinic, clinic.patient2.patient_id, Some(kind), AppointmentStatus::Completed).await;
    for bad in [booked, theirs] {
        let p = desk.create_invoice(&NewInvoice { appointment_ids: vec![bad], ..twice.clone() }).await.unwrap_err();
        assert_eq!((p.status, p.errors[0].field.as_str()), (422, "appointment_ids[0]"), "{p:?}");
    }

    // Drafts change with If-Match; a stale version is 412.
    let patch = InvoicePatch { lines: Some(vec![line("Consultation", 1, 4000, 0)]), appointment_ids: vec![] };
    assert_eq!(status(desk.patch_invoice(d.id, d.version + 7, &patch).await, "stale"), 412);
    let d = desk.patch_invoice(d.id, d.version, &patch).await.unwrap();
    assert_eq!((d.lines.len(), d.total), (1, 4000));
    // Dropping the visit's line released it: another draft may bill it now.
    let other = desk.create_invoice(&twice).await.unwrap();
    assert_eq!(other.total, 4500);
    desk.void_invoice(other.id, "made by mistake").await.unwrap();
    let d =
        desk.patch_invoice(d.id, d.version, &InvoicePatch { lines: None, appointment_ids: vec![visit] }).await.unwrap();
    assert_eq!(d.total, 8500);

    // Issuing numbers and freezes it.
    let i = desk.issue_invoice(d.id).await.unwrap();
    assert_eq!((i.status, i.balance, i.issued_at.is_some()), (InvoiceStatus::Issued, 8500, true));
    sequence_of(i.number.as_deref().unwrap());
    assert_eq!(status(desk.patch_invoice(i.id, i.version, &patch).await, "patch issued"), 409);
    assert_eq!(status(desk.issue_invoice(i.id).await, "issue twice"), 409);

    // Payments bring the balance down; one beyond it is refused and changes nothing.
    let first = desk.pay_invoice(i.id, &pay(3000, PaymentMethod::Card)).await.unwrap();
    assert_eq!((first.kind, first.amount, first.method), (PaymentKind::Payment, 3000, PaymentMethod::Card));
    assert_eq!(status(desk.pay_invoice(i.id, &pay(5501, PaymentMethod::Cash)).await, "overpay"), 409);
    assert_eq!(status(desk.pay_invoice(i.id, &pay(0, PaymentMethod::Cash)).await, "zero"), 422);
    let now = desk.invoice(i.id).await.unwrap();
    assert_eq!((now.paid, now.balance, now.status), (3000, 5500, InvoiceStatus::Issued));
    let outstanding = desk.outstanding_report().await.unwrap();
    assert_eq!(outstanding.total, 5500);
    assert_eq!(outstanding.buckets[0].label, "0-30");
    assert_eq!((outstanding.buckets[0].invoices, outstanding.buckets[0].balance), (1, 5500));
    desk.pay_invoice(i.id, &pay(5500, PaymentMethod::Cash)).await.unwrap();
    let paid = desk.invoice(i.id).await.unwrap();
    assert_eq!((paid.status, paid.balance, paid.payments.len()), (InvoiceStatus::Paid, 0, 2));
    assert_eq!(status(desk.pay_invoice(i.id, &pay(1, PaymentMethod::Cash)).await, "pay a paid one"), 409);
    assert_eq!(desk.outstanding_report().await.unwrap().total, 0);

    // A refund: the invoice owes it again; more than is left is refused.
    let back = desk.refund_payment(first.id, &NewRefund { amount: Some(1000) }).await.unwrap();
    assert_eq!((back.kind, back.amount, back.refunds), (PaymentKind::Refund, -1000, Some(first.id)));
    assert_eq!(status(desk.refund_payment(first.id, &NewRefund { amount: Some(2001) }).await, "over-refund"), 409);
    assert_eq!(status(desk.refund_payment(back.id, &NewRefund::default()).await, "refund a refund"), 409);
    let again = desk.invoice(i.id).await.unwrap();
    assert_eq!((again.status, again.balance), (InvoiceStatus::Issued, 1000));

    // The day's cash-up: card 30.00 less 10.00, cash 55.00.
    let cash = desk.cash_report(None).await.unwrap();
    let by = |m: PaymentMethod| cash.methods.iter().find(|l| l.method == m).unwrap().clone();
    assert_eq!(
        (by(PaymentMethod::Card).payments, by(PaymentMethod::Card).refunds, by(PaymentMethod::Card).amount),
        (1, 1, 2000)
    );
    assert_eq!(by(PaymentMethod::Cash).amount, 5500);
    assert_eq!((by(PaymentMethod::Insurance).amount, cash.total, cash.payments.len()), (0, 7500, 3));
    let yesterday = desk.cash_report(Some(jiff::Zoned::now().date().yesterday().unwrap())).await.unwrap();
    assert_eq!((yesterday.total, yesterday.payments.len()), (0, 0));
}

#[tokio::test]
async fn a_hundred_concurrent_issues_take_the_numbers_one_to_a_hundred() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let desk = clinic.reception.client.clone();
    let pid = clinic.patient.patient_id;
    let mut drafts = Vec::new();
    for i in 0..100 {
        drafts.push(desk.create_invoice(&draft_of(pid, vec![line("Report", 1, 100 + i, 0)])).await.unwrap().id);
    }
    let tasks: Vec<_> = drafts
        .iter()
        .map(|id| {
            let (desk, id) = (desk.clone(), *id);
            tokio::spawn(async move { desk.issue_invoice(id).await })
        })
        .collect();
    let mut numbers = Vec::new();
    for t in tasks {
        numbers.push(sequence_of(&t.await.unwrap().expect("every issue succeeds").number.unwrap()));
    }
    numbers.sort();
    assert_eq!(numbers, (1..=100).collect::<Vec<u32>>(), "no gap, no duplicate");
    // The next one goes on from there.
    let next = issued(&desk, pid, 100).await;
    assert_eq!(sequence_of(next.number.as_deref().unwrap()), 101);
}

#[tokio::test]
async fn two_payments_that_together_overpay_cannot_both_succeed() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let desk = clinic.reception.client.clone();
    let admin = clinic.admin.client.clone();
    for round in 0..8 {
        let inv = issued(&desk, clinic.patient.patient_id, 100).await;
        let a = tokio::spawn({
            let desk = desk.clone();
            async move { desk.pay_invoice(inv.id, &pay(60, PaymentMethod::Cash)).await }
        });
        let b = tokio::spawn({
            let admin = admin.clone();
            async move { admin.pay_invoice(inv.id, &pay(60, PaymentMethod::Card)).await }
        });
        let results = [a.await.unwrap(), b.await.unwrap()];
        let codes: BTreeSet<u16> =
            results.iter().map(|r| r.as_ref().map(|_| 201).unwrap_or_else(|p| p.status)).collect();
        assert_eq!(codes, BTreeSet::from([201, 409]), "round {round}: {results:?}");
        let after = desk.invoice(inv.id).await.unwrap();
        assert_eq!((after.paid, after.balance, after.payments.len()), (60, 40, 1), "round {round}");
    }
}

#[tokio::test]
async fn voiding_issues_a_credit_note_that_cancels_the_invoice() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let (desk, pid) = (&clinic.reception.client, clinic.patient.patient_id);
    let kind = priced_type(&clinic, "Consultation", 4500).await;
    let visit = past_visit(&app, &clinic, pid, Some(kind), AppointmentStatus::Completed).await;
    let with_visit =
        NewInvoice { patient_id: pid, appointment_ids: vec![visit], lines: vec![line("Gel", 7, 129, 700)] };
    let d = desk.create_invoice(&with_visit).await.unwrap();
    let inv = desk.issue_invoice(d.id).await.unwrap();

    // Money on it must go back first.
    let p = desk.pay_invoice(inv.id, &pay(500, PaymentMethod::Transfer)).await.unwrap();
    assert_eq!(status(desk.void_invoice(inv.id, "wrong patient").await, "void with payments"), 409);
    assert_eq!(status(desk.void_invoice(inv.id, "  ").await, "void without a reason"), 422);
    desk.refund_payment(p.id, &NewRefund::default()).await.unwrap();

    let note = desk.void_invoice(inv.id, "wrong patient").await.unwrap();
    assert_eq!((note.kind, note.status, note.credits), (InvoiceKind::CreditNote, InvoiceStatus::Issued, Some(inv.id)));
    assert_eq!((note.total, note.subtotal, note.tax), (-inv.total, -inv.subtotal, -inv.tax));
    assert_eq!(note.balance, 0);
    assert_eq!(sequence_of(note.number.as_deref().unwrap()), sequence_of(inv.number.as_deref().unwrap()) + 1);
    let voided = desk.invoice(inv.id).await.unwrap();
    assert_eq!((voided.status, voided.credited_by, voided.balance), (InvoiceStatus::Void, Some(note.id), 0));
    assert_eq!(voided.void_reason.as_deref(), Some("wrong patient"));
    assert_eq!(status(desk.void_invoice(inv.id, "again").await, "void twice"), 409);
    assert_eq!(status(desk.void_invoice(note.id, "void the note").await, "void a credit note"), 409);
    assert_eq!(status(desk.pay_invoice(inv.id, &pay(1, PaymentMethod::Cash)).await, "pay a void one"), 409);
    assert_eq!(desk.outstanding_report().await.unwrap().total, 0);
    // The patient owes nothing; the visit may be billed again, correctly this time.
    let mine = clinic.patient.client.invoices(&InvoiceQuery::default()).await.unwrap();
    assert_eq!(mine.items.iter().map(|i| i.balance).sum::<i64>(), 0);
    assert_eq!(mine.items.len(), 2, "the invoice and its credit note");
    desk.create_invoice(&with_visit).await.unwrap();
}

/// What a line comes to, computed here from the rule: tax rounded half away from zero.
fn expected_line_total(q: i64, unit: i64, bp: u32) -> i64 {
    let net = q * unit;
    let tax_times_10k = net as i128 * bp as i128;
    let tax = ((tax_times_10k + 5_000) / 10_000) as i64; // net ≥ 0 here
    net + tax
}

#[tokio::test]
async fn totals_are_exact_sums_of_rounded_lines() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let desk = &clinic.reception.client;
    let mut state: u64 = 0x2545_f491_4f6c_dd1d ^ u64::from(std::process::id());
    let mut next = |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    for case in 0..40 {
        let lines: Vec<NewInvoiceLine> = (0..1 + next(12))
            .map(|i| {
                let bp = [700, 1900, 0, 1000, 2100][next(5) as usize];
                line(&format!("item {i}"), 1 + 2 * next(25) as i64, next(100_000) as i64, bp)
            })
            .collect();
        let want: i64 = lines.iter().map(|l| expected_line_total(l.quantity, l.unit_amount, l.tax_rate_bp)).sum();
        let inv = desk.create_invoice(&draft_of(clinic.patient.patient_id, lines.clone())).await.unwrap();
        assert_eq!(inv.total, want, "case {case}: {lines:?}");
        assert_eq!(inv.subtotal + inv.tax, inv.total, "case {case}");
        assert_eq!(inv.lines.iter().map(|l| l.total).sum::<i64>(), inv.total, "case {case}");
        let note = desk.void_invoice(desk.issue_invoice(inv.id).await.unwrap().id, "test").await.unwrap();
        assert_eq!(note.total, -want, "case {case}: the credit note cancels to the cent");
    }
}

#[tokio::test]
async fn the_printed_invoice_is_a_pdf_with_its_number_and_total() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let desk = &clinic.reception.client;
    let d = desk
        .create_invoice(&draft_of(clinic.patient.patient_id, vec![line("Röntgen – thorax", 1, 123_456, 1900)]))
        .await
        .unwrap();
    let inv = desk.issue_invoice(d.id).await.unwrap();
    desk.pay_invoice(inv.id, &pay(10_000, PaymentMethod::Card)).await.unwrap();
    let bytes = clinic.patient.client.invoice_pdf(inv.id).await.unwrap();
    assert!(bytes.starts_with(b"%PDF-"), "a PDF: {:?}", String::from_utf8_lossy(&bytes[..bytes.len().min(200)]));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("invoice.pdf");
    std::fs::write(&path, &bytes).unwrap();
    let out = std::process::Command::new("pdftotext")
        .arg("-layout")
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext (Debian's poppler-utils) reads the invoice");
    assert!(out.status.success(), "pdftotext: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let number = inv.number.as_deref().unwrap();
    assert!(text.contains(&format!("Invoice {number}")), "{text}");
    // 1 234.56 + 19 % (234.57) = 1 469.13; 100.00 paid.
    assert_eq!(inv.total, 146_913);
    for want in ["1,469.13 EUR", "1,369.13 EUR", "Röntgen – thorax", "Health Synx Clinic", "Patient: "] {
        assert!(text.contains(want), "{want} in {text}");
    }
    // A draft prints as one, with no number; a doctor prints nothing.
    let draft = desk.create_invoice(&draft_of(clinic.patient.patient_id, vec![line("x", 1, 1, 0)])).await.unwrap();
    assert!(!desk.invoice_pdf(draft.id).await.unwrap().is_empty());
    assert_eq!(status(clinic.doctor.client.invoice_pdf(inv.id).await, "doctor prints"), 403);
    assert_eq!(status(clinic.patient2.client.invoice_pdf(inv.id).await, "other patient prints"), 404);
}

#[tokio::test]
async fn each_role_may_do_to_invoices_what_the_contract_says() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let desk = &clinic.reception.client;
    let mine = issued(desk, clinic.patient.patient_id, 2500).await;
    let theirs = issued(desk, clinic.patient2.patient_id, 2500).await;
    desk.pay_invoice(theirs.id, &pay(100, PaymentMethod::Cash)).await.unwrap();
    let my_draft = desk.create_invoice(&draft_of(clinic.patient.patient_id, vec![line("x", 1, 1, 0)])).await.unwrap();
    // Columns: patient, doctor, nurse, receptionist, admin.
    let read_mine = [200, 403, 403, 200, 200];
    let read_theirs = [404, 403, 403, 200, 200];
    let read_draft = [404, 403, 403, 200, 200];
    let write = [403, 403, 403, 200, 200];
    for (i, (role, c)) in clinic.by_role().into_iter().enumerate() {
        assert_eq!(code(c.invoice(mine.id).await), read_mine[i], "{role} reads own");
        assert_eq!(code(c.invoice(theirs.id).await), read_theirs[i], "{role} reads another's");
        assert_eq!(code(c.invoice(my_draft.id).await), read_draft[i], "{role} reads a draft");
        assert_eq!(code(c.invoices(&InvoiceQuery::default()).await), [200, 403, 403, 200, 200][i], "{role} lists");
        let new = draft_of(clinic.patient.patient_id, vec![line("y", 1, 1, 0)]);
        assert_eq!(code(c.create_invoice(&new).await), write[i], "{role} creates");
        assert_eq!(code(c.pay_invoice(mine.id, &pay(1, PaymentMethod::Cash)).await), write[i], "{role} pays");
        assert_eq!(code(c.cash_report(None).await), write[i], "{role} cash-up");
        assert_eq!(code(c.outstanding_report().await), write[i], "{role} outstanding");
        let patch = InvoicePatch::default();
        let writes = [
            code(c.patch_invoice(my_draft.id, my_draft.version + 100, &patch).await),
            code(c.void_invoice(theirs.id, "role check").await),
            code(c.refund_payment(Uuid::now_v7(), &NewRefund::default()).await),
        ];
        // Writers get past the role check to what the objects say: a stale
        // version (for the admin, already issued by the front desk), a void
        // with money on it, no such payment.
        let want = [[403; 3], [403; 3], [403; 3], [412, 409, 404], [409, 409, 404]][i];
        assert_eq!(writes, want, "{role} patches, voids, refunds");
        // The front desk issues it; the admin then finds it issued already.
        assert_eq!(code(c.issue_invoice(my_draft.id).await), [403, 403, 403, 200, 409][i], "{role} issues");
    }
    // A patient's list is their own, drafts left out, whatever they ask for.
    let q = InvoiceQuery { patient_id: Some(clinic.patient2.patient_id), ..Default::default() };
    let listed = clinic.patient.client.invoices(&q).await.unwrap();
    assert!(listed.items.iter().all(|i| i.patient_id == clinic.patient.patient_id && i.status != InvoiceStatus::Draft));
    assert!(!listed.items.is_empty());
    // The front desk filters by patient and status.
    let q = InvoiceQuery {
        patient_id: Some(clinic.patient2.patient_id),
        status: Some(InvoiceStatus::Issued),
        ..Default::default()
    };
    let listed = desk.invoices(&q).await.unwrap();
    assert_eq!(listed.items.iter().map(|i| i.id).collect::<Vec<_>>(), vec![theirs.id]);
    // The patient's access log shows who read their invoices.
    let log = clinic.patient.client.my_access_log(&PageQuery::default()).await.unwrap();
    assert!(log.items.iter().any(|e| e.action == "invoice.read" && e.actor_name == "Rita Reception"), "{log:?}");
}

#[tokio::test]
async fn bad_invoice_input_is_refused_field_by_field_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let desk = &clinic.reception.client;
    let pid = clinic.patient.patient_id;
    let before = desk.invoices(&InvoiceQuery::default()).await.unwrap().items.len();
    let cases = [
        (line("", 1, 100, 0), "lines[0].description"),
        (line("ok", 0, 100, 0), "lines[0].quantity"),
        (line("ok", 1, -5, 0), "lines[0].unit_amount"),
        (line("ok", 1, 100, 10_001), "lines[0].tax_rate_bp"),
        (line("two\nlines", 1, 100, 0), "lines[0].description"),
    ];
    for (l, field) in cases {
        let p = desk.create_invoice(&draft_of(pid, vec![l.clone()])).await.unwrap_err();
        assert_eq!((p.status, p.errors[0].field.as_str()), (422, field), "{l:?}");
    }
    let p = desk.create_invoice(&draft_of(Uuid::now_v7(), vec![line("ok", 1, 1, 0)])).await.unwrap_err();
    assert_eq!((p.status, p.errors[0].field.as_str()), (422, "patient_id"));
    let unknown = serde_json::json!({"patient_id": pid, "lines": [], "discount": 5});
    assert_eq!(send_json(&app, desk, RouteId::CreateInvoice, &[], unknown).await.0, 400);
    let d = desk.create_invoice(&draft_of(pid, vec![])).await.unwrap();
    let p = desk.issue_invoice(d.id).await.unwrap_err();
    assert_eq!((p.status, p.errors[0].field.as_str()), (422, "lines"), "an empty draft is not issued");
    let bad_method = serde_json::json!({"amount": 5, "method": "bitcoin"});
    assert_eq!(send_json(&app, desk, RouteId::CreatePayment, &[d.id], bad_method).await.0, 400);
    assert_eq!(desk.invoices(&InvoiceQuery::default()).await.unwrap().items.len(), before + 1);
}

#[tokio::test]
async fn line_descriptions_are_sealed_at_rest() {
    let app = TestApp::spawn().await;
    let clinic = app.clinic().await;
    let desk = &clinic.reception.client;
    let secret = "Zolgensma infusion 7f3a";
    let d = desk.create_invoice(&draft_of(clinic.patient.patient_id, vec![line(secret, 1, 100, 0)])).await.unwrap();
    let inv = desk.issue_invoice(d.id).await.unwrap();
    desk.void_invoice(inv.id, "Voided because of zz-secret-reason").await.unwrap();
    assert_eq!(desk.invoice(inv.id).await.unwrap().lines[0].description, secret);
    assert!(!app.at_rest_contains(secret.as_bytes()).await, "a line description is stored in clear");
    assert!(!app.at_rest_contains(b"zz-secret-reason").await, "a void reason is stored in clear");
}
