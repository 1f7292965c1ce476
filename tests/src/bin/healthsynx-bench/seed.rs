//! The clinic a store is seeded with, written before the server starts
//! through the server's own store code: accounts through the domain,
//! appointments through `Store::bulk_put_appointments`, which writes the
//! same trees and index keys as a booking.

use std::time::Instant;

use anyhow::{Context, Result};
use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;

use healthsynx_server::State;
use healthsynx_server::audit::{Action, Actor, Draft};
use healthsynx_server::domain::accounts::{NewAccount, stage_account};
use healthsynx_server::store::{AppointmentRow, InvoiceLineRow, InvoiceRow, PatientRow};
use healthsynx_shared::{
    AppointmentStatus, AppointmentType, Availability, AvailabilityRule, Department, Money, PatientType, Resource, Role,
};
use healthsynx_tests::clock;
use healthsynx_tests::process::ProcessSecrets;

use crate::server::BenchStore;

pub const DOCTORS: usize = 50;
const PATIENTS: usize = 1_000;
/// Appointments in a doctor's week (of 80 slots).
const PER_WEEK: usize = 40;
pub const SLOTS_PER_WEEK: usize = 80;
/// Distinct accounts the login scenarios log in as.
pub const LOGIN_USERS: usize = 16;
/// The password of every seeded account.
pub const PASSWORD: &str = "bench-quartz-lantern-meadow-58";

/// The seeded clinic's time grid: Mon–Fri 08:00–12:00 and 13:00–17:00 (UTC) in 30-minute slots.
#[derive(Clone)]
pub struct Grid {
    /// Monday 00:00 UTC of the current week.
    monday: Timestamp,
}

impl Grid {
    fn new() -> Self {
        let today = Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
        let back = today.weekday().to_monday_zero_offset() as i64;
        let monday = today - jiff::Span::new().days(back);
        let monday = monday.at(0, 0, 0, 0).to_zoned(jiff::tz::TimeZone::UTC).expect("utc").timestamp();
        Grid { monday }
    }

    pub fn week_start(&self, week: i64) -> Timestamp {
        self.monday + SignedDuration::from_hours(24 * 7 * week)
    }

    /// Slot `idx` (0..80) of week `week` (0 = this week).
    pub fn slot(&self, week: i64, idx: usize) -> Timestamp {
        let (day, j) = ((idx / 16) as i64, (idx % 16) as i64);
        let minutes = if j < 8 { 8 * 60 + 30 * j } else { 13 * 60 + 30 * (j - 8) };
        self.week_start(week) + SignedDuration::from_hours(24 * day) + SignedDuration::from_mins(minutes)
    }

    fn rules() -> Vec<AvailabilityRule> {
        (1..=5)
            .flat_map(|d| {
                [
                    AvailabilityRule { weekday: d, start: clock("08:00"), end: clock("12:00"), slot_minutes: 30 },
                    AvailabilityRule { weekday: d, start: clock("13:00"), end: clock("17:00"), slot_minutes: 30 },
                ]
            })
            .collect()
    }
}

/// Who has an appointment at `t` with doctor `d`: distinct for the doctors
/// of one slot, so no patient is ever in two places.
pub fn patient_for(t: Timestamp, d: usize) -> usize {
    ((t.as_second() / 1800) as usize * DOCTORS + d) % PATIENTS
}

/// What a seeded store holds, as the load generator needs it.
#[derive(Clone)]
pub struct Clinic {
    pub grid: Grid,
    pub doctors: Vec<Uuid>,
    pub patients: Vec<Uuid>,
    /// Weeks holding seeded appointments: `first_week..=1`.
    pub first_week: i64,
    /// Scheduled future appointments (for status changes).
    pub scheduled: Vec<Uuid>,
    pub desk_email: String,
    /// The admin (`webhook-delivery` makes its webhook).
    pub admin_email: String,
    pub login_emails: Vec<String>,
    /// The doctor-week holding the most appointments (the first of them):
    /// doctor index, week, appointments.
    pub fullest_week: (usize, i64, usize),
    /// Each department's "Room visit" type (30 minutes, 10-minute buffers,
    /// books one of the department's rooms), by the doctor's index.
    pub room_types: Vec<Uuid>,
    /// Draft invoices for `invoice-issue` to issue, one each.
    pub drafts: Vec<Uuid>,
}

/// Rooms per department: one for each of its doctors (17), so a booking
/// searches them for a free one and none is refused for want of a room.
pub const ROOMS_PER_DEPT: usize = 17;

const ADMIN_EMAIL: &str = "admin@bench.test";

fn email_desk(i: usize) -> String {
    format!("desk{i}@bench.test")
}

