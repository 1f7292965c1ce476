//! The tamper-evident audit log. Each entry holds the SHA-256 of the one
//! before it: `hash = SHA-256(prev_hash ‖ canonical entry)`, where the
//! canonical entry is the entry's JSON without its `hash`. Entries hold ids
//! only, never clinical text, passwords or tokens.
//!
//! The store links entries inside the same lock and transaction as the data
//! write they describe, so no write exists without its entry.

use jiff::Timestamp;
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use healthsynx_shared::api::ChainReport;
use healthsynx_shared::{AuditEntry, Outcome, Role};

use crate::policy::Reach;

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Who is acting, as far as the request tells.
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub id: Option<Uuid>,
    pub role: Option<Role>,
    pub addr: Option<String>,
}

/// What an audit entry records. The wire name (`appointment.check_in`) is
/// what the log stores and `GET /api/audit?action=` filters on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    AppointmentCreate,
    AppointmentList,
    AppointmentRead,
    AppointmentUpdate,
    AppointmentCancel,
    AppointmentCheckIn,
    AppointmentComplete,
    AppointmentNoShow,
    AuthLockout,
    AuthLogin,
    AuthLoginThrottled,
    AuthLogout,
    AuthPasswordChange,
    AuthPasswordReset,
    AuthRefresh,
    AuthRefreshReuse,
    AvailabilityUpdate,
    BreakGlassGrant,
    BreakGlassReview,
    BreakGlassSearch,
    CalendarFeedCreate,
    CalendarFeedRead,
    CalendarFeedRevoke,
    CalendarRead,
    DepartmentCreate,
    AppointmentTypeCreate,
    AppointmentTypeUpdate,
    ResourceCreate,
    ResourceUpdate,
    SeriesCreate,
    SeriesRead,
    SeriesCancel,
    WaitlistCreate,
    WaitlistList,
    WaitlistRead,
    WaitlistRemove,
    OfferCreate,
    OfferList,
    OfferAccept,
    OfferDecline,
    OfferExpire,
    InvoiceCreate,
    InvoiceList,
    InvoiceRead,
    InvoicePrint,
    InvoiceUpdate,
    InvoiceIssue,
    InvoiceVoid,
    PaymentCreate,
    PaymentRefund,
    ReportCash,
    ReportOutstanding,
    PatientCreate,
    PatientRead,
    PatientUpdate,
    RecordCreate,
    RecordHistory,
    RecordList,
    RecordRead,
    RecordRetract,
    RecordUpdate,
    RequestThrottled,
    StoreBackup,
    StoreRekey,
    StoreBulkLoad,
    TimeOffCreate,
    TimeOffDelete,
    UserCreate,
    UserActivate,
    UserDeactivate,
    UserPasswordResetIssue,
    UserRead,
    UserUpdate,
    // ---- second factor and sessions ----
    AuthMfaChallenge,
    AuthMfaVerify,
    MfaEnrol,
    MfaConfirm,
    MfaRemove,
    SessionRevoke,
    // ---- webhooks ----
    WebhookCreate,
    WebhookList,
    WebhookUpdate,
    WebhookDelete,
    DeliveryList,
    DeliveryRetry,
}

