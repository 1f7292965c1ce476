//! Domain types shared by the server, the client and the tests. One definition each.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::value::ClockTime;

/// What a user is allowed to be. Staff (`Doctor`, `Nurse`) belong to a department.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Doctor,
    Nurse,
    Receptionist,
    Patient,
}

impl Role {
    /// Every role, in the order the role table lists them.
    pub const ALL: [Role; 5] = [Role::Patient, Role::Doctor, Role::Nurse, Role::Receptionist, Role::Admin];

    /// The wire name, as in `"receptionist"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Doctor => "doctor",
            Role::Nurse => "nurse",
            Role::Receptionist => "receptionist",
            Role::Patient => "patient",
        }
    }

    /// Doctors and nurses must belong to a department.
    pub fn needs_department(self) -> bool {
        matches!(self, Role::Doctor | Role::Nurse)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| format!("unknown role `{s}`"))
    }
}

/// An account as the API shows it (never with its password hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub username: String,
    pub full_name: String,
    pub role: Role,
    pub department: Option<String>,
    pub active: bool,
    pub created_at: Timestamp,
}

/// A clinic department such as `cardiology`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Department {
    pub code: String,
    pub name: String,
}

/// Whether a patient is staying in the clinic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PatientType {
    Outpatient,
    Inpatient,
}

/// A patient profile. `insurance_id` is masked (`****1234`) for doctors and nurses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Patient {
    pub id: Uuid,
    pub user_id: Uuid,
    pub full_name: String,
    pub email: String,
    pub date_of_birth: Date,
    pub phone: String,
    pub insurance_id: Option<String>,
    pub patient_type: PatientType,
}

/// A doctor in the directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Doctor {
    pub id: Uuid,
    pub full_name: String,
    pub department: String,
}

/// A weekly working window: `start`/`end` are `HH:MM` in the clinic's time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AvailabilityRule {
    /// 1 = Monday … 7 = Sunday.
    pub weekday: u8,
    pub start: ClockTime,
    pub end: ClockTime,
    pub slot_minutes: u16,
}

/// A period in which a doctor takes no appointments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeOff {
    pub id: Uuid,
    pub start: Timestamp,
    pub end: Timestamp,
    pub reason: String,
}

/// A doctor's weekly rules and time off.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Availability {
    pub rules: Vec<AvailabilityRule>,
    pub time_off: Vec<TimeOff>,
}

/// A free interval that can be booked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    pub start: Timestamp,
    pub end: Timestamp,
}

/// Where an appointment is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppointmentStatus {
    /// Held for a waitlist offer: busy for everyone, booked once accepted.
    Held,
    Scheduled,
    CheckedIn,
    Completed,
    Cancelled,
    NoShow,
}

impl AppointmentStatus {
    /// The wire name, as in `"checked_in"`.
    pub fn as_str(self) -> &'static str {
        match self {
            AppointmentStatus::Held => "held",
            AppointmentStatus::Scheduled => "scheduled",
            AppointmentStatus::CheckedIn => "checked_in",
            AppointmentStatus::Completed => "completed",
            AppointmentStatus::Cancelled => "cancelled",
            AppointmentStatus::NoShow => "no_show",
        }
    }

    /// A cancelled appointment no longer holds its time.
    pub fn holds_time(self) -> bool {
        self != AppointmentStatus::Cancelled
    }

    /// Whether it puts the patient in the doctor's care: a held time is
    /// only an offer, so it does not.
    pub fn grants_care(self) -> bool {
        !matches!(self, AppointmentStatus::Cancelled | AppointmentStatus::Held)
    }
}

impl std::str::FromStr for AppointmentStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use AppointmentStatus::*;
        [Held, Scheduled, CheckedIn, Completed, Cancelled, NoShow]
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown status `{s}`"))
    }
}

