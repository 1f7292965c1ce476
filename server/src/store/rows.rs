//! What the store keeps for each object. Sealed fields hold ciphertext
//! (`crypto::seal`), never clear text.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use healthsynx_shared::value::Currency;
use healthsynx_shared::{
    AppointmentStatus, InvoiceKind, InvoiceStatus, PatientType, PaymentKind, PaymentMethod, RecordStatus, Role, User,
};

/// An account with its secrets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub username: String,
    pub full_name: String,
    pub role: Role,
    pub department: Option<String>,
    pub active: bool,
    pub created_at: Timestamp,
    /// argon2id PHC string; `None` until an activation token is used.
    pub password_hash: Option<String>,
    /// Bumped by a password change or deactivation: tokens carrying an
    /// older version stop working.
    pub token_version: u64,
}

impl UserRow {
    /// The account as the API shows it.
    pub fn to_user(&self) -> User {
        User {
            id: self.id,
            email: self.email.clone(),
            username: self.username.clone(),
            full_name: self.full_name.clone(),
            role: self.role,
            department: self.department.clone(),
            active: self.active,
            created_at: self.created_at,
        }
    }
}

/// A patient profile; name and email live on the user account.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PatientRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub date_of_birth: Date,
    pub phone: String,
    pub insurance_id_sealed: Option<String>,
    pub patient_type: PatientType,
}

/// An appointment; names are joined from the accounts when read.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppointmentRow {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub doctor_id: Uuid,
    pub department: String,
    pub start: Timestamp,
    pub end: Timestamp,
    pub status: AppointmentStatus,
    /// The visit's reason is clinical text, so it is sealed.
    pub reason_sealed: String,
    pub cancel_reason_sealed: Option<String>,
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub created_by: Uuid,
    /// The type it was booked as; its length and buffers were copied here
    /// then, so changing the type later moves no booking.
    #[serde(default)]
    pub type_id: Option<Uuid>,
    /// The room or device it holds.
    #[serde(default)]
    pub resource_id: Option<Uuid>,
    /// Minutes of busy time before and after the visit (doctor and resource).
    #[serde(default)]
    pub buffer_before: u16,
    #[serde(default)]
    pub buffer_after: u16,
    /// The series it is an occurrence of.
    #[serde(default)]
    pub series_id: Option<Uuid>,
}

impl AppointmentRow {
    /// The time the doctor and the resource are busy: the visit and its buffers.
    pub fn busy(&self) -> (Timestamp, Timestamp) {
        healthsynx_shared::busy_span(self.start, self.end, self.buffer_before, self.buffer_after)
    }

    /// The time this holds in `scope`'s calendar: a patient is busy for
    /// the visit only, a doctor and a resource for its buffers too.
    pub fn held_in(&self, scope: &crate::scope::ApptScope) -> (Timestamp, Timestamp) {
        match scope {
            crate::scope::ApptScope::Patient(_) => (self.start, self.end),
            _ => self.busy(),
        }
    }

    /// The shape of an appointment needed to stage care-scope entries alone.
    pub(super) fn care_link(doctor: Uuid, dept: &str, patient: Uuid, id: Uuid) -> Self {
        AppointmentRow {
            id,
            patient_id: patient,
            doctor_id: doctor,
            department: dept.to_owned(),
            start: Timestamp::UNIX_EPOCH,
            end: Timestamp::UNIX_EPOCH,
            status: AppointmentStatus::Scheduled,
            reason_sealed: String::new(),
            cancel_reason_sealed: None,
            version: 0,
            created_at: Timestamp::UNIX_EPOCH,
            updated_at: Timestamp::UNIX_EPOCH,
            created_by: doctor,
            type_id: None,
            resource_id: None,
            buffer_before: 0,
            buffer_after: 0,
            series_id: None,
        }
    }
}

/// One version of a medical record; the clinical body is one sealed JSON value.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordRow {
    pub id: Uuid,
    pub appointment_id: Uuid,
    pub patient_id: Uuid,
    pub doctor_id: Uuid,
    pub department: String,
    /// Sealed `{diagnosis, notes, prescriptions}`.
    pub body_sealed: String,
    pub status: RecordStatus,
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub updated_by: Uuid,
}

/// One login: its refresh tokens rotate, and reusing an old one revokes them all.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefreshFamily {
    pub id: Uuid,
    pub user_id: Uuid,
    pub current_jti: Uuid,
    pub revoked: bool,
    pub expires_at: Timestamp,
    /// What the user sees of a session; absent on logins older than them.
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    #[serde(default)]
    pub last_used_at: Option<Timestamp>,
    #[serde(default)]
    pub client_addr: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
}

