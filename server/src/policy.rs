//! Who may do what: the one place that decides. Pure functions over the
//! actor, the action and facts about the resource; handlers call these and
//! never compare roles themselves.
//!
//! Two answers for "no": `Forbidden` (403) when the role may never do this
//! kind of action, `NotFound` (404) when the object is outside the caller's
//! scope, so nobody learns that another patient's object exists.

use uuid::Uuid;

use healthsynx_shared::Role;

use crate::error::{Error, Result};
use crate::scope::{ApptScope, CareScope};

/// The authenticated caller, decided on the server from the token.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: Uuid,
    pub role: Role,
    pub department: Option<String>,
    /// The caller's own patient profile, for patients.
    pub patient_id: Option<Uuid>,
}

fn forbidden(what: &str) -> Error {
    Error::Forbidden(format!("your role may not {what}"))
}

/// Facts about how a patient relates to the caller, looked up by the domain.
#[derive(Debug, Clone, Copy, Default)]
pub struct CareFacts {
    /// The caller (a doctor) has a non-cancelled appointment with the patient.
    pub doctor_cares: bool,
    /// The caller's department has a non-cancelled appointment with the patient.
    pub department_cares: bool,
}

/// Which care fact a role's scope rests on, so the domain looks up only that.
pub fn care_question(p: &Principal) -> Option<CareScope> {
    match (p.role, &p.department) {
        (Role::Doctor, _) => Some(CareScope::Doctor(p.user_id)),
        (Role::Nurse, Some(d)) => Some(CareScope::Department(d.clone())),
        _ => None,
    }
}

fn in_care(p: &Principal, patient: Uuid, care: CareFacts) -> bool {
    match p.role {
        Role::Patient => p.patient_id == Some(patient),
        Role::Doctor => care.doctor_cares,
        Role::Nurse => care.department_cares,
        Role::Receptionist | Role::Admin => true,
    }
}

// ---- accounts ----

/// User administration, departments writes, backups: admins only.
pub fn administer(p: &Principal) -> Result<()> {
    if p.role == Role::Admin { Ok(()) } else { Err(forbidden("administer accounts")) }
}

/// The audit log and its verification: admins only.
pub fn read_audit(p: &Principal) -> Result<()> {
    if p.role == Role::Admin { Ok(()) } else { Err(forbidden("read the audit log")) }
}

/// "Who looked at my data": patients only.
pub fn read_own_access_log(p: &Principal) -> Result<Uuid> {
    match (p.role, p.patient_id) {
        (Role::Patient, Some(id)) => Ok(id),
        _ => Err(forbidden("read a patient access log")),
    }
}

// ---- patients ----

/// Who may register patients.
pub fn create_patient(p: &Principal) -> Result<()> {
    match p.role {
        Role::Receptionist | Role::Admin => Ok(()),
        _ => Err(forbidden("register patients")),
    }
}

/// Whose patients a list shows.
#[derive(Debug, Clone)]
pub enum PatientList {
    All,
    Own(Uuid),
    Care(CareScope),
}

/// The patient list a caller sees.
pub fn list_patients(p: &Principal) -> Result<PatientList> {
    match p.role {
        Role::Patient => p.patient_id.map(PatientList::Own).ok_or_else(|| forbidden("list patients")),
        Role::Doctor | Role::Nurse => care_question(p).map(PatientList::Care).ok_or_else(|| forbidden("list patients")),
        Role::Receptionist | Role::Admin => Ok(PatientList::All),
    }
}

/// Reading one patient profile.
pub fn read_patient(p: &Principal, patient: Uuid, care: CareFacts) -> Result<()> {
    if in_care(p, patient, care) { Ok(()) } else { Err(Error::NotFound) }
}

/// Which profile fields a caller may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatientEdit {
    Any,
    PhoneOnly,
}

/// Changing one patient profile.
pub fn patch_patient(p: &Principal, patient: Uuid, care: CareFacts) -> Result<PatientEdit> {
    read_patient(p, patient, care)?;
    match p.role {
        Role::Receptionist | Role::Admin => Ok(PatientEdit::Any),
        Role::Patient => Ok(PatientEdit::PhoneOnly),
        Role::Doctor | Role::Nurse => Err(forbidden("change patient profiles")),
    }
}