/// A booked visit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Appointment {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub patient_name: String,
    pub doctor_id: Uuid,
    pub doctor_name: String,
    pub department: String,
    pub start: Timestamp,
    pub end: Timestamp,
    pub status: AppointmentStatus,
    pub reason: String,
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The appointment type it was booked as, if any.
    #[serde(default)]
    pub type_id: Option<Uuid>,
    /// The room or device it holds, if its type needs one.
    #[serde(default)]
    pub resource_id: Option<Uuid>,
    /// Minutes before `start` and after `end` the doctor (and the resource)
    /// are busy too: preparing, cleaning up.
    #[serde(default)]
    pub buffer_before: u16,
    #[serde(default)]
    pub buffer_after: u16,
    /// The series it is an occurrence of, if any.
    #[serde(default)]
    pub series_id: Option<Uuid>,
}

impl Appointment {
    /// The time the doctor (and the resource) are busy: the visit and its buffers.
    pub fn busy(&self) -> (Timestamp, Timestamp) {
        busy_span(self.start, self.end, self.buffer_before, self.buffer_after)
    }
}

/// `[start − before, end + after)`, buffers in minutes.
pub fn busy_span(start: Timestamp, end: Timestamp, before: u16, after: u16) -> (Timestamp, Timestamp) {
    let mins = |m: u16| jiff::SignedDuration::from_mins(i64::from(m));
    (start - mins(before), end + mins(after))
}

/// How often a series repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Every {
    #[serde(rename = "week")]
    Week,
    #[serde(rename = "2weeks")]
    TwoWeeks,
    /// The same day of the month (the month's last day where it has fewer).
    #[serde(rename = "month")]
    Month,
}

/// When a series repeats: every week, fortnight or month, `count` times or
/// until a date (in the clinic's zone), one of the two.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesRule {
    pub every: Every,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Date>,
}

/// An occurrence a series did not book, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub start: Timestamp,
    pub why: String,
}

/// A recurring appointment: its rule and every occurrence it booked (each
/// an ordinary appointment), with those it could not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub doctor_id: Uuid,
    pub type_id: Option<Uuid>,
    pub start: Timestamp,
    pub rule: SeriesRule,
    pub occurrences: Vec<Appointment>,
    pub skipped: Vec<Skipped>,
    pub created_at: Timestamp,
}

/// Where a waitlist entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitlistStatus {
    /// Waiting for a matching time to free up.
    Waiting,
    /// Holding an open offer.
    Offered,
    /// An offer was accepted: the entry is done.
    Booked,
    /// Taken off the waitlist.
    Removed,
}

/// A patient waiting for a time with a doctor (or any doctor of a
/// department) between `earliest` and `latest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaitlistEntry {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub patient_name: String,
    pub doctor_id: Option<Uuid>,
    pub department: String,
    pub type_id: Option<Uuid>,
    pub earliest: Timestamp,
    pub latest: Timestamp,
    pub note: Option<String>,
    pub status: WaitlistStatus,
    /// The open offer it holds, while `status` is `offered`.
    pub offer_id: Option<Uuid>,
    pub created_at: Timestamp,
}

/// Where an offer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfferStatus {
    Open,
    Accepted,
    Declined,
    Expired,
    /// Its waitlist entry was removed.
    Withdrawn,
}

/// A freed time held for one waitlist entry until `expires_at`: the held
/// appointment (`appointment_id`, status `held`) is busy for everyone else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    pub id: Uuid,
    pub waitlist_id: Uuid,
    pub appointment_id: Uuid,
    pub patient_id: Uuid,
    pub patient_name: String,
    pub doctor_id: Uuid,
    pub doctor_name: String,
    pub department: String,
    pub type_id: Option<Uuid>,
    pub resource_id: Option<Uuid>,
    pub start: Timestamp,
    pub end: Timestamp,
    pub expires_at: Timestamp,
    pub status: OfferStatus,
    pub created_at: Timestamp,
}

