//! The demo clinic for `--demo`: three departments, six doctors with weekly
//! hours, kinds of visit with buffers and prices, two procedure rooms and
//! an echo machine, nurses, a front desk, forty patients, two weeks of
//! appointments in every state, a weekly series, a waitlist (Alice holds a
//! live offer, another patient waits for a booked hour), some records and
//! invoices in every state.
//! Deterministic, so screenshots and tests can rely on its names.

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;

use healthsynx_shared::api::{
    AppointmentAction, NewAppointmentType, NewDepartment, NewPatient, NewRecord, NewResource, NewSeries, NewUser,
    NewWaitlistEntry, OnConflict,
};
use healthsynx_shared::value::ClockTime;
use healthsynx_shared::{
    AppointmentStatus, AppointmentType, AvailabilityRule, Every, Money, PatientType, Prescription, Role, SeriesRule,
};

use crate::audit::{Action, Draft};
use crate::domain::scheduling::{self, Booked};
use crate::domain::{Caller, State, accounts, billing, catalog, patients, records, series, waitlist};
use crate::error::{Error, Result};
use crate::policy::Principal;
use crate::scope::ApptScope;
use crate::store::AppointmentRow;

/// A login printed at start-up and listed in the README.
pub struct DemoLogin {
    pub role: Role,
    pub email: &'static str,
    pub password: &'static str,
    pub full_name: &'static str,
    pub department: Option<&'static str>,
}

const fn staff(
    role: Role,
    email: &'static str,
    password: &'static str,
    full_name: &'static str,
    department: Option<&'static str>,
) -> DemoLogin {
    DemoLogin { role, email, password, full_name, department }
}

/// The demo logins (also in the README). The patient comes last.
pub const LOGINS: &[DemoLogin] = &[
    staff(Role::Admin, "admin@demo.healthsynx.dev", "lantern-orbit-meadow-51", "Ada Admin", None),
    staff(Role::Receptionist, "frontdesk@demo.healthsynx.dev", "copper-harbor-violet-27", "Frank Desk", None),
    staff(
        Role::Doctor,
        "dr.house@demo.healthsynx.dev",
        "granite-willow-saffron-83",
        "Gregory House",
        Some("cardiology"),
    ),
    staff(Role::Doctor, "dr.grey@demo.healthsynx.dev", "marble-thistle-beacon-64", "Meredith Grey", Some("general")),
    staff(
        Role::Doctor,
        "dr.shepherd@demo.healthsynx.dev",
        "cobalt-prairie-lumen-38",
        "Derek Shepherd",
        Some("neurology"),
    ),
    staff(Role::Doctor, "dr.yang@demo.healthsynx.dev", "hazel-quarry-nimbus-45", "Cristina Yang", Some("cardiology")),
    staff(Role::Doctor, "dr.bailey@demo.healthsynx.dev", "tundra-velvet-ochre-12", "Miranda Bailey", Some("general")),
    staff(
        Role::Doctor,
        "dr.strange@demo.healthsynx.dev",
        "spruce-lattice-ember-90",
        "Stephen Strange",
        Some("neurology"),
    ),
    staff(
        Role::Nurse,
        "nurse.joy@demo.healthsynx.dev",
        "velvet-compass-juniper-19",
        "Joy Nightingale",
        Some("cardiology"),
    ),
    staff(Role::Nurse, "nurse.carla@demo.healthsynx.dev", "amber-glacier-piston-33", "Carla Espinosa", Some("general")),
    staff(Role::Nurse, "nurse.sam@demo.healthsynx.dev", "orchid-basalt-ripple-76", "Sam Keller", Some("neurology")),
    staff(Role::Patient, "alice@demo.healthsynx.dev", "saffron-kettle-glacier-72", "Alice Moreau", None),
];

const DEPARTMENTS: [(&str, &str); 3] =
    [("cardiology", "Cardiology"), ("general", "General Medicine"), ("neurology", "Neurology")];

