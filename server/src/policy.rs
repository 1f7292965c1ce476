//! Who may do what: the one place that decides. Pure functions over the
//! actor, the action and facts about the resource; handlers call these and
//! never compare roles themselves.
//!
//! Two answers for "no": `Forbidden` (403) when the role may never do this
//! kind of action, `NotFound` (404) when the object is outside the caller's
//! scope, so nobody learns that another patient's object exists.

use uuid::Uuid;

use healthsynx_shared::Role;
use healthsynx_shared::api::AppointmentAction;

use crate::error::{Error, Result};
use crate::scope::{ApptScope, CareScope};

/// The authenticated caller, decided on the server from the token. Shaped by
/// role, so a patient always has a profile and a nurse a department, and no
/// rule has to ask what to do when they are missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Patient { user_id: Uuid, patient_id: Uuid },
    Doctor { user_id: Uuid, department: String },
    Nurse { user_id: Uuid, department: String },
    Receptionist { user_id: Uuid },
    Admin { user_id: Uuid },
}

impl Principal {
    /// The principal of an account, or `None` when the account lacks what
    /// its role needs (a patient without a profile, a nurse without a department).
    pub fn of(user_id: Uuid, role: Role, department: Option<String>, patient_id: Option<Uuid>) -> Option<Self> {
        Some(match role {
            Role::Patient => Principal::Patient { user_id, patient_id: patient_id? },
            Role::Doctor => Principal::Doctor { user_id, department: department? },
            Role::Nurse => Principal::Nurse { user_id, department: department? },
            Role::Receptionist => Principal::Receptionist { user_id },
            Role::Admin => Principal::Admin { user_id },
        })
    }

    pub fn user_id(&self) -> Uuid {
        match self {
            Principal::Patient { user_id, .. }
            | Principal::Doctor { user_id, .. }
            | Principal::Nurse { user_id, .. }
            | Principal::Receptionist { user_id }
            | Principal::Admin { user_id } => *user_id,
        }
    }

    pub fn role(&self) -> Role {
        match self {
            Principal::Patient { .. } => Role::Patient,
            Principal::Doctor { .. } => Role::Doctor,
            Principal::Nurse { .. } => Role::Nurse,
            Principal::Receptionist { .. } => Role::Receptionist,
            Principal::Admin { .. } => Role::Admin,
        }
    }

    /// A patient's own profile.
    pub fn patient_id(&self) -> Option<Uuid> {
        match self {
            Principal::Patient { patient_id, .. } => Some(*patient_id),
            _ => None,
        }
    }

    /// Whether this is the doctor `doctor`.
    fn is_doctor(&self, doctor: Uuid) -> bool {
        matches!(self, Principal::Doctor { user_id, .. } if *user_id == doctor)
    }

    /// Whether this is a nurse of `department`.
    fn is_nurse_of(&self, dept: &str) -> bool {
        matches!(self, Principal::Nurse { department, .. } if department == dept)
    }
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
    /// The caller holds a live break-glass grant on the patient. The domain
    /// looks it up only after the rest said no, so in-scope reads cost nothing more.
    pub grant: Option<Uuid>,
}

/// How a read of a patient's data is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Within the caller's normal scope.
    InScope,
    /// Only through this break-glass grant: read only, audited as emergency access.
    Emergency(Uuid),
}

impl Reach {
    /// The grant an emergency access goes through.
    pub fn grant(self) -> Option<Uuid> {
        match self {
            Reach::InScope => None,
            Reach::Emergency(g) => Some(g),
        }
    }
}

/// Which care fact a role's scope rests on, so the domain looks up only that.
pub fn care_question(p: &Principal) -> Option<CareScope> {
    match p {
        Principal::Doctor { user_id, .. } => Some(CareScope::Doctor(*user_id)),
        Principal::Nurse { department, .. } => Some(CareScope::Department(department.clone())),
        _ => None,
    }
}

/// Whether a break-glass grant could widen what `p` may read: clinical staff,
/// whose scope is care. Only for them does the domain look a grant up.
pub fn may_hold_grant(p: &Principal) -> bool {
    matches!(p, Principal::Doctor { .. } | Principal::Nurse { .. })
}

/// Reading a patient's data: in care, or else through a live grant.
fn reach(p: &Principal, patient: Uuid, care: CareFacts) -> Option<Reach> {
    if in_care(p, patient, care) {
        return Some(Reach::InScope);
    }
    care.grant.filter(|_| may_hold_grant(p)).map(Reach::Emergency)
}

