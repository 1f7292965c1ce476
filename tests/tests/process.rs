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