/// A break-glass grant: a doctor or nurse reads one patient outside their
/// scope, for a stated reason, until `expires_at`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GrantRow {
    pub id: Uuid,
    pub actor_id: Uuid,
    pub actor_role: Role,
    pub patient_id: Uuid,
    pub reason_sealed: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    #[serde(default)]
    pub reviewed_at: Option<Timestamp>,
    #[serde(default)]
    pub reviewed_by: Option<Uuid>,
    #[serde(default)]
    pub review_note_sealed: Option<String>,
}

/// A user's TOTP second factor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MfaRow {
    pub user_id: Uuid,
    /// The shared secret, sealed.
    pub secret_sealed: String,
    /// Whether a code has confirmed the enrolment; until then it does not count.
    pub confirmed: bool,
    /// SHA-256 of each unused recovery code.
    pub recovery_hashes: Vec<String>,
    /// The newest 30-second step a code was accepted for: codes of it and
    /// earlier steps are refused, so a code works once.
    pub last_step: u64,
    pub created_at: Timestamp,
}

/// What a pending second-factor token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MfaPurpose {
    /// Finish a login with a code.
    Verify,
    /// Enrol a factor (an account that must have one and has none).
    Enrol,
}

/// A user's calendar feed: the token is in the URL only; this keeps its hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CalendarFeedRow {
    pub user_id: Uuid,
    pub token_hash: String,
    pub created_at: Timestamp,
}

/// A single-use second-factor token, stored by its hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MfaChallengeRow {
    pub user_id: Uuid,
    pub purpose: MfaPurpose,
    pub expires_at: Timestamp,
}

/// A single-use password reset (or activation) token, stored by its hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResetTokenRow {
    pub user_id: Uuid,
    pub expires_at: Timestamp,
}

/// A recurring appointment: what was asked and what it booked. Each
/// occurrence is an ordinary appointment carrying the series' id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeriesRow {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub doctor_id: Uuid,
    pub department: String,
    pub type_id: Option<Uuid>,
    pub start: Timestamp,
    pub rule: healthsynx_shared::SeriesRule,
    /// The booked occurrences, in time order.
    pub occurrences: Vec<Uuid>,
    pub skipped: Vec<healthsynx_shared::Skipped>,
    pub created_at: Timestamp,
    pub created_by: Uuid,
}

/// The first answer to an idempotent request that created something.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdempotencyRow {
    pub request_hash: String,
    /// What the first request created (an appointment, a type, a resource).
    #[serde(alias = "appointment_id")]
    pub created_id: Uuid,
    pub created_at: Timestamp,
}

/// A waitlist entry as stored; its note may be clinical, so it is sealed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WaitlistRow {
    pub id: Uuid,
    pub patient_id: Uuid,
    pub doctor_id: Option<Uuid>,
    pub department: String,
    pub type_id: Option<Uuid>,
    pub earliest: Timestamp,
    pub latest: Timestamp,
    pub note_sealed: Option<String>,
    pub status: healthsynx_shared::WaitlistStatus,
    pub offer_id: Option<Uuid>,
    /// Every time it was offered (doctor and start): none is offered to it twice.
    pub offered: Vec<(Uuid, Timestamp)>,
    pub created_at: Timestamp,
    pub created_by: Uuid,
    /// When it was booked or removed (kept a while, then swept).
    pub ended_at: Option<Timestamp>,
}

impl WaitlistRow {
    /// Whether it still waits for or holds an offer.
    pub fn live(&self) -> bool {
        use healthsynx_shared::WaitlistStatus::*;
        matches!(self.status, Waiting | Offered)
    }
}

/// An offer as stored: the held appointment it stands for and how it ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OfferRow {
    pub id: Uuid,
    pub waitlist_id: Uuid,
    pub appointment_id: Uuid,
    pub patient_id: Uuid,
    pub doctor_id: Uuid,
    pub department: String,
    pub type_id: Option<Uuid>,
    pub resource_id: Option<Uuid>,
    pub start: Timestamp,
    pub end: Timestamp,
    pub expires_at: Timestamp,
    pub status: healthsynx_shared::OfferStatus,
    pub created_at: Timestamp,
    pub ended_at: Option<Timestamp>,
}

/// How long ended waitlist entries and offers are kept before a sweep
/// deletes them (an entry never answered ends with its window).
pub const WAITLIST_KEEP_DAYS: i64 = 30;

/// Whether a waitlist entry or offer that ended at `ended` may be swept at `now`.
pub fn waitlist_swept(ended: Option<Timestamp>, now: Timestamp) -> bool {
    ended.is_some_and(|e| e + jiff::SignedDuration::from_hours(24 * WAITLIST_KEEP_DAYS) <= now)
}