fn in_care(p: &Principal, patient: Uuid, care: CareFacts) -> bool {
    match p {
        Principal::Patient { patient_id, .. } => *patient_id == patient,
        Principal::Doctor { .. } => care.doctor_cares,
        Principal::Nurse { .. } => care.department_cares,
        Principal::Receptionist { .. } | Principal::Admin { .. } => true,
    }
}

// ---- accounts ----

/// User administration, departments writes, backups: admins only.
pub fn administer(p: &Principal) -> Result<()> {
    if p.role() == Role::Admin { Ok(()) } else { Err(forbidden("administer accounts")) }
}

/// Appointment types, rooms and devices: admins change them.
pub fn manage_catalog(p: &Principal) -> Result<()> {
    if p.role() == Role::Admin { Ok(()) } else { Err(forbidden("change appointment types and resources")) }
}

/// The audit log and its verification: admins only.
pub fn read_audit(p: &Principal) -> Result<()> {
    if p.role() == Role::Admin { Ok(()) } else { Err(forbidden("read the audit log")) }
}

/// "Who looked at my data": patients only.
pub fn read_own_access_log(p: &Principal) -> Result<Uuid> {
    p.patient_id().ok_or_else(|| forbidden("read a patient access log"))
}

// ---- patients ----

/// Who may register patients.
pub fn create_patient(p: &Principal) -> Result<()> {
    match p.role() {
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
    Ok(match p {
        Principal::Patient { patient_id, .. } => PatientList::Own(*patient_id),
        Principal::Doctor { user_id, .. } => PatientList::Care(CareScope::Doctor(*user_id)),
        Principal::Nurse { department, .. } => PatientList::Care(CareScope::Department(department.clone())),
        Principal::Receptionist { .. } | Principal::Admin { .. } => PatientList::All,
    })
}

/// Reading one patient profile.
pub fn read_patient(p: &Principal, patient: Uuid, care: CareFacts) -> Result<Reach> {
    reach(p, patient, care).ok_or(Error::NotFound)
}

/// Which profile fields a caller may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatientEdit {
    Any,
    PhoneOnly,
}

/// Changing one patient profile. A grant never helps: emergency access reads only.
pub fn patch_patient(p: &Principal, patient: Uuid, care: CareFacts) -> Result<PatientEdit> {
    if !in_care(p, patient, care) {
        return Err(Error::NotFound);
    }
    match p.role() {
        Role::Receptionist | Role::Admin => Ok(PatientEdit::Any),
        Role::Patient => Ok(PatientEdit::PhoneOnly),
        Role::Doctor | Role::Nurse => Err(forbidden("change patient profiles")),
    }
}

/// Whether `insurance_id` is shown in clear (else `****` + last 4).
pub fn sees_clear_insurance(p: &Principal) -> bool {
    matches!(p.role(), Role::Patient | Role::Receptionist | Role::Admin)
}

// ---- availability and calendars ----

/// Reading a doctor's availability rules and time off.
pub fn read_availability(p: &Principal, doctor: Uuid, doctor_dept: &str) -> Result<()> {
    match p {
        Principal::Patient { .. } => Err(forbidden("read availability rules")),
        Principal::Doctor { .. } if !p.is_doctor(doctor) => Err(Error::NotFound),
        Principal::Nurse { .. } if !p.is_nurse_of(doctor_dept) => Err(Error::NotFound),
        _ => Ok(()),
    }
}

/// Changing a doctor's rules or time off.
pub fn write_availability(p: &Principal, doctor: Uuid) -> Result<()> {
    match p {
        Principal::Patient { .. } | Principal::Nurse { .. } => Err(forbidden("change availability")),
        Principal::Doctor { .. } if !p.is_doctor(doctor) => Err(Error::NotFound),
        _ => Ok(()),
    }
}