/// Whether `insurance_id` is shown in clear (else `****` + last 4).
pub fn sees_clear_insurance(p: &Principal) -> bool {
    matches!(p.role, Role::Patient | Role::Receptionist | Role::Admin)
}

// ---- availability and calendars ----

/// Reading a doctor's availability rules and time off.
pub fn read_availability(p: &Principal, doctor: Uuid, doctor_dept: &str) -> Result<()> {
    match p.role {
        Role::Patient => Err(forbidden("read availability rules")),
        Role::Doctor if p.user_id != doctor => Err(Error::NotFound),
        Role::Nurse if p.department.as_deref() != Some(doctor_dept) => Err(Error::NotFound),
        _ => Ok(()),
    }
}

/// Changing a doctor's rules or time off.
pub fn write_availability(p: &Principal, doctor: Uuid) -> Result<()> {
    match p.role {
        Role::Patient | Role::Nurse => Err(forbidden("change availability")),
        Role::Doctor if p.user_id != doctor => Err(Error::NotFound),
        _ => Ok(()),
    }
}

/// Reading a doctor's calendar (who comes when).
pub fn read_calendar(p: &Principal, doctor: Uuid, doctor_dept: &str) -> Result<()> {
    match p.role {
        Role::Patient => Err(forbidden("read a doctor's calendar")),
        Role::Doctor if p.user_id != doctor => Err(Error::NotFound),
        Role::Nurse if p.department.as_deref() != Some(doctor_dept) => Err(Error::NotFound),
        _ => Ok(()),
    }
}

// ---- appointments ----

/// The parts of an appointment that decide access.
#[derive(Debug, Clone, Copy)]
pub struct ApptFacts<'a> {
    pub patient_id: Uuid,
    pub doctor_id: Uuid,
    pub department: &'a str,
}

fn sees_appointment(p: &Principal, a: ApptFacts) -> bool {
    match p.role {
        Role::Patient => p.patient_id == Some(a.patient_id),
        Role::Doctor => p.user_id == a.doctor_id,
        Role::Nurse => p.department.as_deref() == Some(a.department),
        Role::Receptionist | Role::Admin => true,
    }
}

/// Reading one appointment.
pub fn read_appointment(p: &Principal, a: ApptFacts) -> Result<()> {
    if sees_appointment(p, a) { Ok(()) } else { Err(Error::NotFound) }
}

/// The index a caller's appointment list must be read from, or `None` when
/// the caller sees everything and may choose.
pub fn appointment_list_scope(p: &Principal) -> Result<Option<ApptScope>> {
    match p.role {
        Role::Patient => {
            p.patient_id.map(|id| Some(ApptScope::Patient(id))).ok_or_else(|| forbidden("list appointments"))
        }
        Role::Doctor => Ok(Some(ApptScope::Doctor(p.user_id))),
        Role::Nurse => {
            p.department.clone().map(|d| Some(ApptScope::Department(d))).ok_or_else(|| forbidden("list appointments"))
        }
        Role::Receptionist | Role::Admin => Ok(None),
    }
}

/// Booking an appointment for `patient` with `doctor`. Doctors book
/// follow-ups on their own calendar for patients already in their care.
pub fn book(p: &Principal, patient: Uuid, doctor: Uuid, care: CareFacts) -> Result<()> {
    match p.role {
        Role::Patient if p.patient_id != Some(patient) => Err(forbidden("book for another patient")),
        Role::Doctor if p.user_id != doctor => Err(forbidden("book on another doctor's calendar")),
        Role::Doctor if !care.doctor_cares => Err(Error::NotFound),
        Role::Nurse => Err(forbidden("book appointments")),
        _ => Ok(()),
    }
}

/// The status changes and edits of an appointment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApptAction {
    Reschedule,
    Cancel,
    CheckIn,
    Complete,
    NoShow,
}