/// One invoice line as stored: its description is sealed (it may name a
/// treatment), its amounts are plain integers in minor units.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvoiceLineRow {
    pub description_sealed: String,
    pub appointment_id: Option<Uuid>,
    pub quantity: i64,
    pub unit_amount: i64,
    pub tax_rate_bp: u32,
}

impl InvoiceLineRow {
    /// `quantity × unit_amount`.
    pub fn net(&self) -> i64 {
        self.quantity * self.unit_amount
    }

    /// The net amount's tax, rounded half away from zero to a minor unit.
    pub fn tax(&self) -> i64 {
        let scaled = i128::from(self.net()) * i128::from(self.tax_rate_bp);
        let (q, r) = (scaled / 10_000, scaled % 10_000);
        let rounded = if r.abs() * 2 >= 10_000 { q + scaled.signum() } else { q };
        rounded as i64
    }
}

/// An invoice or credit note. `paid` is the sum of its payments less
/// refunds, kept here so a payment checks the balance on the row it locks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvoiceRow {
    pub id: Uuid,
    pub kind: InvoiceKind,
    pub number: Option<String>,
    pub patient_id: Uuid,
    pub status: InvoiceStatus,
    pub currency: Currency,
    pub lines: Vec<InvoiceLineRow>,
    pub paid: i64,
    pub issued_at: Option<Timestamp>,
    pub credits: Option<Uuid>,
    pub credited_by: Option<Uuid>,
    pub void_reason_sealed: Option<String>,
    pub created_at: Timestamp,
    pub created_by: Uuid,
    pub updated_at: Timestamp,
    pub version: u64,
}

impl InvoiceRow {
    pub fn subtotal(&self) -> i64 {
        self.lines.iter().map(InvoiceLineRow::net).sum()
    }

    pub fn tax(&self) -> i64 {
        self.lines.iter().map(InvoiceLineRow::tax).sum()
    }

    pub fn total(&self) -> i64 {
        self.subtotal() + self.tax()
    }

    /// What is still owed: nothing on drafts, void invoices and credit notes.
    pub fn balance(&self) -> i64 {
        match (self.kind, self.status) {
            (InvoiceKind::Invoice, InvoiceStatus::Issued | InvoiceStatus::Paid) => self.total() - self.paid,
            _ => 0,
        }
    }

    /// The appointments its lines bill.
    pub fn appointment_ids(&self) -> Vec<Uuid> {
        self.lines.iter().filter_map(|l| l.appointment_id).collect()
    }
}

/// A payment, or a refund (negative `amount`) of one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PaymentRow {
    pub id: Uuid,
    pub invoice_id: Uuid,
    pub patient_id: Uuid,
    pub kind: PaymentKind,
    pub amount: i64,
    pub currency: Currency,
    pub method: PaymentMethod,
    pub reference: Option<String>,
    pub refunds: Option<Uuid>,
    pub refunded: i64,
    pub received_at: Timestamp,
    pub received_by: Uuid,
}

/// A webhook; its signing secret is sealed (it must be read back to sign).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookRow {
    pub id: Uuid,
    pub url: String,
    pub events: Vec<healthsynx_shared::EventType>,
    pub secret_sealed: String,
    pub active: bool,
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One event for one webhook: the outbox row, written in the transaction
/// of the change it announces, and what its attempts met.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliveryRow {
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub event_id: Uuid,
    pub event_type: healthsynx_shared::EventType,
    pub created_at: Timestamp,
    /// The event's `data`: ids, times and first names, never clinical text.
    pub data: serde_json::Value,
    pub status: healthsynx_shared::DeliveryStatus,
    pub attempts: u32,
    /// When a pending delivery is next tried; a worker that takes it pushes
    /// this past its attempt, so a crashed attempt is taken again later.
    pub next_attempt_at: Timestamp,
    /// Where the retry window starts: the event's time, or a manual retry's.
    pub window_from: Timestamp,
    pub last_attempt_at: Option<Timestamp>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub delivered_at: Option<Timestamp>,
}

/// How long delivered and dead deliveries are kept.
pub const DELIVERY_KEEP_DAYS: i64 = 30;

/// Whether a finished delivery is old enough to sweep at `now`.
pub fn delivery_swept(row: &DeliveryRow, now: Timestamp) -> bool {
    row.status != healthsynx_shared::DeliveryStatus::Pending
        && row.created_at < now - jiff::SignedDuration::from_hours(24 * DELIVERY_KEEP_DAYS)
}