impl Action {
    pub const ALL: [Action; 85] = [
        Action::AppointmentCreate,
        Action::AppointmentList,
        Action::AppointmentRead,
        Action::AppointmentUpdate,
        Action::AppointmentCancel,
        Action::AppointmentCheckIn,
        Action::AppointmentComplete,
        Action::AppointmentNoShow,
        Action::AuthLockout,
        Action::AuthLogin,
        Action::AuthLoginThrottled,
        Action::AuthLogout,
        Action::AuthPasswordChange,
        Action::AuthPasswordReset,
        Action::AuthRefresh,
        Action::AuthRefreshReuse,
        Action::AvailabilityUpdate,
        Action::BreakGlassGrant,
        Action::BreakGlassReview,
        Action::BreakGlassSearch,
        Action::CalendarFeedCreate,
        Action::CalendarFeedRead,
        Action::CalendarFeedRevoke,
        Action::CalendarRead,
        Action::DepartmentCreate,
        Action::AppointmentTypeCreate,
        Action::AppointmentTypeUpdate,
        Action::ResourceCreate,
        Action::ResourceUpdate,
        Action::SeriesCreate,
        Action::SeriesRead,
        Action::SeriesCancel,
        Action::WaitlistCreate,
        Action::WaitlistList,
        Action::WaitlistRead,
        Action::WaitlistRemove,
        Action::OfferCreate,
        Action::OfferList,
        Action::OfferAccept,
        Action::OfferDecline,
        Action::OfferExpire,
        Action::InvoiceCreate,
        Action::InvoiceList,
        Action::InvoiceRead,
        Action::InvoicePrint,
        Action::InvoiceUpdate,
        Action::InvoiceIssue,
        Action::InvoiceVoid,
        Action::PaymentCreate,
        Action::PaymentRefund,
        Action::ReportCash,
        Action::ReportOutstanding,
        Action::PatientCreate,
        Action::PatientRead,
        Action::PatientUpdate,
        Action::RecordCreate,
        Action::RecordHistory,
        Action::RecordList,
        Action::RecordRead,
        Action::RecordRetract,
        Action::RecordUpdate,
        Action::RequestThrottled,
        Action::StoreBackup,
        Action::StoreRekey,
        Action::StoreBulkLoad,
        Action::TimeOffCreate,
        Action::TimeOffDelete,
        Action::UserCreate,
        Action::UserActivate,
        Action::UserDeactivate,
        Action::UserPasswordResetIssue,
        Action::UserRead,
        Action::UserUpdate,
        Action::AuthMfaChallenge,
        Action::AuthMfaVerify,
        Action::MfaEnrol,
        Action::MfaConfirm,
        Action::MfaRemove,
        Action::SessionRevoke,
        Action::WebhookCreate,
        Action::WebhookList,
        Action::WebhookUpdate,
        Action::WebhookDelete,
        Action::DeliveryList,
        Action::DeliveryRetry,
    ];

    /// The name the log keeps.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::AppointmentCreate => "appointment.create",
            Action::AppointmentList => "appointment.list",
            Action::AppointmentRead => "appointment.read",
            Action::AppointmentUpdate => "appointment.update",
            Action::AppointmentCancel => "appointment.cancel",
            Action::AppointmentCheckIn => "appointment.check_in",
            Action::AppointmentComplete => "appointment.complete",
            Action::AppointmentNoShow => "appointment.no_show",
            Action::AuthLockout => "auth.lockout",
            Action::AuthLogin => "auth.login",
            Action::AuthLoginThrottled => "auth.login_throttled",
            Action::AuthLogout => "auth.logout",
            Action::AuthPasswordChange => "auth.password_change",
            Action::AuthPasswordReset => "auth.password_reset",
            Action::AuthRefresh => "auth.refresh",
            Action::AuthRefreshReuse => "auth.refresh_reuse",
            Action::AvailabilityUpdate => "availability.update",
            Action::BreakGlassGrant => "break_glass.grant",
            Action::BreakGlassReview => "break_glass.review",
            Action::BreakGlassSearch => "break_glass.search",
            Action::CalendarFeedCreate => "calendar_feed.create",
            Action::CalendarFeedRead => "calendar_feed.read",
            Action::CalendarFeedRevoke => "calendar_feed.revoke",
            Action::CalendarRead => "calendar.read",
            Action::DepartmentCreate => "department.create",
            Action::AppointmentTypeCreate => "appointment_type.create",
            Action::AppointmentTypeUpdate => "appointment_type.update",
            Action::ResourceCreate => "resource.create",
            Action::ResourceUpdate => "resource.update",
            Action::SeriesCreate => "series.create",
            Action::SeriesRead => "series.read",
            Action::SeriesCancel => "series.cancel",
            Action::WaitlistCreate => "waitlist.create",
            Action::WaitlistList => "waitlist.list",
            Action::WaitlistRead => "waitlist.read",
            Action::WaitlistRemove => "waitlist.remove",
            Action::OfferCreate => "offer.create",
            Action::OfferList => "offer.list",
            Action::OfferAccept => "offer.accept",
            Action::OfferDecline => "offer.decline",
            Action::OfferExpire => "offer.expire",
            Action::InvoiceCreate => "invoice.create",
            Action::InvoiceList => "invoice.list",
            Action::InvoiceRead => "invoice.read",
            Action::InvoicePrint => "invoice.print",
            Action::InvoiceUpdate => "invoice.update",
            Action::InvoiceIssue => "invoice.issue",
            Action::InvoiceVoid => "invoice.void",
            Action::PaymentCreate => "payment.create",
            Action::PaymentRefund => "payment.refund",
            Action::ReportCash => "report.cash",
            Action::ReportOutstanding => "report.outstanding",
            Action::PatientCreate => "patient.create",
            Action::PatientRead => "patient.read",
            Action::PatientUpdate => "patient.update",
            Action::RecordCreate => "record.create",
            Action::RecordHistory => "record.history",
            Action::RecordList => "record.list",
            Action::RecordRead => "record.read",
            Action::RecordRetract => "record.retract",
            Action::RecordUpdate => "record.update",
            Action::RequestThrottled => "request.throttled",
            Action::StoreBackup => "store.backup",
            Action::StoreRekey => "store.rekey",
            Action::StoreBulkLoad => "store.bulk_load",
            Action::TimeOffCreate => "time_off.create",
            Action::TimeOffDelete => "time_off.delete",
            Action::UserCreate => "user.create",
            Action::UserActivate => "user.activate",
            Action::UserDeactivate => "user.deactivate",
            Action::UserPasswordResetIssue => "user.password_reset_issue",
            Action::UserRead => "user.read",
            Action::UserUpdate => "user.update",
            Action::AuthMfaChallenge => "auth.mfa_challenge",
            Action::AuthMfaVerify => "auth.mfa_verify",
            Action::MfaEnrol => "mfa.enrol",
            Action::MfaConfirm => "mfa.confirm",
            Action::MfaRemove => "mfa.remove",
            Action::SessionRevoke => "session.revoke",
            Action::WebhookCreate => "webhook.create",
            Action::WebhookList => "webhook.list",
            Action::WebhookUpdate => "webhook.update",
            Action::WebhookDelete => "webhook.delete",
            Action::DeliveryList => "delivery.list",
            Action::DeliveryRetry => "delivery.retry",
        }
    }
}