/// Whether a caller may take `action` on an appointment they can see.
/// A patient's cancel is further bound by the cancel window (domain rule).
pub fn act_on_appointment(p: &Principal, a: ApptFacts, action: ApptAction) -> Result<()> {
    read_appointment(p, a)?;
    use ApptAction::*;
    let allowed = match p.role {
        Role::Receptionist | Role::Admin => true,
        Role::Patient => action == Cancel,
        Role::Doctor => matches!(action, Complete | NoShow),
        Role::Nurse => action == CheckIn,
    };
    if allowed { Ok(()) } else { Err(forbidden("do this to an appointment")) }
}

/// Whether the caller's cancels must respect `HEALTHSYNX_CANCEL_HOURS`
/// (patients online; the front desk may cancel any time).
pub fn bound_by_cancel_window(p: &Principal) -> bool {
    p.role == Role::Patient
}

// ---- medical records ----

/// Who may list records at all (receptionists never see clinical content).
pub fn list_records(p: &Principal) -> Result<()> {
    if p.role == Role::Receptionist { Err(forbidden("read medical records")) } else { Ok(()) }
}

/// Reading the records of `patient`.
pub fn read_records_of(p: &Principal, patient: Uuid, care: CareFacts) -> Result<()> {
    if p.role == Role::Receptionist || !in_care(p, patient, care) { Err(Error::NotFound) } else { Ok(()) }
}

/// Whether retracted records may be listed.
pub fn sees_retracted(p: &Principal) -> bool {
    matches!(p.role, Role::Doctor | Role::Admin)
}

/// Whether the role writes records at all (doctors and admins).
pub fn write_records(p: &Principal) -> Result<()> {
    match p.role {
        Role::Doctor | Role::Admin => Ok(()),
        _ => Err(forbidden("write medical records")),
    }
}

/// Writing a record for an appointment the caller can see: only its doctor or an admin.
pub fn create_record(p: &Principal, appointment_doctor: Uuid) -> Result<()> {
    match p.role {
        Role::Admin => Ok(()),
        Role::Doctor if p.user_id == appointment_doctor => Ok(()),
        Role::Doctor => Err(forbidden("write records for another doctor's appointment")),
        _ => Err(forbidden("write medical records")),
    }
}

