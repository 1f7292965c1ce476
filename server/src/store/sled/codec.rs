//! The byte layout of appointment rows. Appointments are the store's bulk
//! (a million in a large clinic, each kept in full once, in the doctor
//! index), and every calendar miss decodes ~40 of them, so they get a fixed
//! binary layout instead of JSON: less than half the bytes, so more of the
//! store fits in sled's cache, and no text parsing on the way out.
//!
//! Layout v1 (integers big-endian):
//! `0x01 ‖ id ‖ patient_id ‖ doctor_id ‖ created_by` (16 bytes each),
//! `start ‖ end ‖ created_at ‖ updated_at` (i64 seconds ‖ i32 nanoseconds,
//! signed like the seconds, each),
//! `status` (u8), `version` (u64), `department` (u16 length ‖ UTF-8),
//! `reason_sealed` (u32 length ‖ UTF-8), `cancel_reason_sealed` (u8 0/1, then
//! u32 length ‖ UTF-8).
//!
//! Layout v2 (written since appointment types): `0x02`, the v1 fields, then
//! `flags` (u8: 1 type, 2 resource, 4 series), `type_id`, `resource_id` and
//! `series_id` (16 bytes each, when flagged), `buffer_before ‖ buffer_after`
//! (u16 minutes each).
//! Rows written before v1 are JSON; they and v1 rows still read.
//!
//! Audit blocks (see `audit_log`), layout v1: `0x01`, then each entry as
//! `seq` (u64) ‖ `at` (i64 seconds ‖ i32 nanoseconds) ‖ `flags` (u8: 1 actor,
//! 2 role, 4 target, 8 patient, 16 address, 32 grant) ‖ `actor_id` ‖
//! `actor_role` (u8) ‖ `action` ‖ `target_type` ‖ `target_id` ‖ `patient_id`
//! ‖ `outcome` (u8) ‖ `client_addr` ‖ `grant_id` ‖ `prev_hash` ‖ `hash` (32
//! bytes each, the SHA-256 the hex stands for); ids are 16 bytes, texts u16
//! length ‖ UTF-8, and a flagged-off field is absent. Stores from before
//! blocks hold one JSON entry per key, which reads as a block of one. The
//! layout is a third of the JSON's bytes, and sled's cost grows with bytes.

use jiff::Timestamp;
use uuid::Uuid;

use healthsynx_shared::{AppointmentStatus, AuditEntry, Outcome, Role};

use crate::store::{AppointmentRow, Result, StoreError};

const V1: u8 = 1;
const V2: u8 = 2;
const HAS_TYPE: u8 = 1;
const HAS_RESOURCE: u8 = 2;
const HAS_SERIES: u8 = 4;

const STATUSES: [AppointmentStatus; 6] = [
    AppointmentStatus::Scheduled,
    AppointmentStatus::CheckedIn,
    AppointmentStatus::Completed,
    AppointmentStatus::Cancelled,
    AppointmentStatus::NoShow,
    // Added last: the codes above stay what stored rows hold.
    AppointmentStatus::Held,
];

const AUDIT_V1: u8 = 1;
const HAS_ACTOR: u8 = 1;
const HAS_ROLE: u8 = 2;
const HAS_TARGET: u8 = 4;
const HAS_PATIENT: u8 = 8;
const HAS_ADDR: u8 = 16;
const HAS_GRANT: u8 = 32;

// Codes as stored: new values go at the end.
const ROLES: [Role; 5] = [Role::Admin, Role::Doctor, Role::Nurse, Role::Receptionist, Role::Patient];
const OUTCOMES: [Outcome; 3] = [Outcome::Success, Outcome::Failure, Outcome::Denied];

/// Encodes consecutive audit entries as one block.
pub fn encode_audit_block(entries: &[AuditEntry]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(1 + entries.len() * 180);
    out.push(AUDIT_V1);
    for e in entries {
        put_audit_entry(&mut out, e)?;
    }
    Ok(out)
}