/// An entry before it is linked into the chain.
#[derive(Debug, Clone)]
pub struct Draft {
    pub actor: Actor,
    pub action: Action,
    pub target_type: &'static str,
    pub target_id: Option<Uuid>,
    pub patient_id: Option<Uuid>,
    pub outcome: Outcome,
    /// The break-glass grant an emergency access went through.
    pub grant_id: Option<Uuid>,
}

impl Draft {
    /// A successful `action` by `actor` on `target_type` `target_id`.
    pub fn new(actor: &Actor, action: Action, target_type: &'static str, target_id: Option<Uuid>) -> Self {
        Draft {
            actor: actor.clone(),
            action,
            target_type,
            target_id,
            patient_id: None,
            outcome: Outcome::Success,
            grant_id: None,
        }
    }

    /// The patient whose data this touches (feeds their access log).
    pub fn patient(mut self, patient_id: Uuid) -> Self {
        self.patient_id = Some(patient_id);
        self
    }

    /// Marks the access as emergency access when `reach` says it went through
    /// a break-glass grant.
    pub fn reach(mut self, reach: Reach) -> Self {
        self.grant_id = reach.grant();
        self
    }

    /// Marks the attempt as failed or denied.
    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }
}

#[derive(Serialize)]
struct Canonical<'a> {
    seq: u64,
    at: &'a Timestamp,
    actor_id: &'a Option<Uuid>,
    actor_role: &'a Option<Role>,
    action: &'a str,
    target_type: &'a str,
    target_id: &'a Option<Uuid>,
    patient_id: &'a Option<Uuid>,
    outcome: &'a Outcome,
    client_addr: &'a Option<String>,
    // Left out when absent, so entries written before the field existed
    // keep the hash they were linked with.
    #[serde(skip_serializing_if = "Option::is_none")]
    grant_id: &'a Option<Uuid>,
    prev_hash: &'a str,
}

/// The hash an entry must carry.
pub fn hash_of(e: &AuditEntry) -> String {
    let canonical = Canonical {
        seq: e.seq,
        at: &e.at,
        actor_id: &e.actor_id,
        actor_role: &e.actor_role,
        action: &e.action,
        target_type: &e.target_type,
        target_id: &e.target_id,
        patient_id: &e.patient_id,
        outcome: &e.outcome,
        client_addr: &e.client_addr,
        grant_id: &e.grant_id,
        prev_hash: &e.prev_hash,
    };
    let mut h = Sha256::new();
    h.update(e.prev_hash.as_bytes());
    // Serialising a struct of plain fields cannot fail.
    h.update(serde_json::to_vec(&canonical).unwrap_or_default());
    hex::encode(h.finalize())
}

/// Links `draft` after `prev_hash` as entry `seq`.
pub fn link(draft: Draft, seq: u64, prev_hash: &str, at: Timestamp) -> AuditEntry {
    let mut e = AuditEntry {
        seq,
        at,
        actor_id: draft.actor.id,
        actor_role: draft.actor.role,
        action: draft.action.as_str().to_owned(),
        target_type: draft.target_type.to_owned(),
        target_id: draft.target_id,
        patient_id: draft.patient_id,
        outcome: draft.outcome,
        client_addr: draft.actor.addr,
        grant_id: draft.grant_id,
        prev_hash: prev_hash.to_owned(),
        hash: String::new(),
    };
    e.hash = hash_of(&e);
    e
}