/// Editing or retracting a record the caller can read: its author or an admin.
pub fn change_record(p: &Principal, author: Uuid) -> Result<()> {
    match p.role {
        Role::Admin => Ok(()),
        Role::Doctor if p.user_id == author => Ok(()),
        Role::Doctor => Err(forbidden("change another doctor's record")),
        _ => Err(forbidden("change medical records")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEPT: &str = "cardiology";

    fn who(role: Role) -> Principal {
        Principal {
            user_id: Uuid::from_u128(role as u128 + 1),
            role,
            department: role.needs_department().then(|| DEPT.to_owned()),
            patient_id: (role == Role::Patient).then(|| Uuid::from_u128(100)),
        }
    }

    fn code<T>(r: Result<T>) -> u16 {
        match r {
            Ok(_) => 200,
            Err(e) => e.status(),
        }
    }

    const OWN_PATIENT: Uuid = Uuid::from_u128(100);
    const OTHER_PATIENT: Uuid = Uuid::from_u128(200);
    const CARED: CareFacts = CareFacts { doctor_cares: true, department_cares: true };
    const UNCARED: CareFacts = CareFacts { doctor_cares: false, department_cares: false };

    /// Runs `f` for each role in `Role::ALL` order and compares with `want`.
    fn table(want: [u16; 5], f: impl Fn(&Principal) -> u16) {
        for (role, want) in Role::ALL.into_iter().zip(want) {
            assert_eq!(f(&who(role)), want, "{role}");
        }
    }

    // Columns: patient, doctor, nurse, receptionist, admin.

    #[test]
    fn administration_is_admin_only() {
        table([403, 403, 403, 403, 200], |p| code(administer(p)));
        table([403, 403, 403, 403, 200], |p| code(read_audit(p)));
        table([200, 403, 403, 403, 403], |p| code(read_own_access_log(p)));
    }

    #[test]
    fn patient_profiles_follow_care() {
        table([403, 403, 403, 200, 200], |p| code(create_patient(p)));
        table([200, 200, 200, 200, 200], |p| code(read_patient(p, OWN_PATIENT, CARED)));
        table([404, 404, 404, 200, 200], |p| code(read_patient(p, OTHER_PATIENT, UNCARED)));
        table([200, 403, 403, 200, 200], |p| code(patch_patient(p, OWN_PATIENT, CARED)));
        table([404, 404, 404, 200, 200], |p| code(patch_patient(p, OTHER_PATIENT, UNCARED)));
        assert_eq!(patch_patient(&who(Role::Patient), OWN_PATIENT, UNCARED).ok(), Some(PatientEdit::PhoneOnly));
        table([1, 0, 0, 1, 1], |p| u16::from(sees_clear_insurance(p)));
    }

    #[test]
    fn availability_and_calendars() {
        let own = Uuid::from_u128(Role::Doctor as u128 + 1);
        let other = Uuid::from_u128(999);
        table([403, 200, 200, 200, 200], |p| code(read_availability(p, own, DEPT)));
        table([403, 404, 404, 200, 200], |p| code(read_availability(p, other, "neurology")));
        table([403, 200, 403, 200, 200], |p| code(write_availability(p, own)));
        table([403, 404, 403, 200, 200], |p| code(write_availability(p, other)));
        table([403, 200, 200, 200, 200], |p| code(read_calendar(p, own, DEPT)));
        table([403, 404, 404, 200, 200], |p| code(read_calendar(p, other, "neurology")));
    }

    #[test]
    fn appointments_by_role() {
        let own_doctor = Uuid::from_u128(Role::Doctor as u128 + 1);
        let mine = ApptFacts { patient_id: OWN_PATIENT, doctor_id: own_doctor, department: DEPT };
        let theirs = ApptFacts { patient_id: OTHER_PATIENT, doctor_id: Uuid::from_u128(999), department: "neurology" };
        table([200, 200, 200, 200, 200], |p| code(read_appointment(p, mine)));
        table([404, 404, 404, 200, 200], |p| code(read_appointment(p, theirs)));
        use ApptAction::*;
        table([403, 403, 403, 200, 200], |p| code(act_on_appointment(p, mine, Reschedule)));
        table([200, 403, 403, 200, 200], |p| code(act_on_appointment(p, mine, Cancel)));
        table([403, 403, 200, 200, 200], |p| code(act_on_appointment(p, mine, CheckIn)));
        table([403, 200, 403, 200, 200], |p| code(act_on_appointment(p, mine, Complete)));
        table([403, 200, 403, 200, 200], |p| code(act_on_appointment(p, mine, NoShow)));
        table([404, 404, 404, 200, 200], |p| code(act_on_appointment(p, theirs, Cancel)));
        table([200, 200, 403, 200, 200], |p| code(book(p, OWN_PATIENT, own_doctor, CARED)));
        table([403, 404, 403, 200, 200], |p| code(book(p, OTHER_PATIENT, own_doctor, UNCARED)));
        table([200, 403, 403, 200, 200], |p| code(book(p, OWN_PATIENT, Uuid::from_u128(999), CARED)));
    }

    #[test]
    fn records_by_role() {
        let own_doctor = Uuid::from_u128(Role::Doctor as u128 + 1);
        table([200, 200, 200, 403, 200], |p| code(list_records(p)));
        table([200, 200, 200, 404, 200], |p| code(read_records_of(p, OWN_PATIENT, CARED)));
        table([404, 404, 404, 404, 200], |p| code(read_records_of(p, OTHER_PATIENT, UNCARED)));
        table([403, 200, 403, 403, 200], |p| code(write_records(p)));
        table([403, 200, 403, 403, 200], |p| code(create_record(p, own_doctor)));
        table([403, 403, 403, 403, 200], |p| code(create_record(p, Uuid::from_u128(999))));
        table([403, 200, 403, 403, 200], |p| code(change_record(p, own_doctor)));
        table([0, 1, 0, 0, 1], |p| u16::from(sees_retracted(p)));
    }
}