/// Kinds of visit: department, name, minutes, buffers before and after,
/// price in cents, bookable online, the resource kind it needs.
type Kind = (&'static str, &'static str, u16, u16, u16, i64, bool, Option<&'static str>);
const KINDS: [Kind; 6] = [
    ("cardiology", "Consultation", 30, 0, 0, 6500, true, None),
    ("cardiology", "Echocardiogram", 45, 0, 15, 14000, false, Some("echo")),
    ("general", "Check-up", 30, 0, 0, 4500, true, None),
    ("general", "Minor procedure", 30, 10, 20, 9000, false, Some("procedure-room")),
    ("neurology", "Consultation", 30, 0, 0, 7000, true, None),
    ("neurology", "Nerve conduction study", 60, 0, 10, 16000, false, None),
];
/// Rooms and devices: department, kind, name.
const RESOURCES: [(&str, &str, &str); 3] = [
    ("general", "procedure-room", "Procedure room 1"),
    ("general", "procedure-room", "Procedure room 2"),
    ("cardiology", "echo", "Echo machine"),
];

const FIRST: [&str; 13] =
    ["Bruno", "Chiara", "Dmitri", "Elif", "Farah", "Gustav", "Hana", "Ivo", "Jonas", "Kaja", "Luis", "Mina", "Noor"];
const LAST: [&str; 3] = ["Keller", "Rossi", "Yilmaz"];
const REASONS: [&str; 6] = [
    "Annual check-up",
    "Chest pain follow-up",
    "Blood pressure review",
    "Headache, recurring",
    "Medication review",
    "Lab results discussion",
];

/// A small deterministic generator, so every demo is the same clinic.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// A value of the seed data, checked like any other.
fn valid<T: std::str::FromStr<Err = String>>(s: &str) -> Result<T> {
    s.parse().map_err(|m| Error::Internal(anyhow::anyhow!("demo value `{s}`: {m}")))
}

/// Seeds the clinic into an empty store; does nothing if users exist.
pub async fn seed(st: &State) -> Result<()> {
    if !st.store.read().await?.users(None, 1).await?.is_empty() {
        return Ok(());
    }
    let root = Principal::Admin { user_id: Uuid::nil() };
    let sys = Caller { who: &root, addr: Some("demo-seed") };
    for (code, name) in DEPARTMENTS {
        accounts::create_department(st, &sys, NewDepartment { code: valid(code)?, name: name.into() }).await?;
    }
    let mut doctors = Vec::new();
    let mut patient_ids = Vec::new();
    for login in LOGINS {
        if login.role == Role::Patient {
            let p = patients::create(st, &sys, patient(login.email, login.full_name, 0, Some(login.password))?).await?;
            patient_ids.push(p.patient.id);
            continue;
        }
        let new = NewUser {
            email: valid(login.email)?,
            full_name: login.full_name.into(),
            role: login.role,
            department: login.department.map(valid).transpose()?,
            password: Some(login.password.into()),
            username: None,
        };
        let u = accounts::create_user(st, &sys, new).await?;
        if u.role == Role::Doctor {
            doctors.push((u.id, login.department.unwrap_or_default()));
        }
    }
    // Weekdays 08:00–12:00 and 13:00–17:00.
    let hours: [(ClockTime, ClockTime); 2] = [(valid("08:00")?, valid("12:00")?), (valid("13:00")?, valid("17:00")?)];
    let rules: Vec<AvailabilityRule> = (1..=5)
        .flat_map(|weekday| hours.map(|(start, end)| AvailabilityRule { weekday, start, end, slot_minutes: 30 }))
        .collect();
    for (d, _) in &doctors {
        scheduling::set_rules(st, &sys, *d, rules.clone()).await?;
    }
    for i in 1..40 {
        let name = format!("{} {}", FIRST[i % FIRST.len()], LAST[i % LAST.len()]);
        let email = format!("{}.{}{i}@example.org", FIRST[i % FIRST.len()], LAST[i % LAST.len()]).to_lowercase();
        let p = patients::create(st, &sys, patient(&email, &name, i, None)?).await?;
        patient_ids.push(p.patient.id);
    }
    let kinds = seed_catalog(st, &sys).await?;
    let mut dice = Dice(20_261_127);
    seed_past_week(st, &sys, &doctors, &patient_ids, &rules, &kinds, &mut dice).await?;
    seed_billing(st, &sys, &patient_ids).await?;
    seed_coming_week(st, &sys, &doctors, &patient_ids, &kinds, &mut dice).await?;
    if let (Some((house, _)), Some(alice)) = (doctors.first(), patient_ids.first()) {
        seed_series(st, &sys, *house, *alice).await?;
        seed_waitlist(st, &sys, *house, *alice, &patient_ids).await?;
    }
    Ok(())
}

/// Invoices of last week's visits in every state: Alice owes part of
/// hers, one is paid, one was voided by a credit note, one waits unpaid
/// and one is a draft. Some visits stay unbilled for the front desk.
async fn seed_billing(st: &State, sys: &Caller<'_>, patients: &[Uuid]) -> Result<()> {
    use healthsynx_shared::PaymentMethod;
    use healthsynx_shared::api::{NewInvoice, NewInvoiceLine, NewPayment, VoidInvoice};
    let now = Timestamp::now();
    let past = st
        .store
        .read()
        .await?
        .appointments_in(&ApptScope::All, Some(now - SignedDuration::from_hours(8 * 24)), Some(now), None, usize::MAX)
        .await?;
    let billable = |p: Uuid| {
        past.iter()
            .map(|(_, a)| a)
            .find(|a| a.patient_id == p && a.status == AppointmentStatus::Completed && a.type_id.is_some())
    };
    let visits: Vec<(Uuid, Uuid)> = patients.iter().filter_map(|p| billable(*p).map(|a| (*p, a.id))).take(5).collect();
    for (n, (patient, visit)) in visits.into_iter().enumerate() {
        let certificate = NewInvoiceLine {
            description: "Medical certificate".into(),
            appointment_id: None,
            quantity: 1,
            unit_amount: 1500,
            tax_rate_bp: 1900,
        };
        let lines = if n == 0 { vec![certificate] } else { vec![] };
        let draft =
            billing::create(st, sys, NewInvoice { patient_id: patient, appointment_ids: vec![visit], lines }, None)
                .await?;
        if n == 4 {
            continue;
        }
        let issued = billing::issue(st, sys, draft.id, None).await?;
        let pay = |amount, method| NewPayment { amount, method, reference: None };
        match n {
            0 => {
                billing::pay(st, sys, issued.id, pay(issued.total / 2, PaymentMethod::Card), None).await?;
            }
            1 => {
                billing::pay(st, sys, issued.id, pay(issued.total, PaymentMethod::Cash), None).await?;
            }
            2 => {
                let reason = valid("Billed to the wrong insurer")?;
                billing::void(st, sys, issued.id, VoidInvoice { reason }, None).await?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Alice waits for any earlier time with the first doctor from tomorrow
/// (the first waitlist round offers her one); another patient waits
/// for the doctor's first booked hour tomorrow or later, which frees up
/// only if that visit is cancelled.
async fn seed_waitlist(st: &State, sys: &Caller<'_>, doctor: Uuid, alice: Uuid, patients: &[Uuid]) -> Result<()> {
    let now = Timestamp::now();
    let wish = |patient, earliest, latest, note: &str| -> Result<NewWaitlistEntry> {
        Ok(NewWaitlistEntry {
            patient_id: patient,
            doctor_id: Some(doctor),
            department: None,
            type_id: None,
            earliest,
            latest,
            note: Some(valid(note)?),
        })
    };
    let (from, to) = (now + SignedDuration::from_hours(24), now + SignedDuration::from_hours(24 * 5));
    let soon = wish(alice, from, to, "Earlier blood pressure check")?;
    waitlist::join(st, sys, soon, None).await?;
    let tomorrow = now + SignedDuration::from_hours(18);
    let booked = st
        .store
        .read()
        .await?
        .appointments_in(&ApptScope::Doctor(doctor), Some(tomorrow), None, None, 50)
        .await?
        .into_iter()
        .map(|(_, a)| a)
        .find(|a| a.status == AppointmentStatus::Scheduled && a.patient_id != alice);
    if let (Some(a), Some(waiting)) = (booked, patients.get(7)) {
        waitlist::join(st, sys, wish(*waiting, a.start, a.end, "Follow-up, any earlier time")?, None).await?;
    }
    Ok(())
}

/// Alice's weekly blood pressure review with the first doctor: six weeks
/// from the first free time after the seeded week.
async fn seed_series(st: &State, sys: &Caller<'_>, doctor: Uuid, alice: Uuid) -> Result<()> {
    let from = Timestamp::now() + SignedDuration::from_hours(24 * 9);
    let to = from + SignedDuration::from_hours(24 * 7);
    let Some(first) = scheduling::free_slots(st, doctor, from, to, from, None).await?.into_iter().next() else {
        return Ok(());
    };
    let req = NewSeries {
        patient_id: alice,
        doctor_id: doctor,
        type_id: None,
        start: first.start,
        rule: SeriesRule { every: Every::Week, count: Some(6), until: None },
        reason: valid("Blood pressure review")?,
        on_conflict: OnConflict::Skip,
    };
    series::create(st, sys, req, None).await.map(drop)
}

/// The kinds of visit and the rooms and devices they book.
async fn seed_catalog(st: &State, sys: &Caller<'_>) -> Result<Vec<AppointmentType>> {
    for (department, kind, name) in RESOURCES {
        let r = NewResource { kind: valid(kind)?, name: name.into(), department: valid(department)? };
        catalog::create_resource(st, sys, r, None).await?;
    }
    let mut out = Vec::new();
    for (department, name, minutes, before, after, cents, online, needs) in KINDS {
        let t = NewAppointmentType {
            department: valid(department)?,
            name: name.into(),
            minutes,
            buffer_before: before,
            buffer_after: after,
            price: Money { amount: cents, currency: valid("EUR")? },
            patient_bookable: online,
            resource_kind: needs.map(valid).transpose()?,
        };
        out.push(catalog::create_type(st, sys, t, None).await?);
    }
    Ok(out)
}

fn patient(email: &str, name: &str, i: usize, password: Option<&str>) -> Result<NewPatient> {
    Ok(NewPatient {
        email: valid(email)?,
        full_name: name.into(),
        date_of_birth: format!("{}-{:02}-{:02}", 1950 + (i * 7) % 60, 1 + i % 12, 1 + (i * 3) % 28),
        phone: format!("+49 30 5550{i:03}"),
        insurance_id: Some(format!("INS-{}", &crate::crypto::sha256_hex(email.as_bytes())[..8]).to_uppercase()),
        patient_type: if i % 9 == 4 { PatientType::Inpatient } else { PatientType::Outpatient },
        password: password.map(str::to_owned),
    })
}

/// Free slots of `doctor` from now on for `days`, one of every `step`.
async fn coming_slots(st: &State, doctor: Uuid, days: i64) -> Result<Vec<Timestamp>> {
    let now = Timestamp::now();
    let to = now + SignedDuration::from_hours(24 * days);
    Ok(scheduling::free_slots(st, doctor, now, to, now, None).await?.into_iter().map(|s| s.start).collect())
}

/// Today's remaining day and the next week: booked through the real rules,
/// some already checked in or cancelled.
async fn seed_coming_week(
    st: &State,
    sys: &Caller<'_>,
    doctors: &[(Uuid, &str)],
    patients: &[Uuid],
    kinds: &[AppointmentType],
    dice: &mut Dice,
) -> Result<()> {
    for (n, (doctor, dept)) in doctors.iter().enumerate() {
        let slots = coming_slots(st, *doctor, 8).await?;
        let offered: Vec<&AppointmentType> = kinds.iter().filter(|k| k.department == *dept).collect();
        for (i, start) in slots.iter().enumerate().filter(|(i, _)| (i + n) % 3 != 0) {
            let patient = patients[(i * 7 + n * 5) % patients.len()];
            // Mostly the department's first kind, every fifth visit its second
            // (with buffers, and a room or a device where it needs one); a
            // visit whose buffers no longer fit is simply not booked.
            let kind = offered.get(usize::from(i % 5 == 2)).map(|k| k.id);
            let req = healthsynx_shared::api::NewAppointment {
                patient_id: patient,
                doctor_id: *doctor,
                start: *start,
                end: None,
                reason: valid(REASONS[dice.roll(REASONS.len() as u64) as usize])?,
                type_id: kind,
            };
            let Ok(Booked::New(a)) = scheduling::book(st, sys, req, None).await else { continue };
            if i < 2 && a.start - st.config.checkin_early <= Timestamp::now() {
                // The next patients, due within the check-in window, are already in the waiting room.
                scheduling::transition(st, sys, a.id, AppointmentAction::CheckIn, None, None).await?;
            } else if dice.roll(12) == 0 {
                scheduling::transition(st, sys, a.id, AppointmentAction::Cancel, None, Some(valid("Patient called")?))
                    .await?;
            }
        }
    }
    Ok(())
}

/// The past week and today up to now, written straight into the store (the
/// booking rules refuse the past): completed visits with records, no-shows and
/// cancellations. Today's morning is included so the front desk's opening
/// screen is a working day whatever the hour.
async fn seed_past_week(
    st: &State,
    sys: &Caller<'_>,
    doctors: &[(Uuid, &str)],
    patients: &[Uuid],
    rules: &[AvailabilityRule],
    kinds: &[AppointmentType],
    dice: &mut Dice,
) -> Result<()> {
    // Past visits were consultations of their department, so they can be billed.
    let consultation = |dept: &str| {
        kinds.iter().find(|t| t.department == dept && t.minutes == 30 && t.resource_kind.is_none()).map(|t| t.id)
    };
    let tz = st.config.tz.clone();
    let now = Timestamp::now();
    let today = now.to_zoned(tz.clone()).date();
    let mut visits = Vec::new();
    // Rows written so far in this transaction (a backend need not show them to its reads).
    let mut written: Vec<(Uuid, Timestamp, Timestamp)> = Vec::new();
    let mut tx = st.store.begin().await?;
    {
        for back in 0..=7i64 {
            let day: Date = today - jiff::Span::new().days(back);
            let weekday = day.weekday().to_monday_one_offset() as u8;
            for (n, (doctor, dept)) in doctors.iter().enumerate() {
                for (r, rule) in rules.iter().filter(|r| r.weekday == weekday).enumerate() {
                    let hour = (rule.start.minutes() / 60) as i8;
                    for k in 0..3i64 {
                        let Ok(local) = day.at(hour, 0, 0, 0).to_zoned(tz.clone()) else { continue };
                        let start = local.timestamp() + SignedDuration::from_mins(60 * k + 30 * (n as i64 % 2));
                        if start + SignedDuration::from_mins(30) > now {
                            continue;
                        }
                        let id = Uuid::now_v7();
                        let status = match dice.roll(10) {
                            0 => AppointmentStatus::NoShow,
                            1 => AppointmentStatus::Cancelled,
                            _ => AppointmentStatus::Completed,
                        };
                        let patient = patients[(back as usize * 11 + n * 7 + r * 3 + k as usize) % patients.len()];
                        let row = AppointmentRow {
                            id,
                            patient_id: patient,
                            doctor_id: *doctor,
                            department: (*dept).to_owned(),
                            start,
                            end: start + SignedDuration::from_mins(30),
                            status,
                            reason_sealed: st
                                .sealer
                                .seal(REASONS[dice.roll(REASONS.len() as u64) as usize], id.as_bytes())?,
                            cancel_reason_sealed: None,
                            version: 1,
                            created_at: start - SignedDuration::from_hours(72),
                            updated_at: start,
                            created_by: sys.who.user_id(),
                            type_id: consultation(dept),
                            resource_id: None,
                            buffer_before: 0,
                            buffer_after: 0,
                            series_id: None,
                        };
                        // A patient is never in two places: skip clashes.
                        let clash = written.iter().any(|(p, s, e)| *p == patient && *s < row.end && row.start < *e);
                        let scope = crate::scope::ApptScope::Patient(patient);
                        if clash || !tx.overlapping(&scope, row.start, row.end, None).await?.is_empty() {
                            continue;
                        }
                        tx.put_appointment(&row, None).await?;
                        written.push((patient, row.start, row.end));
                        tx.audit(
                            Draft::new(&sys.actor(), Action::AppointmentCreate, "appointment", Some(id))
                                .patient(patient),
                        );
                        if status == AppointmentStatus::Completed && dice.roll(2) == 0 {
                            visits.push((id, row.end));
                        }
                    }
                }
            }
        }
    }
    tx.commit().await?;
    for (i, (appointment_id, ended)) in visits.into_iter().enumerate() {
        let rec = NewRecord {
            appointment_id,
            diagnosis: [
                "Essential hypertension, well controlled",
                "Tension headache",
                "Seasonal allergic rhinitis",
                "Type 2 diabetes, stable",
            ][i % 4]
                .into(),
            notes: "Discussed findings. Continue current plan; review in 3 months.".into(),
            prescriptions: vec![Prescription {
                drug: ["Ramipril", "Ibuprofen", "Cetirizine", "Metformin"][i % 4].into(),
                dose: ["5 mg", "400 mg", "10 mg", "500 mg"][i % 4].into(),
                frequency: ["once daily", "as needed", "once daily", "twice daily"][i % 4].into(),
                days: [90, 10, 30, 90][i % 4],
            }],
        };
        // Written as the visit ended, not all at the minute the demo started.
        let written = (ended + SignedDuration::from_mins(3 + (i as i64 * 7) % 12)).min(Timestamp::now());
        records::create_written_at(st, sys, rec, written).await?;
    }
    Ok(())
}