/// Reading a doctor's calendar (who comes when).
pub fn read_calendar(p: &Principal, doctor: Uuid, doctor_dept: &str) -> Result<()> {
    match p {
        Principal::Patient { .. } => Err(forbidden("read a doctor's calendar")),
        Principal::Doctor { .. } if !p.is_doctor(doctor) => Err(Error::NotFound),
        Principal::Nurse { .. } if !p.is_nurse_of(doctor_dept) => Err(Error::NotFound),
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
    match p {
        Principal::Patient { patient_id, .. } => *patient_id == a.patient_id,
        Principal::Doctor { .. } => p.is_doctor(a.doctor_id),
        Principal::Nurse { .. } => p.is_nurse_of(a.department),
        Principal::Receptionist { .. } | Principal::Admin { .. } => true,
    }
}

/// Reading one appointment: visible to the caller, or else of a patient they
/// hold a live grant on (`care.grant`, looked up for `a.patient_id`).
pub fn read_appointment(p: &Principal, a: ApptFacts, care: CareFacts) -> Result<Reach> {
    if sees_appointment(p, a) {
        return Ok(Reach::InScope);
    }
    care.grant.filter(|_| may_hold_grant(p)).map(Reach::Emergency).ok_or(Error::NotFound)
}

/// An appointment the caller may change must be visible without a grant.
fn change_appointment(p: &Principal, a: ApptFacts) -> Result<()> {
    if sees_appointment(p, a) { Ok(()) } else { Err(Error::NotFound) }
}

/// The index a caller's appointment list must be read from, or `None` when
/// the caller sees everything and may choose.
pub fn appointment_list_scope(p: &Principal) -> Result<Option<ApptScope>> {
    Ok(match p {
        Principal::Patient { patient_id, .. } => Some(ApptScope::Patient(*patient_id)),
        Principal::Doctor { user_id, .. } => Some(ApptScope::Doctor(*user_id)),
        Principal::Nurse { department, .. } => Some(ApptScope::Department(department.clone())),
        Principal::Receptionist { .. } | Principal::Admin { .. } => None,
    })
}

/// A doctor's or nurse's list filtered to one patient they hold a live grant
/// on (`care.grant`) reads all of that patient's appointments, as emergency access.
pub fn emergency_appointment_list(p: &Principal, patient: Uuid, care: CareFacts) -> Option<(ApptScope, Reach)> {
    care.grant.filter(|_| may_hold_grant(p)).map(|g| (ApptScope::Patient(patient), Reach::Emergency(g)))
}

/// Booking an appointment for `patient` with `doctor`. Doctors book
/// follow-ups on their own calendar for patients already in their care.
pub fn book(p: &Principal, patient: Uuid, doctor: Uuid, care: CareFacts) -> Result<()> {
    match p {
        Principal::Patient { patient_id, .. } if *patient_id != patient => Err(forbidden("book for another patient")),
        Principal::Doctor { .. } if !p.is_doctor(doctor) => Err(forbidden("book on another doctor's calendar")),
        Principal::Doctor { .. } if !care.doctor_cares => Err(Error::NotFound),
        Principal::Nurse { .. } => Err(forbidden("book appointments")),
        _ => Ok(()),
    }
}

/// Moving an appointment or changing its reason: the front desk.
pub fn reschedule_appointment(p: &Principal, a: ApptFacts) -> Result<()> {
    change_appointment(p, a)?;
    match p {
        Principal::Receptionist { .. } | Principal::Admin { .. } => Ok(()),
        _ => Err(forbidden("do this to an appointment")),
    }
}

/// Booking or cancelling a series: the front desk.
pub fn manage_series(p: &Principal, a: ApptFacts) -> Result<()> {
    change_appointment(p, a)?;
    match p {
        Principal::Receptionist { .. } | Principal::Admin { .. } => Ok(()),
        _ => Err(forbidden("book or cancel a series (the front desk does)")),
    }
}

/// Putting `patient` on the waitlist: the patient themselves, the front desk, admins.
pub fn join_waitlist(p: &Principal, patient: Uuid) -> Result<()> {
    match p {
        Principal::Patient { patient_id, .. } if *patient_id != patient => {
            Err(forbidden("put another patient on the waitlist"))
        }
        Principal::Patient { .. } | Principal::Receptionist { .. } | Principal::Admin { .. } => Ok(()),
        _ => Err(forbidden("put patients on the waitlist (the front desk does)")),
    }
}

/// Whose waitlist entries and offers a caller sees: `Some(patient)` for a
/// patient (their own), `None` for the front desk and admins (all).
pub fn waitlist_scope(p: &Principal) -> Result<Option<Uuid>> {
    match p {
        Principal::Patient { patient_id, .. } => Ok(Some(*patient_id)),
        Principal::Receptionist { .. } | Principal::Admin { .. } => Ok(None),
        _ => Err(forbidden("see the waitlist (the front desk does)")),
    }
}

/// Leaving the waitlist or answering an offer of `patient`: as
/// [`waitlist_scope`]; another patient's is not found.
pub fn answer_waitlist(p: &Principal, patient: Uuid) -> Result<()> {
    match waitlist_scope(p)? {
        Some(own) if own != patient => Err(Error::NotFound),
        _ => Ok(()),
    }
}

/// Making out invoices, taking payments and reading the day's reports:
/// the front desk and admins.
pub fn bill(p: &Principal) -> Result<()> {
    match p {
        Principal::Receptionist { .. } | Principal::Admin { .. } => Ok(()),
        _ => Err(forbidden("handle invoices and payments (the front desk does)")),
    }
}

/// Webhooks and their deliveries (where the clinic's events go): admins.
pub fn manage_webhooks(p: &Principal) -> Result<()> {
    match p {
        Principal::Admin { .. } => Ok(()),
        _ => Err(forbidden("manage webhooks (an admin does)")),
    }
}

/// Whose invoices and payments a caller reads: `Some(patient)` for a
/// patient (their own), `None` for the front desk and admins (all).
/// Doctors and nurses read none.
pub fn billing_scope(p: &Principal) -> Result<Option<Uuid>> {
    match p {
        Principal::Patient { patient_id, .. } => Ok(Some(*patient_id)),
        Principal::Receptionist { .. } | Principal::Admin { .. } => Ok(None),
        _ => Err(forbidden("see invoices (the front desk does)")),
    }
}

/// Reading one invoice of `patient`: as [`billing_scope`]; another
/// patient's invoice, and any draft (not yet a bill), is not found for a patient.
pub fn read_invoice(p: &Principal, patient: Uuid, draft: bool) -> Result<()> {
    match billing_scope(p)? {
        Some(own) if own != patient || draft => Err(Error::NotFound),
        _ => Ok(()),
    }
}

/// Whether a caller may take `action` on an appointment they can see.
/// A patient's cancel is further bound by the cancel window (domain rule).
pub fn act_on_appointment(p: &Principal, a: ApptFacts, action: AppointmentAction) -> Result<()> {
    change_appointment(p, a)?;
    use AppointmentAction::*;
    let allowed = match p {
        Principal::Receptionist { .. } | Principal::Admin { .. } => true,
        Principal::Patient { .. } => action == Cancel,
        Principal::Doctor { .. } => matches!(action, Complete | NoShow),
        Principal::Nurse { .. } => action == CheckIn,
    };
    if allowed { Ok(()) } else { Err(forbidden("do this to an appointment")) }
}

/// Whether the caller's cancels must respect `HEALTHSYNX_CANCEL_HOURS`
/// (patients online; the front desk may cancel any time).
pub fn bound_by_cancel_window(p: &Principal) -> bool {
    matches!(p, Principal::Patient { .. })
}

/// Whether the caller books by the online booking rules (notice, horizon,
/// upcoming appointments): patients; staff book whatever the clinic decides.
pub fn bound_by_booking_rules(p: &Principal) -> bool {
    matches!(p, Principal::Patient { .. })
}

// ---- calendar feeds ----

/// What the caller's calendar feed shows: a doctor's own calendar, a
/// patient's own appointments; nobody else keeps one.
pub fn calendar_feed_scope(p: &Principal) -> Result<ApptScope> {
    match p {
        Principal::Doctor { user_id, .. } => Ok(ApptScope::Doctor(*user_id)),
        Principal::Patient { patient_id, .. } => Ok(ApptScope::Patient(*patient_id)),
        _ => Err(forbidden("keep a calendar feed (doctors and patients do)")),
    }
}

// ---- break-glass ----

/// Asking for emergency access to a patient outside one's care: doctors and nurses.
pub fn break_glass(p: &Principal) -> Result<()> {
    if may_hold_grant(p) { Ok(()) } else { Err(forbidden("request emergency access")) }
}

/// Listing and reviewing break-glass grants: admins only.
pub fn review_break_glass(p: &Principal) -> Result<()> {
    if p.role() == Role::Admin { Ok(()) } else { Err(forbidden("review emergency access")) }
}

// ---- medical records ----

/// Who may list records at all (receptionists never see clinical content).
pub fn list_records(p: &Principal) -> Result<()> {
    if p.role() == Role::Receptionist { Err(forbidden("read medical records")) } else { Ok(()) }
}

/// Reading the records of `patient`.
pub fn read_records_of(p: &Principal, patient: Uuid, care: CareFacts) -> Result<Reach> {
    if p.role() == Role::Receptionist {
        return Err(Error::NotFound);
    }
    reach(p, patient, care).ok_or(Error::NotFound)
}

/// Whether retracted records may be listed.
pub fn sees_retracted(p: &Principal) -> bool {
    matches!(p.role(), Role::Doctor | Role::Admin)
}

/// Whether the role writes records at all (doctors and admins).
pub fn write_records(p: &Principal) -> Result<()> {
    match p.role() {
        Role::Doctor | Role::Admin => Ok(()),
        _ => Err(forbidden("write medical records")),
    }
}

/// Writing a record for an appointment the caller can see: only its doctor or an admin.
pub fn create_record(p: &Principal, appointment_doctor: Uuid) -> Result<()> {
    match p.role() {
        Role::Admin => Ok(()),
        Role::Doctor if p.is_doctor(appointment_doctor) => Ok(()),
        Role::Doctor => Err(forbidden("write records for another doctor's appointment")),
        _ => Err(forbidden("write medical records")),
    }
}

/// Editing or retracting a record the caller can read: its author or an admin.
pub fn change_record(p: &Principal, author: Uuid) -> Result<()> {
    match p.role() {
        Role::Admin => Ok(()),
        Role::Doctor if p.is_doctor(author) => Ok(()),
        Role::Doctor => Err(forbidden("change another doctor's record")),
        _ => Err(forbidden("change medical records")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEPT: &str = "cardiology";

    fn who(role: Role) -> Principal {
        let department = role.needs_department().then(|| DEPT.to_owned());
        let patient = (role == Role::Patient).then(|| Uuid::from_u128(100));
        Principal::of(Uuid::from_u128(role as u128 + 1), role, department, patient).unwrap()
    }

    fn code<T>(r: Result<T>) -> u16 {
        match r {
            Ok(_) => 200,
            Err(e) => e.status(),
        }
    }

    const OWN_PATIENT: Uuid = Uuid::from_u128(100);
    const OTHER_PATIENT: Uuid = Uuid::from_u128(200);
    const CARED: CareFacts = CareFacts { doctor_cares: true, department_cares: true, grant: None };
    const UNCARED: CareFacts = CareFacts { doctor_cares: false, department_cares: false, grant: None };
    const GRANT: Uuid = Uuid::from_u128(300);
    const GRANTED: CareFacts = CareFacts { doctor_cares: false, department_cares: false, grant: Some(GRANT) };

    #[test]
    fn a_live_grant_lets_clinical_staff_read_and_never_write() {
        table([403, 200, 200, 403, 403], |p| code(break_glass(p)));
        table([403, 403, 403, 403, 200], |p| code(review_break_glass(p)));
        table([404, 200, 200, 200, 200], |p| code(read_patient(p, OTHER_PATIENT, GRANTED)));
        table([404, 200, 200, 404, 200], |p| code(read_records_of(p, OTHER_PATIENT, GRANTED)));
        table([404, 404, 404, 200, 200], |p| code(patch_patient(p, OTHER_PATIENT, GRANTED)));
        let doctor = who(Role::Doctor);
        assert_eq!(read_patient(&doctor, OTHER_PATIENT, GRANTED).ok(), Some(Reach::Emergency(GRANT)));
        assert_eq!(read_records_of(&doctor, OTHER_PATIENT, GRANTED).ok(), Some(Reach::Emergency(GRANT)));
        let theirs = ApptFacts { patient_id: OTHER_PATIENT, doctor_id: Uuid::from_u128(999), department: "neurology" };
        assert_eq!(read_appointment(&doctor, theirs, GRANTED).ok(), Some(Reach::Emergency(GRANT)));
        assert_eq!(code(read_appointment(&doctor, theirs, UNCARED)), 404);
        assert_eq!(code(act_on_appointment(&doctor, theirs, AppointmentAction::Complete)), 404);
        assert!(emergency_appointment_list(&doctor, OTHER_PATIENT, GRANTED).is_some());
        assert!(emergency_appointment_list(&who(Role::Patient), OTHER_PATIENT, GRANTED).is_none());
        // In care, a grant changes nothing: the read is an ordinary one.
        let cared = CareFacts { grant: Some(GRANT), ..CARED };
        assert_eq!(read_patient(&doctor, OTHER_PATIENT, cared).ok(), Some(Reach::InScope));
    }

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
        table([200, 200, 200, 200, 200], |p| code(read_appointment(p, mine, UNCARED)));
        table([404, 404, 404, 200, 200], |p| code(read_appointment(p, theirs, UNCARED)));
        use AppointmentAction::*;
        table([403, 403, 403, 200, 200], |p| code(reschedule_appointment(p, mine)));
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
