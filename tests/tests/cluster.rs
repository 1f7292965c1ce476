//! Several release server processes on one PostgreSQL database: every
//! guarantee holds across them at once (always on PostgreSQL, whatever
//! `HEALTHSYNX_TEST_DATABASE_URL` says: the local server by default).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use healthsynx_tests::process::{
    ADMIN_PASSWORD, ClinicStore, DOCTOR_PASSWORD, ProcessSecrets, ServerProcess, create_admin, seed,
};
use healthsynx_tests::shared::api::{AppointmentQuery, NewAppointment, RouteId};
use healthsynx_tests::shared::client::Client;
use healthsynx_tests::{SLOT, utc};
use uuid::Uuid;

/// A clinic served by `n` processes on one new database.
async fn cluster(n: usize, env: &[(&str, &str)]) -> (ClinicStore, Vec<ServerProcess>, ProcessSecrets) {
    let store = ClinicStore::database().await;
    let s = ProcessSecrets::new();
    create_admin(&store);
    let mut servers = Vec::new();
    for _ in 0..n {
        servers.push(ServerProcess::start(&store, &s, env).await);
    }
    (store, servers, s)
}

async fn admin_on(url: &str) -> Client {
    let c = Client::new(url).unwrap();
    c.login("admin@process.test", ADMIN_PASSWORD).await.unwrap();
    c
}