/// An amount in the currency's minor unit (cents for EUR).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Money {
    pub amount: i64,
    pub currency: crate::value::Currency,
}

/// A kind of visit a department offers: how long it takes, the busy time
/// around it, its price, and the room or device it needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppointmentType {
    pub id: Uuid,
    pub department: String,
    pub name: String,
    pub minutes: u16,
    pub buffer_before: u16,
    pub buffer_after: u16,
    pub price: Money,
    /// Whether patients may book it themselves.
    pub patient_bookable: bool,
    /// The kind of resource each visit books one of (`room`, `ecg`…).
    pub resource_kind: Option<String>,
    pub active: bool,
    pub version: u64,
}

/// A room or a piece of equipment that visits book, one at a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    pub id: Uuid,
    pub kind: String,
    pub name: String,
    pub department: String,
    pub active: bool,
    pub version: u64,
}

/// One prescribed drug.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prescription {
    pub drug: String,
    pub dose: String,
    pub frequency: String,
    pub days: u16,
}

/// Whether a record stands or was retracted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    Active,
    EnteredInError,
}

/// A clinical note tied to one appointment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MedicalRecord {
    pub id: Uuid,
    pub appointment_id: Uuid,
    pub patient_id: Uuid,
    pub doctor_id: Uuid,
    pub diagnosis: String,
    pub notes: String,
    pub prescriptions: Vec<Prescription>,
    pub status: RecordStatus,
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One version of a record in its history, with who made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordVersion {
    pub version: u64,
    pub changed_by: Uuid,
    pub changed_at: Timestamp,
    /// Which fields differ from the version before (empty for the first).
    pub changed_fields: Vec<String>,
    pub record: MedicalRecord,
}

/// Whether the audited action went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

/// One link of the hash-chained audit log. Holds ids only, never clinical text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: u64,
    pub at: Timestamp,
    pub actor_id: Option<Uuid>,
    pub actor_role: Option<Role>,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
    pub outcome: Outcome,
    pub client_addr: Option<String>,
    /// The break-glass grant this access went through, when it was emergency
    /// access (absent on every other entry, so older entries hash as before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<Uuid>,
    pub prev_hash: String,
    pub hash: String,
}

/// A line of a patient's "who looked at my data".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessLogEntry {
    pub at: Timestamp,
    pub actor_name: String,
    pub actor_role: Option<Role>,
    pub action: String,
    pub target_type: String,
    /// Whether this was emergency (break-glass) access to a patient outside
    /// the actor's care.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub emergency: bool,
    /// For emergency access: the reason the actor gave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

// ---- billing ----

/// Where an invoice stands. An issued invoice never changes: it is paid,
/// or a credit note voids it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    Draft,
    Issued,
    Paid,
    Void,
}

impl InvoiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Draft => "draft",
            InvoiceStatus::Issued => "issued",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Void => "void",
        }
    }
}

/// An invoice, or the credit note that cancels one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceKind {
    Invoice,
    CreditNote,
}

/// How money came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    Cash,
    Card,
    Transfer,
    Insurance,
}

impl PaymentMethod {
    pub const ALL: [PaymentMethod; 4] =
        [PaymentMethod::Cash, PaymentMethod::Card, PaymentMethod::Transfer, PaymentMethod::Insurance];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethod::Cash => "cash",
            PaymentMethod::Card => "card",
            PaymentMethod::Transfer => "transfer",
            PaymentMethod::Insurance => "insurance",
        }
    }
}

/// Money in (a payment) or back out (a refund of one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentKind {
    Payment,
    Refund,
}

/// One line of an invoice. Amounts are integers in minor units (cents):
/// `net = quantity × unit_amount`, `tax` is `net × tax_rate_bp / 10 000`
/// rounded half away from zero, `total = net + tax`. A credit note's lines
/// are its invoice's with the unit amounts negated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvoiceLine {
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appointment_id: Option<Uuid>,
    pub quantity: i64,
    pub unit_amount: i64,
    /// Tax rate in basis points: 1900 is 19 %.
    pub tax_rate_bp: u32,
    pub net: i64,
    pub tax: i64,
    pub total: i64,
}