fn put_audit_entry(out: &mut Vec<u8>, e: &AuditEntry) -> Result<()> {
    out.extend_from_slice(&e.seq.to_be_bytes());
    put_time(out, e.at);
    let flags = u8::from(e.actor_id.is_some()) * HAS_ACTOR
        + u8::from(e.actor_role.is_some()) * HAS_ROLE
        + u8::from(e.target_id.is_some()) * HAS_TARGET
        + u8::from(e.patient_id.is_some()) * HAS_PATIENT
        + u8::from(e.client_addr.is_some()) * HAS_ADDR
        + u8::from(e.grant_id.is_some()) * HAS_GRANT;
    out.push(flags);
    if let Some(id) = e.actor_id {
        out.extend_from_slice(id.as_bytes());
    }
    if let Some(role) = e.actor_role {
        out.push(ROLES.iter().position(|r| *r == role).unwrap_or(0) as u8);
    }
    put_text(out, &e.action)?;
    put_text(out, &e.target_type)?;
    for id in [e.target_id, e.patient_id].into_iter().flatten() {
        out.extend_from_slice(id.as_bytes());
    }
    out.push(OUTCOMES.iter().position(|o| *o == e.outcome).unwrap_or(0) as u8);
    if let Some(addr) = &e.client_addr {
        put_text(out, addr)?;
    }
    if let Some(id) = e.grant_id {
        out.extend_from_slice(id.as_bytes());
    }
    for h in [&e.prev_hash, &e.hash] {
        let mut raw = [0u8; 32];
        hex::decode_to_slice(h, &mut raw).map_err(|_| unreadable("an audit hash is not SHA-256 hex"))?;
        out.extend_from_slice(&raw);
    }
    Ok(())
}

/// `i64` seconds ‖ `i32` nanoseconds: what [`Reader::time`] reads.
fn put_time(out: &mut Vec<u8>, t: Timestamp) {
    out.extend_from_slice(&t.as_second().to_be_bytes());
    out.extend_from_slice(&t.subsec_nanosecond().to_be_bytes());
}

