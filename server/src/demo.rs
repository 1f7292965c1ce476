//! The demo clinic for `--demo`: departments, one user of each role,
//! doctors with weekly hours, patients and a few appointments.

use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;

use healthsynx_shared::api::{NewAppointment, NewDepartment, NewPatient, NewRecord, NewUser};
use healthsynx_shared::{AvailabilityRule, PatientType, Prescription, Role};

use crate::domain::{Caller, State, accounts, patients, records, scheduling};
use crate::error::Result;
use crate::policy::Principal;

/// A login printed at start-up and listed in the README.
pub struct DemoLogin {
    pub role: Role,
    pub email: &'static str,
    pub password: &'static str,
}

/// The demo logins (also in the README).
pub const LOGINS: &[DemoLogin] = &[
    DemoLogin { role: Role::Admin, email: "admin@demo.healthsynx.dev", password: "lantern-orbit-meadow-51" },
    DemoLogin { role: Role::Receptionist, email: "frontdesk@demo.healthsynx.dev", password: "copper-harbor-violet-27" },
    DemoLogin { role: Role::Doctor, email: "dr.house@demo.healthsynx.dev", password: "granite-willow-saffron-83" },
    DemoLogin { role: Role::Doctor, email: "dr.grey@demo.healthsynx.dev", password: "marble-thistle-beacon-64" },
    DemoLogin { role: Role::Nurse, email: "nurse.joy@demo.healthsynx.dev", password: "velvet-compass-juniper-19" },
    DemoLogin { role: Role::Patient, email: "alice@demo.healthsynx.dev", password: "saffron-kettle-glacier-72" },
];

const NAMES: &[&str] =
    &["Ada Admin", "Frank Desk", "Gregory House", "Meredith Grey", "Joy Nightingale", "Alice Moreau"];

/// Seeds the clinic into an empty store. Idempotent: does nothing if users exist.
pub async fn seed(st: &State) -> Result<()> {
    if st.store.users_after(None).next().is_some() {
        return Ok(());
    }
    let root = Principal { user_id: Uuid::nil(), role: Role::Admin, department: None, patient_id: None };
    let sys = Caller { who: &root, addr: Some("demo-seed") };
    for (code, name) in [("cardiology", "Cardiology"), ("general", "General Medicine")] {
        accounts::create_department(st, &sys, NewDepartment { code: code.into(), name: name.into() }).await?;
    }
    let mut doctors = Vec::new();
    let mut alice = None;
    for (login, name) in LOGINS.iter().zip(NAMES) {
        let department = match login.email {
            e if e.starts_with("dr.grey") => Some("general".to_owned()),
            _ if login.role.needs_department() => Some("cardiology".to_owned()),
            _ => None,
        };
        if login.role == Role::Patient {
            let p =
                patients::create(st, &sys, patient(login.email, name, "+49 30 5550101", Some(login.password))).await?;
            alice = Some(p.patient.id);
            continue;
        }
        let new = NewUser {
            email: login.email.into(),
            full_name: (*name).into(),
            role: login.role,
            department,
            password: Some(login.password.into()),
            username: None,
        };
        let u = accounts::create_user(st, &sys, new).await?;
        if u.role == Role::Doctor {
            doctors.push(u.id);
        }
    }
    let weekdays = (1..=5).flat_map(|d| {
        [
            AvailabilityRule { weekday: d, start: "09:00".into(), end: "12:00".into(), slot_minutes: 30 },
            AvailabilityRule { weekday: d, start: "13:00".into(), end: "17:00".into(), slot_minutes: 30 },
        ]
    });
    let rules: Vec<AvailabilityRule> = weekdays.collect();
    for d in &doctors {
        scheduling::set_rules(st, &sys, *d, rules.clone()).await?;
    }
    let mut patient_ids: Vec<Uuid> = alice.into_iter().collect();
    for (i, name) in ["Bruno Keller", "Chiara Rossi", "Dmitri Volkov", "Elif Yilmaz"].iter().enumerate() {
        let email = format!("{}@example.org", name.to_lowercase().replace(' ', "."));
        let p = patients::create(st, &sys, patient(&email, name, &format!("+49 30 555020{i}"), None)).await?;
        patient_ids.push(p.patient.id);
    }
    book_some(st, &sys, &doctors, &patient_ids).await
}

fn patient(email: &str, name: &str, phone: &str, password: Option<&str>) -> NewPatient {
    NewPatient {
        email: email.into(),
        full_name: name.into(),
        date_of_birth: "1984-05-17".into(),
        phone: phone.into(),
        insurance_id: Some(format!("INS-{}", &crate::crypto::sha256_hex(email.as_bytes())[..8]).to_uppercase()),
        patient_type: PatientType::Outpatient,
        password: password.map(str::to_owned),
    }
}

/// Books the first free slots of the next working days, one patient each,
/// and writes a record for the first.
async fn book_some(st: &State, sys: &Caller<'_>, doctors: &[Uuid], patients: &[Uuid]) -> Result<()> {
    let from = Timestamp::now();
    let to = from + SignedDuration::from_hours(24 * 7);
    let mut first = None;
    for (n, doctor) in doctors.iter().enumerate() {
        let slots = scheduling::free_slots(st, *doctor, from, to, from)?;
        for (i, (slot, patient)) in slots.iter().step_by(3).zip(patients.iter().cycle().skip(n)).take(6).enumerate() {
            let req = NewAppointment {
                patient_id: *patient,
                doctor_id: *doctor,
                start: slot.start,
                end: None,
                reason: ["Annual check-up", "Chest pain follow-up", "Blood pressure review"][i % 3].into(),
            };
            if let Ok(scheduling::Booked::New(a)) = scheduling::book(st, sys, req, None).await {
                first.get_or_insert(a.id);
            }
        }
    }
    if let Some(appointment_id) = first {
        let rec = NewRecord {
            appointment_id,
            diagnosis: "Essential hypertension, well controlled".into(),
            notes: "BP 128/82. Continue current medication; review in 3 months.".into(),
            prescriptions: vec![Prescription {
                drug: "Ramipril".into(),
                dose: "5 mg".into(),
                frequency: "once daily".into(),
                days: 90,
            }],
        };
        records::create(st, sys, rec).await?;
    }
    Ok(())
}
