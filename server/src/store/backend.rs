//! The storage contract: domain operations grouped per entity, reached
//! through a transaction handle that both reads and writes, so "check, then
//! write" is one transaction on every backend. Backends live in
//! `store/<backend>/`; nothing of theirs (keys, rows of a driver) crosses here.
//!
//! A handle from [`Backend::begin`] is a write transaction: it serializes with
//! every other write transaction that could conflict, sees committed data,
//! and makes its writes and audit entries durable together on
//! [`Tx::commit`]; dropped without commit, nothing happens. A handle from
//! [`Backend::read`] only reads.

use std::any::Any;
use std::path::Path;

use async_trait::async_trait;
use jiff::Timestamp;
use uuid::Uuid;

use healthsynx_shared::api::ChainReport;
use healthsynx_shared::{AppointmentType, AuditEntry, Availability, DeliveryStatus, Department, Resource};

use super::rows::*;
use super::{Cursor, Result};
use crate::audit::Draft;
use crate::crypto::seal::Sealer;
use crate::scope::{ApptScope, CareScope};
use crate::throttle::{CountFailure, SharedFailures};

/// A page of rows, each with the cursor that continues after it.
pub type Rows<T> = Vec<(Cursor, T)>;

/// What a commit changed that caches above the backend hold (and what the
/// PostgreSQL backend announces to the other processes).
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct Committed {
    /// A user or patient row changed: cached accounts and names are stale.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub accounts: bool,
    /// Appointments written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub appointments: Vec<Uuid>,
    /// Doctors whose calendars the appointments written are on (kept
    /// calendar ETags rest on it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub doctors: Vec<Uuid>,
    /// Refresh families (logins) written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub families: Vec<Uuid>,
    /// Too much to name: drop every cache.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub everything: bool,
}

impl Committed {
    /// Whether any cache holds what this changed.
    pub fn touches_caches(&self) -> bool {
        self.must_announce_in_commit() || !self.doctors.is_empty()
    }

    /// Whether another process could serve something wrong, not merely
    /// something stale by a moment, if it learnt of this commit late (a
    /// revoked login, a changed row in a cache), so the announcement must
    /// be part of the commit. A new booking only moves a calendar's ETag:
    /// its announcement may follow the commit, which keeps bookings from
    /// queueing on PostgreSQL's notification lock while their commits flush.
    pub fn must_announce_in_commit(&self) -> bool {
        self.accounts || self.everything || !self.appointments.is_empty() || !self.families.is_empty()
    }

    /// The announcement of this commit: small enough for a notification
    /// (8 000 bytes), saying "everything" when the ids would not fit.
    pub fn for_notify(&self) -> Committed {
        if self.appointments.len() + self.families.len() + self.doctors.len() > 150 {
            Committed { everything: true, ..Committed::default() }
        } else {
            self.clone()
        }
    }
}

/// Accounts, departments and the secrets of logging in.
#[async_trait]
pub trait Accounts {
    async fn user(&mut self, id: Uuid) -> Result<Option<UserRow>>;
    /// Case-insensitive.
    async fn user_by_email(&mut self, email: &str) -> Result<Option<UserRow>>;
    async fn username_taken(&mut self, username: &str) -> Result<bool>;
    /// Users in id order after `after`.
    async fn users(&mut self, after: Option<&Cursor>, limit: usize) -> Result<Rows<UserRow>>;
    /// Writes a user and its email and username indexes, replacing `old`'s.
    async fn put_user(&mut self, row: &UserRow, old: Option<&UserRow>) -> Result<()>;

    /// All departments in code order.
    async fn departments(&mut self) -> Result<Vec<Department>>;
    async fn department(&mut self, code: &str) -> Result<Option<Department>>;
    async fn put_department(&mut self, d: &Department) -> Result<()>;

    async fn refresh_family(&mut self, id: Uuid) -> Result<Option<RefreshFamily>>;
    async fn put_refresh_family(&mut self, f: &RefreshFamily) -> Result<()>;
    /// Every stored login of `user` (live, revoked or expired but not yet swept).
    async fn refresh_families_of(&mut self, user: Uuid) -> Result<Vec<RefreshFamily>>;
    /// A password reset token by the hash of its text.
    async fn reset_token(&mut self, hash: &str) -> Result<Option<ResetTokenRow>>;
    async fn put_reset_token(&mut self, hash: &str, row: &ResetTokenRow) -> Result<()>;
    async fn remove_reset_token(&mut self, hash: &str) -> Result<()>;