fn put_text(out: &mut Vec<u8>, s: &str) -> Result<()> {
    let len = u16::try_from(s.len()).map_err(|_| unreadable("an audit text is longer than 64 KiB"))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

/// Decodes an audit block: layout v1, or one JSON entry from before blocks.
pub fn decode_audit_block(bytes: &[u8]) -> Result<Vec<AuditEntry>> {
    match bytes.first() {
        Some(&AUDIT_V1) => {
            let mut r = Reader(&bytes[1..]);
            let mut entries = Vec::new();
            while !r.0.is_empty() {
                entries.push(r.audit_entry().ok_or_else(|| unreadable("damaged audit block"))?);
            }
            Ok(entries)
        }
        Some(b'{') => Ok(vec![serde_json::from_slice(bytes).map_err(|e| unreadable(&e.to_string()))?]),
        _ => Err(unreadable("unknown audit block layout")),
    }
}

/// Encodes `row` in layout v2.
pub fn encode_appointment(row: &AppointmentRow) -> Vec<u8> {
    let mut out = Vec::with_capacity(170 + row.department.len() + row.reason_sealed.len());
    out.push(V2);
    for id in [row.id, row.patient_id, row.doctor_id, row.created_by] {
        out.extend_from_slice(id.as_bytes());
    }
    for t in [row.start, row.end, row.created_at, row.updated_at] {
        put_time(&mut out, t);
    }
    out.push(STATUSES.iter().position(|s| *s == row.status).unwrap_or(0) as u8);
    out.extend_from_slice(&row.version.to_be_bytes());
    out.extend_from_slice(&(row.department.len() as u16).to_be_bytes());
    out.extend_from_slice(row.department.as_bytes());
    put_long_text(&mut out, &row.reason_sealed);
    match &row.cancel_reason_sealed {
        Some(s) => {
            out.push(1);
            put_long_text(&mut out, s);
        }
        None => out.push(0),
    }
    let flags = u8::from(row.type_id.is_some()) * HAS_TYPE
        + u8::from(row.resource_id.is_some()) * HAS_RESOURCE
        + u8::from(row.series_id.is_some()) * HAS_SERIES;
    out.push(flags);
    for id in [row.type_id, row.resource_id, row.series_id].into_iter().flatten() {
        out.extend_from_slice(id.as_bytes());
    }
    out.extend_from_slice(&row.buffer_before.to_be_bytes());
    out.extend_from_slice(&row.buffer_after.to_be_bytes());
    out
}

fn put_long_text(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Decodes a stored appointment row: layout v2 or v1, or JSON from before them.
pub fn decode_appointment(bytes: &[u8]) -> Result<AppointmentRow> {
    match bytes.first() {
        Some(&v @ (V1 | V2)) => {
            Reader(&bytes[1..]).appointment(v == V2).ok_or_else(|| unreadable("damaged appointment row"))
        }
        Some(b'{') => serde_json::from_slice(bytes).map_err(|e| unreadable(&e.to_string())),
        _ => Err(unreadable("unknown appointment row layout")),
    }
}

fn unreadable(why: &str) -> StoreError {
    StoreError::Corrupt(why.to_owned())
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn id(&mut self) -> Option<Uuid> {
        Some(Uuid::from_bytes(self.array()?))
    }

    fn time(&mut self) -> Option<Timestamp> {
        let secs = i64::from_be_bytes(self.array()?);
        let nanos = i32::from_be_bytes(self.array()?);
        Timestamp::new(secs, nanos).ok()
    }

    fn text(&mut self, len: usize) -> Option<String> {
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }

    fn long_text(&mut self) -> Option<String> {
        let len = u32::from_be_bytes(self.array()?) as usize;
        self.text(len)
    }

    fn short_text(&mut self) -> Option<String> {
        let len = u16::from_be_bytes(self.array()?) as usize;
        self.text(len)
    }

    fn byte(&mut self) -> Option<u8> {
        Some(self.array::<1>()?[0])
    }

    fn audit_entry(&mut self) -> Option<AuditEntry> {
        let seq = u64::from_be_bytes(self.array()?);
        let at = self.time()?;
        let flags = self.byte()?;
        if flags & !(HAS_ACTOR | HAS_ROLE | HAS_TARGET | HAS_PATIENT | HAS_ADDR | HAS_GRANT) != 0 {
            return None;
        }
        let has = |f: u8| flags & f != 0;
        let actor_id = if has(HAS_ACTOR) { Some(self.id()?) } else { None };
        let actor_role = if has(HAS_ROLE) { Some(*ROLES.get(usize::from(self.byte()?))?) } else { None };
        let action = self.short_text()?;
        let target_type = self.short_text()?;
        let target_id = if has(HAS_TARGET) { Some(self.id()?) } else { None };
        let patient_id = if has(HAS_PATIENT) { Some(self.id()?) } else { None };
        let outcome = *OUTCOMES.get(usize::from(self.byte()?))?;
        let client_addr = if has(HAS_ADDR) { Some(self.short_text()?) } else { None };
        let grant_id = if has(HAS_GRANT) { Some(self.id()?) } else { None };
        let prev_hash = hex::encode(self.array::<32>()?);
        let hash = hex::encode(self.array::<32>()?);
        Some(AuditEntry {
            seq,
            at,
            actor_id,
            actor_role,
            action,
            target_type,
            target_id,
            patient_id,
            outcome,
            client_addr,
            grant_id,
            prev_hash,
            hash,
        })
    }

    fn appointment(mut self, v2: bool) -> Option<AppointmentRow> {
        let (id, patient_id, doctor_id, created_by) = (self.id()?, self.id()?, self.id()?, self.id()?);
        let (start, end, created_at, updated_at) = (self.time()?, self.time()?, self.time()?, self.time()?);
        let status = *STATUSES.get(usize::from(self.array::<1>()?[0]))?;
        let version = u64::from_be_bytes(self.array()?);
        let department = self.short_text()?;
        let reason_sealed = self.long_text()?;
        let cancel_reason_sealed = match self.array::<1>()?[0] {
            0 => None,
            1 => Some(self.long_text()?),
            _ => return None,
        };
        let (mut type_id, mut resource_id, mut series_id, mut buffer_before, mut buffer_after) =
            (None, None, None, 0, 0);
        if v2 {
            let flags = self.array::<1>()?[0];
            if flags & !(HAS_TYPE | HAS_RESOURCE | HAS_SERIES) != 0 {
                return None;
            }
            if flags & HAS_TYPE != 0 {
                type_id = Some(self.id()?);
            }
            if flags & HAS_RESOURCE != 0 {
                resource_id = Some(self.id()?);
            }
            if flags & HAS_SERIES != 0 {
                series_id = Some(self.id()?);
            }
            buffer_before = u16::from_be_bytes(self.array()?);
            buffer_after = u16::from_be_bytes(self.array()?);
        }
        if !self.0.is_empty() {
            return None;
        }
        Some(AppointmentRow {
            id,
            patient_id,
            doctor_id,
            department,
            start,
            end,
            status,
            reason_sealed,
            cancel_reason_sealed,
            version,
            created_at,
            updated_at,
            created_by,
            type_id,
            resource_id,
            buffer_before,
            buffer_after,
            series_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_entries_with_every_field_and_none_read_back_unchanged() {
        let full = AuditEntry {
            seq: 7,
            at: "2026-12-03T14:50:00.123456789Z".parse().unwrap(),
            actor_id: Some(Uuid::from_u128(1)),
            actor_role: Some(Role::Receptionist),
            action: "patient.read".into(),
            target_type: "patient".into(),
            target_id: Some(Uuid::from_u128(2)),
            patient_id: Some(Uuid::from_u128(2)),
            outcome: Outcome::Denied,
            client_addr: Some("[2001:db8::1]:443".into()),
            grant_id: Some(Uuid::from_u128(3)),
            prev_hash: "ab".repeat(32),
            hash: "0f".repeat(32),
        };
        let bare = AuditEntry {
            seq: 8,
            actor_id: None,
            actor_role: None,
            target_id: None,
            patient_id: None,
            outcome: Outcome::Success,
            client_addr: None,
            grant_id: None,
            prev_hash: full.hash.clone(),
            ..full.clone()
        };
        let block = encode_audit_block(&[full.clone(), bare.clone()]).unwrap();
        assert_eq!(decode_audit_block(&block).unwrap(), vec![full.clone(), bare]);
        let json = serde_json::to_vec(&full).unwrap();
        assert!(block.len() < json.len(), "two entries take fewer bytes than one as JSON");
        assert_eq!(decode_audit_block(&json).unwrap(), vec![full]);
        assert!(decode_audit_block(&block[..block.len() - 1]).is_err());
    }

    fn row(cancel: Option<&str>) -> AppointmentRow {
        let t = |s: &str| s.parse::<Timestamp>().unwrap();
        AppointmentRow {
            id: Uuid::from_u128(1),
            patient_id: Uuid::from_u128(2),
            doctor_id: Uuid::from_u128(3),
            department: "cardiology".into(),
            start: t("2026-03-29T07:30:00Z"),
            end: t("2026-03-29T08:00:00Z"),
            status: AppointmentStatus::NoShow,
            reason_sealed: "hs1.abcd1234.c2VhbGVk".into(),
            cancel_reason_sealed: cancel.map(str::to_owned),
            version: 7,
            created_at: t("1969-12-31T23:59:59.123456789Z"),
            updated_at: t("2026-11-27T14:43:33.000000001Z"),
            created_by: Uuid::from_u128(4),
            type_id: None,
            resource_id: None,
            buffer_before: 0,
            buffer_after: 0,
            series_id: None,
        }
    }

    fn booked(cancel: Option<&str>) -> AppointmentRow {
        AppointmentRow {
            type_id: Some(Uuid::from_u128(5)),
            resource_id: Some(Uuid::from_u128(6)),
            buffer_before: 10,
            buffer_after: 120,
            series_id: Some(Uuid::from_u128(7)),
            ..row(cancel)
        }
    }

    fn same(a: &AppointmentRow, b: &AppointmentRow) {
        assert_eq!(serde_json::to_value(a).unwrap(), serde_json::to_value(b).unwrap());
    }

    #[test]
    fn v2_round_trips_every_field_and_is_smaller_than_json() {
        let only_type = AppointmentRow { resource_id: None, ..booked(None) };
        for r in [row(None), row(Some("hs1.abcd1234.Y2FuY2Vs")), booked(None), booked(Some("x")), only_type] {
            let bytes = encode_appointment(&r);
            same(&decode_appointment(&bytes).unwrap(), &r);
            assert!(bytes.len() * 2 < serde_json::to_vec(&r).unwrap().len(), "{} bytes", bytes.len());
        }
    }

    #[test]
    fn every_status_round_trips_and_stored_codes_keep_their_meaning() {
        for status in STATUSES {
            let r = AppointmentRow { status, ..row(None) };
            same(&decode_appointment(&encode_appointment(&r)).unwrap(), &r);
        }
        // Codes written by earlier releases: held came last, so none moved.
        let code = |s| STATUSES.iter().position(|x| *x == s);
        assert_eq!(code(AppointmentStatus::Scheduled), Some(0));
        assert_eq!(code(AppointmentStatus::NoShow), Some(4));
        assert_eq!(code(AppointmentStatus::Held), Some(5));
    }

    #[test]
    fn v1_rows_still_read() {
        // v1 is v2 without its tail (flags, ids, buffers), marked 1.
        let r = row(Some("x"));
        let mut bytes = encode_appointment(&r);
        bytes.truncate(bytes.len() - 5);
        bytes[0] = V1;
        same(&decode_appointment(&bytes).unwrap(), &r);
    }

    #[test]
    fn json_rows_from_before_v1_still_read() {
        let r = row(None);
        same(&decode_appointment(&serde_json::to_vec(&r).unwrap()).unwrap(), &r);
    }

    #[test]
    fn damaged_rows_are_errors_never_garbage() {
        let bytes = encode_appointment(&booked(Some("x")));
        for cut in 0..bytes.len() {
            assert!(decode_appointment(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode_appointment(&longer).is_err());
        let mut bad_status = bytes;
        bad_status[1 + 64 + 48] = 9;
        assert!(decode_appointment(&bad_status).is_err());
    }
}