/// Walks stored entries in sequence order (each as `(the seq its place in
/// the store gives it, the entry or None when unreadable)`) and names the
/// first one that is unreadable, out of sequence, not linked to the one
/// before, or whose hash does not match its content.
pub fn verify(entries: impl Iterator<Item = (u64, Option<AuditEntry>)>) -> ChainReport {
    let mut prev = GENESIS.to_owned();
    let mut expected = 1u64;
    for (key_seq, entry) in entries {
        let bad = ChainReport { ok: false, entries: None, first_bad: Some(key_seq) };
        let Some(e) = entry else { return bad };
        if e.seq != key_seq || e.seq != expected || e.prev_hash != prev || hash_of(&e) != e.hash {
            return ChainReport { first_bad: Some(expected.min(key_seq)), ..bad };
        }
        prev = e.hash;
        expected += 1;
    }
    ChainReport { ok: true, entries: Some(expected - 1), first_bad: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entries as the PostgreSQL backend reads them: JSON, `None` when it
    /// does not parse.
    fn parsed(rows: Vec<(u64, Vec<u8>)>) -> impl Iterator<Item = (u64, Option<AuditEntry>)> {
        rows.into_iter().map(|(seq, json)| (seq, serde_json::from_slice(&json).ok()))
    }

    fn chain(n: u64) -> Vec<(u64, Vec<u8>)> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let d = Draft::new(&Actor::default(), Action::UserRead, "user", None);
                let e = link(d, seq, &prev, Timestamp::UNIX_EPOCH);
                prev = e.hash.clone();
                (seq, serde_json::to_vec(&e).unwrap())
            })
            .collect()
    }

    #[test]
    fn intact_chain_verifies() {
        assert_eq!(verify(parsed(chain(5))), ChainReport { ok: true, entries: Some(5), first_bad: None });
    }

    #[test]
    fn an_entry_without_a_grant_hashes_as_before_the_field_existed() {
        let d = Draft::new(&Actor::default(), Action::UserRead, "user", None);
        let e = link(d, 1, GENESIS, Timestamp::UNIX_EPOCH);
        let json = serde_json::to_string(&e).unwrap();
        assert!(!json.contains("grant_id"));
        // The canonical form as it was before `grant_id` existed.
        #[derive(Serialize)]
        struct Legacy<'a> {
            seq: u64,
            at: &'a Timestamp,
            actor_id: &'a Option<Uuid>,
            actor_role: &'a Option<Role>,
            action: &'a str,
            target_type: &'a str,
            target_id: &'a Option<Uuid>,
            patient_id: &'a Option<Uuid>,
            outcome: &'a Outcome,
            client_addr: &'a Option<String>,
            prev_hash: &'a str,
        }
        let legacy = Legacy {
            seq: e.seq,
            at: &e.at,
            actor_id: &e.actor_id,
            actor_role: &e.actor_role,
            action: &e.action,
            target_type: &e.target_type,
            target_id: &e.target_id,
            patient_id: &e.patient_id,
            outcome: &e.outcome,
            client_addr: &e.client_addr,
            prev_hash: &e.prev_hash,
        };
        let mut h = Sha256::new();
        h.update(e.prev_hash.as_bytes());
        h.update(serde_json::to_vec(&legacy).unwrap());
        assert_eq!(e.hash, hex::encode(h.finalize()));
    }

    #[test]
    fn a_changed_grant_breaks_the_chain() {
        let grant = Uuid::from_u128(7);
        let d = Draft::new(&Actor::default(), Action::PatientRead, "patient", None).reach(Reach::Emergency(grant));
        let e = link(d, 1, GENESIS, Timestamp::UNIX_EPOCH);
        assert_eq!(e.grant_id, Some(grant));
        let forged = serde_json::to_vec(&e).unwrap();
        assert!(verify(parsed(vec![(1, forged.clone())])).ok);
        let forged = String::from_utf8(forged).unwrap().replace(&grant.to_string(), &Uuid::from_u128(8).to_string());
        assert!(!verify(parsed(vec![(1, forged.into_bytes())])).ok);
    }

    #[test]
    fn a_changed_or_missing_entry_is_named() {
        let mut c = chain(5);
        let text = String::from_utf8(c[2].1.clone()).unwrap().replace("user.read", "user.reax");
        c[2].1 = text.into_bytes();
        assert_eq!(verify(parsed(c)).first_bad, Some(3));
        let mut c = chain(5);
        c.remove(1);
        assert_eq!(verify(parsed(c)).first_bad, Some(2));
    }
}