    /// The first answer to an idempotent request by `actor` with `key`.
    async fn idempotency(&mut self, actor: Uuid, key: &str) -> Result<Option<IdempotencyRow>>;
    async fn put_idempotency(&mut self, actor: Uuid, key: &str, row: &IdempotencyRow) -> Result<()>;
}

/// Break-glass grants, second factors and calendar feed tokens.
#[async_trait]
pub trait Safety {
    /// The feed whose token hashes to `hash`.
    async fn calendar_feed_by_hash(&mut self, hash: &str) -> Result<Option<CalendarFeedRow>>;
    async fn calendar_feed_of(&mut self, user: Uuid) -> Result<Option<CalendarFeedRow>>;
    /// Writes `user`'s feed, ending `old` (its token stops working).
    async fn put_calendar_feed(&mut self, row: &CalendarFeedRow, old: Option<&CalendarFeedRow>) -> Result<()>;
    async fn remove_calendar_feed(&mut self, row: &CalendarFeedRow) -> Result<()>;

    async fn grant(&mut self, id: Uuid) -> Result<Option<GrantRow>>;
    async fn put_grant(&mut self, row: &GrantRow) -> Result<()>;
    /// The grants `actor` holds on `patient`, newest first.
    async fn grants_of(&mut self, actor: Uuid, patient: Uuid) -> Result<Vec<GrantRow>>;
    /// Grants not yet reviewed, oldest first.
    async fn unreviewed_grants(&mut self, limit: usize) -> Result<Vec<GrantRow>>;

    async fn mfa(&mut self, user: Uuid) -> Result<Option<MfaRow>>;
    async fn put_mfa(&mut self, row: &MfaRow) -> Result<()>;
    async fn remove_mfa(&mut self, user: Uuid) -> Result<()>;
    /// A pending second-factor token by the hash of its text.
    async fn mfa_challenge(&mut self, hash: &str) -> Result<Option<MfaChallengeRow>>;
    async fn put_mfa_challenge(&mut self, hash: &str, row: &MfaChallengeRow) -> Result<()>;
    async fn remove_mfa_challenge(&mut self, hash: &str) -> Result<()>;
}

/// Patient profiles and who may see them.
#[async_trait]
pub trait Patients {
    async fn patient(&mut self, id: Uuid) -> Result<Option<PatientRow>>;
    /// The patient id of a patient's user account.
    async fn patient_id_of_user(&mut self, user_id: Uuid) -> Result<Option<Uuid>>;
    /// Patients in id order after `after`.
    async fn patients(&mut self, after: Option<&Cursor>, limit: usize) -> Result<Rows<PatientRow>>;
    async fn put_patient(&mut self, row: &PatientRow) -> Result<()>;
    /// Whether the scope has a non-cancelled appointment with `patient`.
    async fn cares_for(&mut self, scope: &CareScope, patient: Uuid) -> Result<bool>;
    /// The patients in a scope's care, each once, in id order, after `after`.
    async fn patients_in_care(&mut self, scope: &CareScope, after: Option<Uuid>, limit: usize) -> Result<Vec<Uuid>>;
    /// Puts a patient into a doctor's and department's care as an
    /// appointment `link` would (tests and bulk loads).
    async fn link_care(&mut self, doctor: Uuid, dept: &str, patient: Uuid, link: Uuid) -> Result<()>;
}

