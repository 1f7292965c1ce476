//! The demo clinic looks like a real working day to someone trying it:
//! nobody is checked in before their check-in opens, and each record was
//! written when its visit ended.

use std::collections::HashMap;

use healthsynx_server::demo;
use healthsynx_tests::shared::api::{PatientQuery, RecordQuery};
use healthsynx_tests::shared::client::Client;
use healthsynx_tests::shared::{AppointmentStatus, Role};
use healthsynx_tests::{TestApp, all_appointments};
use jiff::{SignedDuration, Timestamp};

#[tokio::test]
async fn the_demo_day_checks_in_only_who_is_due_and_dates_records_by_their_visit() {
    let app = TestApp::spawn_with(|c| c.mfa_required_roles.clear()).await;
    demo::seed(app.state()).await.unwrap();
    let admin = demo::LOGINS.iter().find(|l| l.role == Role::Admin).unwrap();
    let c = Client::new(&app.url()).unwrap();
    c.login(admin.email, admin.password).await.unwrap();
    let now = Timestamp::now();

    let appointments = all_appointments(&c).await;
    assert!(appointments.len() > 100, "a clinic's week: {}", appointments.len());
    let window = app.state().config.checkin_early;
    for a in appointments.iter().filter(|a| a.status == AppointmentStatus::CheckedIn) {
        assert!(a.start - window <= now, "checked in before check-in opened: {} at {}", a.patient_name, a.start);
    }
    for a in appointments.iter().filter(|a| a.status == AppointmentStatus::Completed) {
        assert!(a.start <= now, "completed before it began: {} at {}", a.patient_name, a.start);
    }

    let visits: HashMap<_, _> = appointments.iter().map(|a| (a.id, a)).collect();
    let patients = c.patients(&PatientQuery { limit: Some(500), ..Default::default() }).await.unwrap().items;
    let mut written = Vec::new();
    for p in &patients {
        let q = RecordQuery { patient_id: Some(p.id), limit: Some(200), ..Default::default() };
        for r in c.records(&q).await.unwrap().items {
            let visit = visits[&r.appointment_id];
            assert!(r.created_at >= visit.end, "a record written before its visit ended: {r:?}");
            assert!(
                r.created_at <= now && r.created_at.duration_since(visit.end) < SignedDuration::from_mins(30),
                "{r:?}"
            );
            written.push(r.created_at);
        }
    }
    assert!(written.len() > 10, "the demo has records: {}", written.len());
    written.sort();
    written.dedup_by_key(|t| t.as_second() / 60);
    assert!(written.len() > 10, "records are not all from one minute: {written:?}");
}

#[tokio::test]
async fn the_demo_waitlist_has_a_live_offer_for_alice_and_a_patient_still_waiting() {
    use healthsynx_tests::shared::WaitlistStatus;
    use healthsynx_tests::shared::api::WaitlistQuery;
    let app = TestApp::spawn_with(|c| c.mfa_required_roles.clear()).await;
    demo::seed(app.state()).await.unwrap();
    let desk = demo::LOGINS.iter().find(|l| l.role == Role::Receptionist).unwrap();
    let c = Client::new(&app.url()).unwrap();
    c.login(desk.email, desk.password).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let offers = loop {
        let offers = c.offers().await.unwrap();
        if !offers.is_empty() || std::time::Instant::now() > deadline {
            break offers;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let [offer] = offers.as_slice() else { panic!("one live offer: {offers:?}") };
    assert_eq!(offer.patient_name, "Alice Moreau");
    assert!(offer.start > Timestamp::now() + SignedDuration::from_mins(29), "{offer:?}");
    let entries = c.waitlist(&WaitlistQuery::default()).await.unwrap();
    let statuses: Vec<WaitlistStatus> = entries.iter().map(|e| e.status).collect();
    assert_eq!(statuses, [WaitlistStatus::Offered, WaitlistStatus::Waiting], "{entries:?}");
}

#[tokio::test]
async fn the_demo_bills_shows_invoices_in_every_state_and_alice_owes_part_of_hers() {
    use healthsynx_tests::shared::api::InvoiceQuery;
    use healthsynx_tests::shared::{InvoiceKind, InvoiceStatus};
    let app = TestApp::spawn_with(|c| c.mfa_required_roles.clear()).await;
    demo::seed(app.state()).await.unwrap();
    let login = |role: Role| demo::LOGINS.iter().find(|l| l.role == role).unwrap();
    let desk = Client::new(&app.url()).unwrap();
    let l = login(Role::Receptionist);
    desk.login(l.email, l.password).await.unwrap();
    let all = desk.invoices(&InvoiceQuery { limit: Some(500), ..Default::default() }).await.unwrap().items;
    for status in [InvoiceStatus::Draft, InvoiceStatus::Issued, InvoiceStatus::Paid, InvoiceStatus::Void] {
        assert!(all.iter().any(|i| i.status == status), "a {status:?} invoice in {all:?}");
    }
    assert!(all.iter().any(|i| i.kind == InvoiceKind::CreditNote));
    assert!(desk.outstanding_report().await.unwrap().total > 0);
    assert!(desk.cash_report(None).await.unwrap().total > 0, "today's cash-up has the demo's payments");
    let alice = Client::new(&app.url()).unwrap();
    let l = login(Role::Patient);
    alice.login(l.email, l.password).await.unwrap();
    let hers = alice.invoices(&InvoiceQuery::default()).await.unwrap().items;
    let [bill] = hers.as_slice() else { panic!("Alice has one bill: {hers:?}") };
    assert_eq!(bill.status, InvoiceStatus::Issued);
    assert!(bill.paid > 0 && bill.balance > 0, "{bill:?}");
}