/// Seeds accounts, availability and `n` appointments into a new store in `dir`.
pub async fn seed(store: &BenchStore, secrets: &ProcessSecrets, n: u64, drafts: usize) -> Result<Clinic> {
    let started = Instant::now();
    // A big page cache while loading: sled slows to a crawl when the pages it
    // writes to do not fit (the server itself runs with its own setting).
    let mut config = store.config(secrets);
    config.cache_mb = 4096;
    let st = State::open(config).await.context("open the store")?;
    let hash = healthsynx_server::crypto::password::hash_blocking(PASSWORD).context("hash")?;
    let actor = Actor { id: None, role: None, addr: Some("bench-seed".into()) };
    let depts = ["cardiology", "general", "neurology"];
    let mut doctors = Vec::new();
    let seed_err = |what: &'static str| move |e: healthsynx_server::error::Error| anyhow::anyhow!("seed {what}: {e}");
    let mut tx = st.store.begin().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    for code in depts {
        tx.put_department(&Department { code: code.into(), name: code.to_uppercase() })
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    for i in 0..LOGIN_USERS {
        let email = email_desk(i);
        let name = format!("Desk Clerk{i:02}");
        let new = NewAccount {
            email: &email,
            full_name: &name,
            role: Role::Receptionist,
            department: None,
            username: None,
            password_hash: Some(hash.clone()),
        };
        let row = stage_account(&mut tx, new).await.map_err(seed_err("staff"))?;
        tx.audit(Draft::new(&actor, Action::UserCreate, "user", Some(row.id)));
    }
    let new = NewAccount {
        email: ADMIN_EMAIL,
        full_name: "Bench Admin",
        role: Role::Admin,
        department: None,
        username: None,
        password_hash: Some(hash.clone()),
    };
    let row = stage_account(&mut tx, new).await.map_err(seed_err("admin"))?;
    tx.audit(Draft::new(&actor, Action::UserCreate, "user", Some(row.id)));
    let mut dept_types = Vec::new();
    for code in depts {
        for r in 0..ROOMS_PER_DEPT {
            let room = Resource {
                id: Uuid::now_v7(),
                kind: "room".into(),
                name: format!("Room {r:02}"),
                department: code.into(),
                active: true,
                version: 1,
            };
            tx.put_resource(&room).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        let t = AppointmentType {
            id: Uuid::now_v7(),
            department: code.into(),
            name: "Room visit".into(),
            minutes: 30,
            buffer_before: 10,
            buffer_after: 10,
            price: Money { amount: 6000, currency: "EUR".parse().map_err(|e: String| anyhow::anyhow!(e))? },
            patient_bookable: true,
            resource_kind: Some("room".into()),
            active: true,
            version: 1,
        };
        tx.put_appointment_type(&t).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        dept_types.push(t.id);
    }
    let room_types: Vec<Uuid> = (0..DOCTORS).map(|d| dept_types[d % depts.len()]).collect();
    for d in 0..DOCTORS {
        let email = format!("doctor{d}@bench.test");
        let name = format!("Doctor Number{d:02}");
        let new = NewAccount {
            email: &email,
            full_name: &name,
            role: Role::Doctor,
            department: Some(depts[d % depts.len()]),
            username: None,
            password_hash: Some(hash.clone()),
        };
        let row = stage_account(&mut tx, new).await.map_err(seed_err("staff"))?;
        tx.put_availability(row.id, &Availability { rules: Grid::rules(), time_off: vec![] })
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        tx.audit(Draft::new(&actor, Action::UserCreate, "user", Some(row.id)));
        doctors.push(row.id);
    }
    tx.commit().await.map_err(|e| anyhow::anyhow!("seed staff: {e}"))?;
    let mut patients = Vec::new();
    for chunk in 0..PATIENTS.div_ceil(100) {
        let mut tx = st.store.begin().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        for i in chunk * 100..((chunk + 1) * 100).min(PATIENTS) {
            let email = format!("patient{i}@bench.test");
            let name = format!("Patient Number{i:04}");
            let new = NewAccount {
                email: &email,
                full_name: &name,
                role: Role::Patient,
                department: None,
                username: None,
                password_hash: None,
            };
            let user = stage_account(&mut tx, new).await.map_err(seed_err("patients"))?;
            let id = Uuid::now_v7();
            let row = PatientRow {
                id,
                user_id: user.id,
                date_of_birth: jiff::civil::date(1950 + (i % 60) as i16, 1 + (i % 12) as i8, 1 + (i % 28) as i8),
                phone: format!("+49 30 {:07}", i),
                insurance_id_sealed: Some(
                    st.sealer.seal(&format!("INS-{i:06}"), id.as_bytes()).map_err(seed_err("patients"))?,
                ),
                patient_type: PatientType::Outpatient,
            };
            tx.put_patient(&row).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            tx.audit(Draft::new(&actor, Action::PatientCreate, "patient", Some(id)).patient(id));
            patients.push(id);
        }
        tx.commit().await.map_err(|e| anyhow::anyhow!("seed patients: {e}"))?;
    }
    // Appointments: 40 a doctor-week, on every other slot, weeks ending next week.
    let grid = Grid::new();
    let per_week = (DOCTORS * PER_WEEK) as u64;
    let weeks = n.div_ceil(per_week).max(1) as i64;
    let first_week = 2 - weeks;
    let now = Timestamp::now();
    let mut made = 0u64;
    let mut batch: Vec<AppointmentRow> = Vec::with_capacity(100_000);
    let mut scheduled = Vec::new();
    let sys = Uuid::nil();
    let mut fullest_week = (0, first_week, 0);
    'weeks: for week in first_week..=1 {
        for (d, doctor) in doctors.iter().enumerate() {
            let in_week = made;
            for idx in (0..SLOTS_PER_WEEK).filter(|i| (i + d + week.rem_euclid(2) as usize).is_multiple_of(2)) {
                if made == n {
                    break 'weeks;
                }
                let start = grid.slot(week, idx);
                let id = Uuid::now_v7();
                let status = if start >= now {
                    AppointmentStatus::Scheduled
                } else if made.is_multiple_of(10) {
                    AppointmentStatus::NoShow
                } else {
                    AppointmentStatus::Completed
                };
                if status == AppointmentStatus::Scheduled {
                    scheduled.push(id);
                }
                batch.push(AppointmentRow {
                    id,
                    patient_id: patients[patient_for(start, d)],
                    doctor_id: *doctor,
                    department: depts[d % depts.len()].to_owned(),
                    start,
                    end: start + SignedDuration::from_mins(30),
                    status,
                    reason_sealed: st
                        .sealer
                        .seal("Follow-up visit", id.as_bytes())
                        .map_err(|e| anyhow::anyhow!("{e}"))?,
                    cancel_reason_sealed: None,
                    version: 1,
                    created_at: start - SignedDuration::from_hours(24 * 14),
                    updated_at: start - SignedDuration::from_hours(24 * 14),
                    created_by: sys,
                    type_id: None,
                    resource_id: None,
                    buffer_before: 0,
                    buffer_after: 0,
                    series_id: None,
                });
                made += 1;
                if (made - in_week) as usize > fullest_week.2 {
                    fullest_week = (d, week, (made - in_week) as usize);
                }
                if batch.len() == batch.capacity() {
                    st.store.bulk_put_appointments(&batch).await.map_err(|e| anyhow::anyhow!("bulk load: {e}"))?;
                    batch.clear();
                }
            }
        }
    }
    st.store.bulk_put_appointments(&batch).await.map_err(|e| anyhow::anyhow!("bulk load: {e}"))?;
    st.store
        .append_audit([Draft::new(&actor, Action::StoreBulkLoad, "appointment", None)])
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let drafts = seed_drafts(&st, &patients, drafts).await?;
    st.store.flush().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    drop(st);
    eprintln!(
        "seeded {made} appointments ({weeks} weeks × {DOCTORS} doctors, {PATIENTS} patients) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(Clinic {
        grid,
        doctors,
        patients,
        first_week,
        scheduled,
        desk_email: email_desk(0),
        admin_email: ADMIN_EMAIL.into(),
        login_emails: (0..LOGIN_USERS).map(email_desk).collect(),
        fullest_week,
        room_types,
        drafts,
    })
}