/// A payment taken on an invoice, or a refund of one (negative amount).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payment {
    pub id: Uuid,
    pub invoice_id: Uuid,
    pub patient_id: Uuid,
    pub kind: PaymentKind,
    /// Positive for a payment, negative for a refund.
    pub amount: i64,
    pub currency: crate::value::Currency,
    pub method: PaymentMethod,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The payment a refund gives back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refunds: Option<Uuid>,
    /// How much of a payment has been refunded.
    pub refunded: i64,
    pub received_at: Timestamp,
    pub received_by: Uuid,
}

/// An invoice (or credit note) with its totals and payments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invoice {
    pub id: Uuid,
    pub kind: InvoiceKind,
    /// `2026-000001`: assigned when issued, consecutive per calendar year.
    pub number: Option<String>,
    pub patient_id: Uuid,
    pub patient_name: String,
    pub status: InvoiceStatus,
    pub currency: crate::value::Currency,
    pub lines: Vec<InvoiceLine>,
    pub subtotal: i64,
    pub tax: i64,
    pub total: i64,
    pub paid: i64,
    pub balance: i64,
    pub issued_at: Option<Timestamp>,
    /// On a credit note: the invoice it cancels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<Uuid>,
    /// On a voided invoice: the credit note that cancelled it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credited_by: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub void_reason: Option<String>,
    pub payments: Vec<Payment>,
    pub created_at: Timestamp,
    pub version: u64,
}

// ---- webhooks ----

/// What a webhook can be told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "appointment.booked")]
    AppointmentBooked,
    #[serde(rename = "appointment.cancelled")]
    AppointmentCancelled,
    #[serde(rename = "appointment.rescheduled")]
    AppointmentRescheduled,
    #[serde(rename = "appointment.reminder")]
    AppointmentReminder,
    #[serde(rename = "waitlist.offer")]
    WaitlistOffer,
    #[serde(rename = "invoice.issued")]
    InvoiceIssued,
}

impl EventType {
    pub const ALL: [EventType; 6] = [
        EventType::AppointmentBooked,
        EventType::AppointmentCancelled,
        EventType::AppointmentRescheduled,
        EventType::AppointmentReminder,
        EventType::WaitlistOffer,
        EventType::InvoiceIssued,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::AppointmentBooked => "appointment.booked",
            EventType::AppointmentCancelled => "appointment.cancelled",
            EventType::AppointmentRescheduled => "appointment.rescheduled",
            EventType::AppointmentReminder => "appointment.reminder",
            EventType::WaitlistOffer => "waitlist.offer",
            EventType::InvoiceIssued => "invoice.issued",
        }
    }
}

/// A receiver of events: where they are posted and which ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    pub events: Vec<EventType>,
    /// The signing secret (`whsec_…`): only in the answer that made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub active: bool,
    pub created_at: Timestamp,
    pub version: u64,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not yet accepted by the receiver; tried again at `next_attempt_at`.
    Pending,
    Delivered,
    /// Given up on (or its webhook was disabled); `retry` sends it again.
    Dead,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Dead => "dead",
        }
    }
}

/// One event on its way to one webhook, with what its attempts met.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: Uuid,
    pub webhook_id: Uuid,
    /// The event's id: the `Webhook-Id` header, the same on every attempt.
    pub event_id: Uuid,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub created_at: Timestamp,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub next_attempt_at: Option<Timestamp>,
    pub last_attempt_at: Option<Timestamp>,
    /// The HTTP status of the last answer, when there was one.
    pub last_status: Option<u16>,
    /// What went wrong last (`HTTP 500`, `timed out`, …).
    pub last_error: Option<String>,
    pub delivered_at: Option<Timestamp>,
}
