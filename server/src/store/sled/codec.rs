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

use jiff::Timestamp;
use uuid::Uuid;

use healthsynx_shared::AppointmentStatus;

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

/// Encodes `row` in layout v2.
pub fn encode_appointment(row: &AppointmentRow) -> Vec<u8> {
    let mut out = Vec::with_capacity(170 + row.department.len() + row.reason_sealed.len());
    out.push(V2);
    for id in [row.id, row.patient_id, row.doctor_id, row.created_by] {
        out.extend_from_slice(id.as_bytes());
    }
    for t in [row.start, row.end, row.created_at, row.updated_at] {
        out.extend_from_slice(&t.as_second().to_be_bytes());
        out.extend_from_slice(&t.subsec_nanosecond().to_be_bytes());
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

    fn appointment(mut self, v2: bool) -> Option<AppointmentRow> {
        let (id, patient_id, doctor_id, created_by) = (self.id()?, self.id()?, self.id()?, self.id()?);
        let (start, end, created_at, updated_at) = (self.time()?, self.time()?, self.time()?, self.time()?);
        let status = *STATUSES.get(usize::from(self.array::<1>()?[0]))?;
        let version = u64::from_be_bytes(self.array()?);
        let dept_len = u16::from_be_bytes(self.array()?) as usize;
        let department = self.text(dept_len)?;
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