/// `n` one-line draft invoices, as `POST /api/invoices` writes them.
async fn seed_drafts(st: &State, patients: &[Uuid], n: usize) -> Result<Vec<Uuid>> {
    let err = |e: healthsynx_server::store::StoreError| anyhow::anyhow!("seed drafts: {e}");
    let mut out = Vec::with_capacity(n);
    let currency: healthsynx_shared::value::Currency = "EUR".parse().map_err(|e: String| anyhow::anyhow!(e))?;
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let mut tx = st.store.begin().await.map_err(err)?;
        for i in chunk {
            let id = Uuid::now_v7();
            let now = Timestamp::now();
            let line = InvoiceLineRow {
                description_sealed: st
                    .sealer
                    .seal("Consultation", id.as_bytes())
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
                appointment_id: None,
                quantity: 1,
                unit_amount: 4500,
                tax_rate_bp: 1900,
            };
            let row = InvoiceRow {
                id,
                kind: healthsynx_shared::InvoiceKind::Invoice,
                number: None,
                patient_id: patients[i % patients.len()],
                status: healthsynx_shared::InvoiceStatus::Draft,
                currency: currency.clone(),
                lines: vec![line],
                paid: 0,
                issued_at: None,
                credits: None,
                credited_by: None,
                void_reason_sealed: None,
                created_at: now,
                created_by: Uuid::nil(),
                updated_at: now,
                version: 1,
            };
            tx.put_invoice(&row).await.map_err(err)?;
            out.push(id);
        }
        tx.commit().await.map_err(err)?;
    }
    Ok(out)
}