/// Polls `check` until it holds or `within` passes; how long it took.
async fn within(within: Duration, mut check: impl AsyncFnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < within {
        if check().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_bookings_over_three_processes_on_five_slots_have_one_winner_each() {
    let (_store, servers, _) = cluster(3, &[]).await;
    let (doctor, patients) = seed(&servers[0].url, 40).await;
    let mut clients = Vec::new();
    for s in &servers {
        clients.push(admin_on(&s.url).await);
    }
    let slots: Vec<_> = (0..5).map(|i| utc(3, 9, 0) + SLOT * i).collect();
    let wins: Arc<Mutex<HashMap<usize, Vec<Uuid>>>> = Arc::default();
    let mut tasks = Vec::new();
    for k in 0..200usize {
        let (client, wins) = (clients[k % 3].clone(), wins.clone());
        let req = NewAppointment {
            patient_id: patients[k % patients.len()],
            doctor_id: doctor,
            start: slots[k % 5],
            end: None,
            reason: format!("attempt {k}").parse().unwrap(),
            type_id: None,
        };
        tasks.push(tokio::spawn(async move {
            match client.book(&req, None).await {
                Ok(a) => wins.lock().unwrap().entry(k % 5).or_default().push(a.id),
                Err(p) => assert_eq!(p.status, 409, "a losing booking is a conflict, not {p}"),
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let wins = wins.lock().unwrap().clone();
    assert_eq!(wins.len(), 5, "every slot was won: {wins:?}");
    assert!(wins.values().all(|w| w.len() == 1), "exactly one winner per slot: {wins:?}");
    let q = AppointmentQuery { doctor_id: Some(doctor), limit: Some(500), ..Default::default() };
    for c in &clients {
        assert_eq!(c.appointments(&q).await.unwrap().items.len(), 5, "every process sees the same five");
    }
    for c in &clients {
        let report = c.verify_audit().await.unwrap();
        assert!(report.ok, "one chain, whichever process wrote: {report:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_on_one_process_ends_the_token_on_the_other_within_a_second() {
    let (_store, servers, _) = cluster(2, &[]).await;
    seed(&servers[0].url, 1).await;
    let on_b = Client::new(&servers[1].url).unwrap();
    on_b.login("doc@process.test", DOCTOR_PASSWORD).await.unwrap();
    assert!(on_b.me().await.is_ok(), "the token works (and process B has cached the account)");
    let on_a = Client::new(&servers[0].url).unwrap();
    on_a.login("doc@process.test", DOCTOR_PASSWORD).await.unwrap();
    on_a.change_password(DOCTOR_PASSWORD, "lantern-quarry-velvet-58").await.unwrap();
    let took = within(Duration::from_secs(1), async || on_b.me().await.is_err_and(|p| p.status == 401)).await;
    assert!(took.is_some(), "process B still honours the old token a second after the change");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_on_one_process_ends_the_access_token_on_the_other_within_a_second() {
    let (_store, servers, _) = cluster(2, &[]).await;
    seed(&servers[0].url, 1).await;
    let on_a = Client::new(&servers[0].url).unwrap();
    on_a.login("doc@process.test", DOCTOR_PASSWORD).await.unwrap();
    // The same login's tokens, used on process B.
    let on_b = on_a.with_base(&servers[1].url).await.unwrap();
    assert!(on_b.me().await.is_ok(), "the token works on B (and B has cached the login)");
    on_a.logout().await.unwrap();
    let took = within(Duration::from_secs(1), async || on_b.me().await.is_err_and(|p| p.status == 401)).await;
    assert!(took.is_some(), "process B still honours the access token of a login ended on A");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_revoked_on_one_process_ends_on_the_other_and_spares_the_rest() {
    let (_store, servers, _) = cluster(2, &[]).await;
    seed(&servers[0].url, 1).await;
    let (laptop, phone) = (Client::new(&servers[0].url).unwrap(), Client::new(&servers[0].url).unwrap());
    laptop.login("doc@process.test", DOCTOR_PASSWORD).await.unwrap();
    phone.login("doc@process.test", DOCTOR_PASSWORD).await.unwrap();
    // Both logins' tokens, used on process B, so B has cached both.
    let (laptop_on_b, phone_on_b) =
        (laptop.with_base(&servers[1].url).await.unwrap(), phone.with_base(&servers[1].url).await.unwrap());
    assert!(laptop_on_b.me().await.is_ok() && phone_on_b.me().await.is_ok());
    let sessions = laptop.sessions().await.unwrap();
    assert_eq!(sessions.len(), 2, "both logins are listed: {sessions:?}");
    let other = sessions.iter().find(|s| !s.current).expect("the phone's login").id;
    laptop.revoke_session(other).await.unwrap();
    let took = within(Duration::from_secs(1), async || phone_on_b.me().await.is_err_and(|p| p.status == 401)).await;
    assert!(took.is_some(), "process B still honours the access token of a session revoked on A");
    assert_eq!(phone_on_b.refresh().await.unwrap_err().status, 401, "the revoked refresh token is dead on B");
    assert!(laptop_on_b.me().await.is_ok(), "the session not revoked still works on B");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_revoking_a_users_sessions_on_one_process_ends_them_all_on_the_other() {
    let (_store, servers, _) = cluster(2, &[]).await;
    let (doctor, _) = seed(&servers[0].url, 1).await;
    let mut on_b = Vec::new();
    for _ in 0..2 {
        let c = Client::new(&servers[1].url).unwrap();
        c.login("doc@process.test", DOCTOR_PASSWORD).await.unwrap();
        assert!(c.me().await.is_ok());
        on_b.push(c);
    }
    admin_on(&servers[0].url).await.revoke_user_sessions(doctor).await.unwrap();
    for c in &on_b {
        let took = within(Duration::from_secs(1), async || c.me().await.is_err_and(|p| p.status == 401)).await;
        assert!(took.is_some(), "process B still honours a login the admin revoked on A");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivation_on_one_process_ends_logins_on_the_other_within_a_second() {
    let (_store, servers, _) = cluster(2, &[]).await;
    let (doctor, _) = seed(&servers[0].url, 1).await;
    let on_b = Client::new(&servers[1].url).unwrap();
    on_b.login("doc@process.test", DOCTOR_PASSWORD).await.unwrap();
    assert!(on_b.me().await.is_ok());
    admin_on(&servers[0].url).await.deactivate_user(doctor).await.unwrap();
    let took = within(Duration::from_secs(1), async || on_b.me().await.is_err_and(|p| p.status == 401)).await;
    assert!(took.is_some(), "process B still serves a deactivated account");
}

/// A doctor's calendar over day 3, revalidated with `etag` when given: (status, ETag).
async fn calendar_on(url: &str, c: &Client, doctor: Uuid, etag: Option<&str>) -> (u16, String) {
    let token = c.access_token().await.unwrap();
    let mut req = reqwest::Client::new()
        .get(format!("{url}{}", RouteId::Calendar.path(&[doctor])))
        .bearer_auth(token)
        .query(&[("from", utc(3, 0, 0).to_string()), ("to", utc(4, 0, 0).to_string())]);
    if let Some(tag) = etag {
        req = req.header("if-none-match", tag);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.headers().get("etag").unwrap().to_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_on_one_process_changes_the_calendar_another_answered_unchanged_within_a_second() {
    let (_store, servers, _) = cluster(2, &[]).await;
    let (doctor, patients) = seed(&servers[0].url, 2).await;
    let (a, b) = (&servers[0].url, &servers[1].url);
    let on_b = Client::new(b).unwrap();
    on_b.login("doc@process.test", DOCTOR_PASSWORD).await.unwrap();
    let (status, etag) = calendar_on(b, &on_b, doctor, None).await;
    assert_eq!(status, 200);
    assert_eq!(calendar_on(b, &on_b, doctor, Some(&etag)).await, (304, etag.clone()), "B keeps the tag");
    let book = |patient, hh| NewAppointment {
        patient_id: patient,
        doctor_id: doctor,
        start: utc(3, hh, 0),
        end: None,
        reason: "check-up".parse().unwrap(),
        type_id: None,
    };
    admin_on(a).await.book(&book(patients[0], 9), None).await.unwrap();
    let mut latest = etag.clone();
    let took = within(Duration::from_secs(1), async || {
        let (status, tag) = calendar_on(b, &on_b, doctor, Some(&etag)).await;
        latest = tag;
        status == 200
    })
    .await;
    assert!(took.is_some(), "process B still calls the calendar unchanged a second after A booked on it");
    assert_ne!(latest, etag, "the calendar with the booking has another tag");
    // The other way round, and a cancellation (a changed row, not a new one).
    let on_a = on_b.with_base(a).await.unwrap();
    assert_eq!(calendar_on(a, &on_a, doctor, Some(&latest)).await.0, 304, "A agrees on the new tag");
    let second = admin_on(b).await.book(&book(patients[1], 10), None).await.unwrap();
    let took = within(Duration::from_secs(1), async || calendar_on(a, &on_a, doctor, Some(&latest)).await.0 == 200);
    assert!(took.await.is_some(), "process A still calls the calendar unchanged after B booked on it");
    let (_, tag) = calendar_on(a, &on_a, doctor, None).await;
    assert_eq!(calendar_on(a, &on_a, doctor, Some(&tag)).await.0, 304);
    admin_on(b).await.cancel(second.id, "called").await.unwrap();
    let took = within(Duration::from_secs(1), async || calendar_on(a, &on_a, doctor, Some(&tag)).await.0 == 200);
    assert!(took.await.is_some(), "process A still calls the calendar unchanged after B cancelled on it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_spread_over_two_processes_lock_the_account_on_both() {
    let (_store, servers, _) = cluster(2, &[]).await;
    seed(&servers[0].url, 1).await;
    // Five failures lock an account: three on one process and two on the
    // other would lock neither if each counted alone.
    for k in 0..5 {
        let c = Client::new(&servers[k % 2].url).unwrap();
        let p = c.login("doc@process.test", "not-the-password-at-all").await.unwrap_err();
        assert_eq!(p.status, 401, "failure {k}");
    }
    for s in &servers {
        let p = Client::new(&s.url).unwrap().login("doc@process.test", DOCTOR_PASSWORD).await.unwrap_err();
        assert_eq!(p.status, 429, "locked on every process, even with the right password");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_of_one_process_under_booking_load_loses_no_acknowledged_booking() {
    let (_store, mut servers, _) = cluster(2, &[]).await;
    let (doctor, patients) = seed(&servers[0].url, 16).await;
    let survivor = admin_on(&servers[1].url).await;
    let doomed = admin_on(&servers[0].url).await;
    let acknowledged: Arc<Mutex<Vec<Uuid>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (i, patient) in patients.iter().copied().enumerate() {
        let client = if i % 2 == 0 { doomed.clone() } else { survivor.clone() };
        let (acked, stop) = (acknowledged.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            for day in 2..60 {
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let req = NewAppointment {
                    patient_id: patient,
                    doctor_id: doctor,
                    start: utc(day, 8, 0) + SLOT * i as i32,
                    end: None,
                    reason: "load".parse().unwrap(),
                    type_id: None,
                };
                match client.book(&req, None).await {
                    Ok(a) => acked.lock().unwrap().push(a.id),
                    Err(p) if p.status == 0 => break, // its process died mid-request
                    Err(p) => panic!("unexpected answer {p}"),
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    servers.remove(0).kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for t in tasks {
        t.await.unwrap();
    }
    let acked = acknowledged.lock().unwrap().clone();
    assert!(acked.len() > 20, "bookings were acknowledged by both processes: {}", acked.len());
    for id in &acked {
        survivor.appointment(*id).await.unwrap_or_else(|p| panic!("acknowledged {id} lost: {p}"));
    }
    let report = survivor.verify_audit().await.unwrap();
    assert!(report.ok, "the chain verifies after the kill: {report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn times_freed_on_three_processes_are_each_offered_once_and_each_entry_gets_one() {
    use healthsynx_tests::shared::AppointmentStatus;
    use healthsynx_tests::shared::api::{AppointmentAction, NewWaitlistEntry};
    let (_store, servers, _) = cluster(3, &[]).await;
    let (doctor, patients) = seed(&servers[0].url, 10).await;
    let mut clients = Vec::new();
    for s in &servers {
        clients.push(admin_on(&s.url).await);
    }
    // Five booked times, and five patients waiting for any of them.
    let ten = utc(4, 10, 0);
    let mut booked = Vec::new();
    for (i, p) in patients[..5].iter().enumerate() {
        let req = NewAppointment {
            patient_id: *p,
            doctor_id: doctor,
            start: ten + SLOT * i as i32,
            end: None,
            reason: Default::default(),
            type_id: None,
        };
        booked.push(clients[i % 3].book(&req, None).await.unwrap().id);
    }
    for (i, p) in patients[5..].iter().enumerate() {
        let wish = NewWaitlistEntry {
            patient_id: *p,
            doctor_id: Some(doctor),
            department: None,
            type_id: None,
            earliest: ten,
            latest: ten + SLOT * 5,
            note: None,
        };
        clients[i % 3].join_waitlist(&wish).await.unwrap();
    }
    // All five cancelled at once, on different processes: every process looks at the waitlist.
    let cancels: Vec<_> = booked
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let (c, id) = (clients[i % 3].clone(), *id);
            tokio::spawn(async move { c.appointment_action(id, AppointmentAction::Cancel).await.unwrap() })
        })
        .collect();
    for t in cancels {
        t.await.unwrap();
    }
    let five = within(Duration::from_secs(15), async || clients[0].offers().await.unwrap().len() == 5).await;
    assert!(five.is_some(), "five offers: {:?}", clients[0].offers().await.unwrap());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let offers = clients[1].offers().await.unwrap();
    let mut starts: Vec<_> = offers.iter().map(|o| o.start).collect();
    let mut entries: Vec<_> = offers.iter().map(|o| o.waitlist_id).collect();
    starts.sort();
    starts.dedup();
    entries.sort();
    entries.dedup();
    assert_eq!((offers.len(), starts.len(), entries.len()), (5, 5, 5), "no time and no entry twice: {offers:?}");
    let q = AppointmentQuery { doctor_id: Some(doctor), limit: Some(500), ..Default::default() };
    let held =
        clients[2].appointments(&q).await.unwrap().items.into_iter().filter(|a| a.status == AppointmentStatus::Held);
    assert_eq!(held.count(), 5, "one hold per offer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_share_the_outbox_and_deliver_each_event_once() {
    use healthsynx_tests::receiver::Receiver;
    use healthsynx_tests::shared::EventType;
    use healthsynx_tests::shared::api::NewWebhook;
    let (_store, servers, _) = cluster(3, &[("HEALTHSYNX_WEBHOOK_ALLOW_PRIVATE", "1")]).await;
    let (doctor, patients) = seed(&servers[0].url, 10).await;
    let mut clients = Vec::new();
    for s in &servers {
        clients.push(admin_on(&s.url).await);
    }
    let rx = Receiver::start();
    let new = NewWebhook { url: rx.url("/ok"), events: vec![EventType::AppointmentBooked], active: true };
    let hook = clients[0].create_webhook(&new).await.unwrap();
    rx.set_secret(hook.secret.as_deref().unwrap()).await;
    let mut booked = Vec::new();
    for k in 0..60usize {
        let req = NewAppointment {
            patient_id: patients[k % 10],
            doctor_id: doctor,
            start: utc(3 + (k / 20) as i64, 8, 0) + SLOT * (k % 20) as i32,
            end: None,
            reason: "".parse().unwrap(),
            type_id: None,
        };
        booked.push(clients[k % 3].book(&req, None).await.unwrap().id.to_string());
    }
    let log = rx.wait_for(Duration::from_secs(60), |l| l.len() >= 60).await;
    // Every worker had its chance at each one: give a duplicate time to show.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let log = if rx.log().await.len() > log.len() { rx.log().await } else { log };
    let mut ids: Vec<&str> = log.iter().map(|e| e["webhook_id"].as_str().unwrap()).collect();
    ids.sort();
    let n = ids.len();
    ids.dedup();
    assert_eq!((n, ids.len()), (60, 60), "each event delivered once");
    let mut got: Vec<String> =
        log.iter().map(|e| e["body"]["data"]["appointment_id"].as_str().unwrap().to_owned()).collect();
    got.sort();
    booked.sort();
    assert_eq!(got, booked);
    assert!(log.iter().all(|e| e["verified"] == true));
}