/// Appointments and the hours they may take.
#[async_trait]
pub trait Schedule {
    async fn appointment(&mut self, id: Uuid) -> Result<Option<AppointmentRow>>;
    /// Writes an appointment and its indexes, replacing `old`'s entries.
    async fn put_appointment(&mut self, row: &AppointmentRow, old: Option<&AppointmentRow>) -> Result<()>;
    /// Appointments of a scope starting in `[from, to)`, in start order,
    /// after `after`.
    async fn appointments_in(
        &mut self,
        scope: &ApptScope,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Rows<AppointmentRow>>;
    /// Appointments of a doctor, patient or resource whose held time (see
    /// [`AppointmentRow::held_in`]) overlaps `[start, end)`, other than
    /// `except`: read through the scope's time index, from the longest
    /// appointment and buffer before `start` to the longest buffer after `end`.
    async fn overlapping(
        &mut self,
        scope: &ApptScope,
        start: Timestamp,
        end: Timestamp,
        except: Option<Uuid>,
    ) -> Result<Vec<AppointmentRow>> {
        let reach = super::longest_held(scope);
        let rows = self.appointments_in(scope, Some(start - reach), Some(end + super::max_buffer()), None, usize::MAX);
        Ok(rows
            .await?
            .into_iter()
            .map(|(_, a)| a)
            .filter(|a| {
                let (s, e) = a.held_in(scope);
                a.status.holds_time() && e > start && s < end && Some(a.id) != except
            })
            .collect())
    }
    /// Appointments holding any of `resources` that start in `[from, to)`
    /// (a type's rooms at once: one read where a backend can).
    async fn appointments_of_resources(
        &mut self,
        resources: &[Uuid],
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<AppointmentRow>> {
        let mut out = Vec::new();
        for r in resources {
            let rows = self.appointments_in(&ApptScope::Resource(*r), Some(from), Some(to), None, usize::MAX).await?;
            out.extend(rows.into_iter().map(|(_, a)| a));
        }
        Ok(out)
    }
    /// Makes other transactions that call this for `patient` wait until
    /// this one ends, so what they count of the patient's appointments
    /// includes this one's booking. The embedded store runs one write
    /// transaction at a time already.
    async fn hold_patient_bookings(&mut self, _patient: Uuid) -> Result<()> {
        Ok(())
    }
    /// Deletes an appointment and its indexes (a hold that was not accepted).
    async fn remove_appointment(&mut self, row: &AppointmentRow) -> Result<()>;
    /// A series; in a write transaction, concurrent changes of it wait.
    async fn series(&mut self, id: Uuid) -> Result<Option<SeriesRow>>;
    async fn put_series(&mut self, row: &SeriesRow) -> Result<()>;
    /// A doctor's rules and time off (empty when never set).
    async fn availability(&mut self, doctor: Uuid) -> Result<Availability>;
    /// The same, to be changed: concurrent changes of it wait for this one.
    async fn availability_to_change(&mut self, doctor: Uuid) -> Result<Availability>;
    async fn put_availability(&mut self, doctor: Uuid, a: &Availability) -> Result<()>;
}

/// Appointment types and the resources (rooms, equipment) visits book.
/// Both are few (tens): lists return all of them, the caller filters.
#[async_trait]
pub trait Catalog {
    /// Every type, by department and name.
    async fn appointment_types(&mut self) -> Result<Vec<AppointmentType>>;
    /// A type; in a write transaction, concurrent changes of it wait.
    async fn appointment_type(&mut self, id: Uuid) -> Result<Option<AppointmentType>>;
    async fn put_appointment_type(&mut self, t: &AppointmentType) -> Result<()>;
    /// Every resource, by department, kind and name.
    async fn resources(&mut self) -> Result<Vec<Resource>>;
    /// A resource; in a write transaction, concurrent changes of it wait.
    async fn resource(&mut self, id: Uuid) -> Result<Option<Resource>>;
    async fn put_resource(&mut self, r: &Resource) -> Result<()>;
    /// Makes other transactions that call this for the same department and
    /// kind wait until this one ends, so the resource they pick is not the
    /// one this one booked. The embedded store runs one write transaction
    /// at a time already.
    async fn hold_resources(&mut self, _department: &str, _kind: &str) -> Result<()> {
        Ok(())
    }
}

/// The waitlist and the offers it is made. Both are few (a clinic's
/// waiting patients and their offers, ended ones swept after
/// [`WAITLIST_KEEP_DAYS`]): lists return all of them, the caller filters.
#[async_trait]
pub trait Waitlist {
    /// Every stored entry, oldest first.
    async fn waitlist_entries(&mut self) -> Result<Vec<WaitlistRow>>;
    /// An entry; in a write transaction, concurrent changes of it wait.
    async fn waitlist_entry(&mut self, id: Uuid) -> Result<Option<WaitlistRow>>;
    async fn put_waitlist_entry(&mut self, row: &WaitlistRow) -> Result<()>;
    /// Every stored offer, oldest first.
    async fn offers(&mut self) -> Result<Vec<OfferRow>>;
    /// An offer; in a write transaction, concurrent changes of it wait.
    async fn offer(&mut self, id: Uuid) -> Result<Option<OfferRow>>;
    async fn put_offer(&mut self, row: &OfferRow) -> Result<()>;
}

/// Invoices, their numbers and their payments.
#[async_trait]
pub trait Billing {
    /// An invoice; in a write transaction, concurrent changes of it wait.
    async fn invoice(&mut self, id: Uuid) -> Result<Option<InvoiceRow>>;
    /// Writes an invoice (its patient never changes).
    async fn put_invoice(&mut self, row: &InvoiceRow) -> Result<()>;
    /// Invoices in id (creation) order after `after`, of one patient or all.
    async fn invoices(
        &mut self,
        patient: Option<Uuid>,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Rows<InvoiceRow>>;
    /// Issued invoices not yet paid in full, oldest first.
    async fn open_invoices(&mut self) -> Result<Vec<InvoiceRow>>;
    /// Takes the next number of `year` (1, 2, …). Concurrent callers wait
    /// for this transaction, and a rolled-back one gives its number back,
    /// so committed numbers run without gaps or repeats.
    async fn next_invoice_number(&mut self, year: i16) -> Result<u32>;
    /// Every year's last number given (copy).
    async fn invoice_numbers(&mut self) -> Result<Vec<(i16, u32)>>;
    /// Sets a year's last number given (copy into an empty store only).
    async fn set_invoice_number(&mut self, year: i16, last: u32) -> Result<()>;
    /// The live invoice (draft or issued) an appointment is billed on.
    async fn invoice_of_appointment(&mut self, appointment: Uuid) -> Result<Option<Uuid>>;
    /// Marks `add` as billed on `invoice` and `remove` as billed nowhere;
    /// an appointment already billed elsewhere is a conflict.
    async fn bill_appointments(&mut self, invoice: Uuid, add: &[Uuid], remove: &[Uuid]) -> Result<()>;

    async fn payment(&mut self, id: Uuid) -> Result<Option<PaymentRow>>;
    async fn put_payment(&mut self, row: &PaymentRow) -> Result<()>;
    /// An invoice's payments and refunds, oldest first.
    async fn payments_of_invoice(&mut self, invoice: Uuid) -> Result<Vec<PaymentRow>>;
    /// Payments and refunds received in `[from, to)`, oldest first.
    async fn payments_received(&mut self, from: Timestamp, to: Timestamp) -> Result<Vec<PaymentRow>>;
}

/// Webhooks, the outbox of their deliveries, and the reminders sent.
/// Webhooks are few (a clinic's integrations): the list returns them all.
#[async_trait]
pub trait Outreach {
    /// Every webhook, in id order.
    async fn webhooks(&mut self) -> Result<Vec<WebhookRow>>;
    /// A webhook; in a write transaction, concurrent changes of it wait.
    async fn webhook(&mut self, id: Uuid) -> Result<Option<WebhookRow>>;
    async fn put_webhook(&mut self, row: &WebhookRow) -> Result<()>;
    /// Deletes a webhook and every delivery of it.
    async fn remove_webhook(&mut self, id: Uuid) -> Result<()>;

    /// A delivery; in a write transaction, concurrent changes of it wait.
    async fn delivery(&mut self, id: Uuid) -> Result<Option<DeliveryRow>>;
    async fn put_delivery(&mut self, row: &DeliveryRow) -> Result<()>;
    /// A webhook's deliveries in id (creation) order after `after`,
    /// of one status or all.
    async fn deliveries_of(
        &mut self,
        webhook: Uuid,
        status: Option<DeliveryStatus>,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Rows<DeliveryRow>>;
    /// Takes up to `limit` pending deliveries due by `now`, soonest first,
    /// passing over those another transaction is taking, and moves their
    /// next attempt to `lease_until`: until then no other worker takes
    /// them, and if this one dies they are taken again after it.
    async fn claim_due_deliveries(
        &mut self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: usize,
    ) -> Result<Vec<DeliveryRow>>;
    /// The soonest next attempt of any pending delivery.
    async fn next_delivery_due(&mut self) -> Result<Option<Timestamp>>;

    /// Notes that the reminder `offset_secs` before `start` of an
    /// appointment went out; `false` when it had already (the caller then
    /// sends nothing). Concurrent callers wait for this transaction.
    async fn mark_reminder_sent(&mut self, appointment: Uuid, start: Timestamp, offset_secs: i64) -> Result<bool>;
    /// Every reminder noted, as (appointment, start, offset) (copy).
    async fn reminders_sent(&mut self) -> Result<Vec<(Uuid, Timestamp, i64)>>;
}

/// Medical records and every version of them.
#[async_trait]
pub trait Records {
    async fn record(&mut self, id: Uuid) -> Result<Option<RecordRow>>;
    /// Every stored version of a record, oldest first.
    async fn record_versions(&mut self, id: Uuid) -> Result<Vec<RecordRow>>;
    /// Writes a record as its newest version, keeping the old ones.
    async fn put_record(&mut self, row: &RecordRow, is_new: bool) -> Result<()>;
    /// Overwrites stored versions in place (key rotation only).
    async fn rewrite_record_versions(&mut self, current: &RecordRow, versions: &[RecordRow]) -> Result<()>;
    /// Records in id order after `after` (key rotation).
    async fn records(&mut self, after: Option<&Cursor>, limit: usize) -> Result<Rows<RecordRow>>;
    /// Records of a patient in creation order.
    async fn records_of_patient(
        &mut self,
        patient: Uuid,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Rows<RecordRow>>;
    async fn records_of_appointment(
        &mut self,
        appt: Uuid,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Rows<RecordRow>>;
}

/// The audit log as it is read.
#[async_trait]
pub trait AuditLog {
    /// Entries from newest to oldest, before `before`.
    async fn audit_newest_first(&mut self, before: Option<&Cursor>, limit: usize) -> Result<Rows<AuditEntry>>;
    /// Entries about one patient, newest first.
    async fn audit_of_patient(
        &mut self,
        patient: Uuid,
        before: Option<&Cursor>,
        limit: usize,
    ) -> Result<Rows<AuditEntry>>;
}

/// One transaction handle: every entity's operations, the audit entries its
/// writes carry, and commit.
#[async_trait]
pub trait Tx:
    Accounts + Patients + Schedule + Catalog + Waitlist + Billing + Outreach + Records + AuditLog + Safety + Send
{
    /// Appends an audit entry, linked into the chain and written with this
    /// transaction's changes.
    fn audit(&mut self, draft: Draft);
    /// Makes every write and audit entry durable, all or nothing.
    async fn commit(self: Box<Self>) -> Result<Committed>;
}

/// Totals a backup or a copy reports.
#[derive(Debug, Clone, Copy, Default)]
pub struct BackupSummary {
    pub bytes: u64,
    pub entries: u64,
}

/// A storage backend.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// A write transaction (see the module comment).
    async fn begin(&self) -> Result<Box<dyn Tx + '_>>;
    /// A handle that reads committed data; its commit writes only audit entries.
    async fn read(&self) -> Result<Box<dyn Tx + '_>>;
    /// Queues audit entries with no data change (reads, refused attempts);
    /// they are linked into the chain within a bounded delay.
    async fn append_audit(&self, drafts: Vec<Draft>) -> Result<()>;
    /// Links queued audit entries now.
    async fn drain_audit(&self) -> Result<()>;
    /// Walks the whole chain.
    async fn verify_audit(&self) -> Result<ChainReport>;
    /// Makes everything acknowledged so far durable (shutdown).
    async fn flush(&self) -> Result<()>;
    /// Deletes expired refresh families, reset tokens and idempotency
    /// answers, and waitlist entries and offers ended long ago.
    async fn sweep_expired(&self, now: Timestamp, idempotency_ttl: jiff::SignedDuration) -> Result<u64>;
    /// Writes rows without checks or audit entries (bulk loads into an empty store).
    async fn bulk_put_appointments(&self, rows: &[AppointmentRow]) -> Result<()>;
    /// A consistent snapshot into `path`, or why this backend has none.
    async fn backup_to(&self, sealer: &Sealer, path: &Path) -> Result<BackupSummary>;
    /// Whether the backend answers.
    async fn ping(&self) -> bool;
    /// Bytes the store takes on disk.
    async fn size_on_disk(&self) -> u64;
    /// Whether failed logins are counted here, for every process (else in memory).
    fn shares_login_failures(&self) -> bool {
        false
    }
    async fn login_failures(&self, _key: &str) -> Result<Option<SharedFailures>> {
        Ok(None)
    }
    /// Applies `fail` to the record under `key` atomically; what it returned.
    async fn count_login_failure(&self, _key: &str, _fail: &CountFailure) -> Result<Option<std::time::Duration>> {
        Ok(None)
    }
    async fn forgive_login_failures(&self, _key: &str) -> Result<()> {
        Ok(())
    }
    /// Where other processes' writes arrive, for a backend shared by several.
    fn remote(&self) -> Option<&super::Remote> {
        None
    }
    /// For backend-specific tools and tests.
    fn as_any(&self) -> &dyn Any;
}
