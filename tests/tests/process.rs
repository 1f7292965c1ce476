//! The release server as a child process: killed with SIGKILL mid-booking it
//! loses no acknowledged write; stopped with SIGTERM it finishes what it started.

use std::collections::HashSet;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use healthsynx_tests::process::{ADMIN_PASSWORD, ClinicStore, ProcessSecrets, ServerProcess, create_admin, seed};
use healthsynx_tests::shared::AppointmentStatus;
use healthsynx_tests::shared::api::{AppointmentQuery, NewAppointment};
use healthsynx_tests::shared::client::Client;
use healthsynx_tests::{SLOT, utc};
use uuid::Uuid;

fn pseudo_random(n: u64) -> u64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos() as u64;
    (nanos ^ 0x9e37_79b9_7f4a_7c15).wrapping_mul(6364136223846793005) % n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_booking_loses_no_acknowledged_booking() {
    let store = ClinicStore::for_test().await;
    let s = ProcessSecrets::new();
    create_admin(&store);
    let server = ServerProcess::start(&store, &s, &[]).await;
    let (doctor, patients) = seed(&server.url, 16).await;
    let acknowledged: Arc<Mutex<Vec<Uuid>>> = Arc::default();
    let mut server = Some(server);
    for round in 0..5i64 {
        let url = server.as_ref().unwrap().url.clone();
        let admin = Client::new(&url).unwrap();
        admin.login("admin@process.test", ADMIN_PASSWORD).await.unwrap();
        // 16 clients book distinct slots of one day each round, until the kill.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut tasks = Vec::new();
        for (i, patient) in patients.iter().copied().enumerate() {
            let (admin, acked, stop) = (admin.clone(), acknowledged.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                for k in 0..24 {
                    if stop.load(std::sync::atomic::Ordering::SeqCst) {
                        break;
                    }
                    let day = 2 + round * 30 + k;
                    let req = NewAppointment {
                        patient_id: patient,
                        doctor_id: doctor,
                        start: utc(day, 8, 0) + SLOT * i as i32,
                        end: None,
                        reason: format!("round {round}").parse().unwrap(),
                        type_id: None,
                    };
                    match admin.book(&req, None).await {
                        Ok(a) => acked.lock().unwrap().push(a.id),
                        Err(p) if p.status == 0 => break, // the server died mid-request
                        Err(p) => panic!("unexpected answer {p}"),
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(150 + pseudo_random(600))).await;
        server.take().unwrap().kill();
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for t in tasks {
            t.await.unwrap();
        }

        let restarted = ServerProcess::start(&store, &s, &[]).await;
        let admin = Client::new(&restarted.url).unwrap();
        admin.login("admin@process.test", ADMIN_PASSWORD).await.unwrap();
        let acked = acknowledged.lock().unwrap().clone();
        assert!(!acked.is_empty(), "round {round}: some bookings were acknowledged before the kill");
        for id in &acked {
            let a =
                admin.appointment(*id).await.unwrap_or_else(|p| panic!("round {round}: acknowledged {id} lost: {p}"));
            assert_eq!(a.status, AppointmentStatus::Scheduled);
        }
        // Nothing half-written: the doctor index and the patient indexes agree, and every row reads.
        let mut by_doctor = HashSet::new();
        let mut cursor = None;
        loop {
            let q = AppointmentQuery { doctor_id: Some(doctor), limit: Some(500), cursor, ..Default::default() };
            let page = admin.appointments(&q).await.unwrap();
            by_doctor.extend(page.items.iter().map(|a| a.id));
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        let mut by_patient = HashSet::new();
        for p in &patients {
            let q = AppointmentQuery { patient_id: Some(*p), limit: Some(500), ..Default::default() };
            by_patient.extend(admin.appointments(&q).await.unwrap().items.iter().map(|a| a.id));
        }
        assert_eq!(by_doctor, by_patient, "round {round}: indexes disagree");
        assert!(acked.iter().all(|id| by_doctor.contains(id)));
        let report = admin.verify_audit().await.unwrap();
        assert!(report.ok, "round {round}: audit chain broken at {:?}", report.first_bad);
        server = Some(restarted);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_requests_finish_and_exits_cleanly() {
    let store = ClinicStore::for_test().await;
    let s = ProcessSecrets::new();
    create_admin(&store);
    let mut server = ServerProcess::start(&store, &s, &[]).await;
    // Logins are the slowest requests (argon2): start a batch, then ask the server to stop.
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let url = server.url.clone();
        tasks.push(tokio::spawn(async move {
            let c = Client::new(&url).unwrap();
            c.login("admin@process.test", ADMIN_PASSWORD).await.map(|_| ())
        }));
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    let pid = server.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    for t in tasks {
        t.await.unwrap().expect("a request in flight at SIGTERM still gets its answer");
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(st) = server.child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "server did not exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status}");
    assert!(reqwest::get(format!("{}/healthz", server.url)).await.is_err(), "no longer accepting");
}

/// The open offers of `admin`'s clinic for `start`, once there is one (or none after 10 s).
async fn offers_for(admin: &Client, start: jiff::Timestamp) -> Vec<healthsynx_tests::shared::Offer> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let offers: Vec<_> = admin.offers().await.unwrap().into_iter().filter(|o| o.start == start).collect();
        if !offers.is_empty() || Instant::now() > deadline {
            return offers;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_an_offer_leaves_it_held_once_and_never_duplicated() {
    use healthsynx_tests::shared::api::{AppointmentAction, NewWaitlistEntry, WaitlistQuery};
    use healthsynx_tests::shared::{AppointmentStatus, WaitlistStatus};
    let store = ClinicStore::for_test().await;
    let s = ProcessSecrets::new();
    create_admin(&store);
    let mut server = ServerProcess::start(&store, &s, &[]).await;
    let (doctor, patients) = seed(&server.url, 4).await;
    // Killed once with the offer open, once straight after the cancel that frees the time.
    for round in 0..2i64 {
        let admin = Client::new(&server.url).unwrap();
        admin.login("admin@process.test", ADMIN_PASSWORD).await.unwrap();
        let ten = utc(3 + 7 * round, 10, 0);
        let visit = |patient, start| NewAppointment {
            patient_id: patient,
            doctor_id: doctor,
            start,
            end: None,
            reason: "booked".parse().unwrap(),
            type_id: None,
        };
        let freed = admin.book(&visit(patients[0], ten), None).await.unwrap();
        admin.book(&visit(patients[1], ten + SLOT), None).await.unwrap();
        let mut entries = Vec::new();
        for p in [patients[2], patients[3]] {
            let wish = NewWaitlistEntry {
                patient_id: p,
                doctor_id: Some(doctor),
                department: None,
                type_id: None,
                earliest: ten,
                latest: ten + SLOT * 2,
                note: None,
            };
            entries.push(admin.join_waitlist(&wish).await.unwrap().id);
        }
        admin.appointment_action(freed.id, AppointmentAction::Cancel).await.unwrap();
        if round == 0 {
            assert_eq!(offers_for(&admin, ten).await.len(), 1, "offered before the kill");
        }
        server.kill();

        let restarted = ServerProcess::start(&store, &s, &[]).await;
        let admin = Client::new(&restarted.url).unwrap();
        admin.login("admin@process.test", ADMIN_PASSWORD).await.unwrap();
        let offers = offers_for(&admin, ten).await;
        let [offer] = offers.as_slice() else { panic!("round {round}: one offer for the freed time: {offers:?}") };
        assert_eq!(offer.waitlist_id, entries[0], "round {round}: the first entry's");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(offers_for(&admin, ten).await.len(), 1, "round {round}: still one");
        let q = AppointmentQuery {
            doctor_id: Some(doctor),
            from: Some(ten),
            to: Some(ten + SLOT * 2),
            ..Default::default()
        };
        let held: Vec<_> = admin
            .appointments(&q)
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|a| a.status == AppointmentStatus::Held)
            .collect();
        assert_eq!(held.iter().map(|a| a.id).collect::<Vec<_>>(), [offer.appointment_id], "round {round}: one hold");
        let statuses: Vec<WaitlistStatus> =
            admin.waitlist(&WaitlistQuery::default()).await.unwrap().iter().map(|e| e.status).collect();
        assert_eq!(statuses, [WaitlistStatus::Offered, WaitlistStatus::Waiting], "round {round}");
        let report = admin.verify_audit().await.unwrap();
        assert!(report.ok, "round {round}: audit chain broken at {:?}", report.first_bad);
        // The next round starts clean: this entry takes its offer.
        admin.accept_offer(offer.id).await.unwrap();
        admin.leave_waitlist(entries[1]).await.unwrap();
        server = restarted;
    }
}

/// Every invoice number of `admin`'s clinic, as sequence numbers, sorted.
async fn invoice_numbers(admin: &Client) -> Vec<u32> {
    use healthsynx_tests::shared::api::InvoiceQuery;
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let q = InvoiceQuery { limit: Some(500), cursor, ..Default::default() };
        let page = admin.invoices(&q).await.unwrap();
        out.extend(page.items.iter().filter_map(|i| i.number.as_deref()).map(|n| n[5..].parse::<u32>().unwrap()));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_between_issues_leaves_invoice_numbers_without_gaps_or_repeats() {
    use healthsynx_tests::shared::api::{NewInvoice, NewInvoiceLine};
    let store = ClinicStore::for_test().await;
    let s = ProcessSecrets::new();
    create_admin(&store);
    let mut server = ServerProcess::start(&store, &s, &[]).await;
    let (_, patients) = seed(&server.url, 4).await;
    let acknowledged: Arc<Mutex<Vec<(Uuid, String)>>> = Arc::default();
    for round in 0..3 {
        let admin = Client::new(&server.url).unwrap();
        admin.login("admin@process.test", ADMIN_PASSWORD).await.unwrap();
        let mut drafts = Vec::new();
        for k in 0..60 {
            let line = NewInvoiceLine {
                description: format!("round {round} item {k}"),
                appointment_id: None,
                quantity: 1,
                unit_amount: 1000 + k,
                tax_rate_bp: 0,
            };
            let new = NewInvoice { patient_id: patients[k as usize % 4], appointment_ids: vec![], lines: vec![line] };
            drafts.push(admin.create_invoice(&new).await.unwrap().id);
        }
        // Four clients issue the drafts at once, until the kill.
        let mut tasks = Vec::new();
        for chunk in drafts.chunks(15) {
            let (admin, acked, chunk) = (admin.clone(), acknowledged.clone(), chunk.to_vec());
            tasks.push(tokio::spawn(async move {
                for id in chunk {
                    match admin.issue_invoice(id).await {
                        Ok(i) => acked.lock().unwrap().push((id, i.number.unwrap())),
                        Err(p) if p.status == 0 => break, // the server died mid-request
                        Err(p) => panic!("unexpected answer {p}"),
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(100 + pseudo_random(400))).await;
        server.kill();
        for t in tasks {
            t.await.unwrap();
        }

        let restarted = ServerProcess::start(&store, &s, &[]).await;
        let admin = Client::new(&restarted.url).unwrap();
        admin.login("admin@process.test", ADMIN_PASSWORD).await.unwrap();
        let acked = acknowledged.lock().unwrap().clone();
        for (id, number) in &acked {
            let i = admin.invoice(*id).await.unwrap();
            assert_eq!(i.number.as_deref(), Some(number.as_str()), "round {round}: an acknowledged number changed");
        }
        let numbers = invoice_numbers(&admin).await;
        assert_eq!(numbers, (1..=numbers.len() as u32).collect::<Vec<_>>(), "round {round}: a gap or a repeat");
        // The drafts left are issued after the restart, going on from there.
        for id in drafts {
            if admin.invoice(id).await.unwrap().number.is_none() {
                admin.issue_invoice(id).await.unwrap();
            }
        }
        let numbers = invoice_numbers(&admin).await;
        assert_eq!(numbers, (1..=60 * (round + 1)).collect::<Vec<_>>(), "round {round}: after the restart");
        let report = admin.verify_audit().await.unwrap();
        assert!(report.ok, "round {round}: audit chain broken at {:?}", report.first_bad);
        server = restarted;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_delivery_delivers_the_event_after_the_restart_with_the_same_webhook_id() {
    use healthsynx_tests::receiver::Receiver;
    use healthsynx_tests::shared::api::NewWebhook;
    use healthsynx_tests::shared::{DeliveryStatus, EventType};
    let store = ClinicStore::for_test().await;
    let s = ProcessSecrets::new();
    create_admin(&store);
    // A short attempt timeout: the lease of a taken delivery ends 5 s after it.
    let env = [("HEALTHSYNX_WEBHOOK_ALLOW_PRIVATE", "1"), ("HEALTHSYNX_WEBHOOK_TIMEOUT", "3s")];
    let server = ServerProcess::start(&store, &s, &env).await;
    let (doctor, patients) = seed(&server.url, 1).await;
    let admin = Client::new(&server.url).unwrap();
    admin.login("admin@process.test", ADMIN_PASSWORD).await.unwrap();
    let rx = Receiver::start();
    let new = NewWebhook { url: rx.url("/hang-once"), events: vec![EventType::AppointmentBooked], active: true };
    let hook = admin.create_webhook(&new).await.unwrap();
    rx.set_secret(hook.secret.as_deref().unwrap()).await;
    let req = NewAppointment {
        patient_id: patients[0],
        doctor_id: doctor,
        start: utc(3, 9, 0),
        end: None,
        reason: "".parse().unwrap(),
        type_id: None,
    };
    admin.book(&req, None).await.unwrap();
    // The first attempt reaches the receiver, which holds it unanswered: kill now.
    let first = rx.wait_for(Duration::from_secs(20), |l| !l.is_empty()).await;
    server.kill();

    let restarted = ServerProcess::start(&store, &s, &env).await;
    let log = rx.wait_for(Duration::from_secs(30), |l| l.len() >= 2).await;
    assert_eq!(log[1]["webhook_id"], first[0]["webhook_id"], "the same Webhook-Id after the restart");
    assert!(log.iter().all(|e| e["verified"] == true), "{log:#?}");
    let admin = Client::new(&restarted.url).unwrap();
    admin.login("admin@process.test", ADMIN_PASSWORD).await.unwrap();
    let q = healthsynx_tests::shared::api::DeliveryQuery::default();
    let mut delivered = false;
    for _ in 0..100 {
        let d = admin.deliveries(hook.id, &q).await.unwrap();
        assert_eq!(d.items.len(), 1, "one event, one delivery");
        if d.items[0].status == DeliveryStatus::Delivered {
            delivered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(delivered, "the delivery is recorded as delivered");
}
