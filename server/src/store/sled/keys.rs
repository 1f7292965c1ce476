//! Key encodings: fixed-width big-endian parts, so byte order is the order
//! we scan in (an id, then a time, then an id).

use jiff::Timestamp;
use uuid::Uuid;

/// Seconds since the epoch with the sign bit flipped: big-endian bytes then
/// sort like the times.
pub fn time(t: Timestamp) -> [u8; 8] {
    ((t.as_second() as u64) ^ (1 << 63)).to_be_bytes()
}

/// The inverse of [`time`].
#[cfg(test)]
pub fn time_from(bytes: &[u8]) -> Option<Timestamp> {
    let raw: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    Timestamp::from_second((u64::from_be_bytes(raw) ^ (1 << 63)) as i64).ok()
}

/// `id ‖ time ‖ id`: an index entry sorted by owner, then time.
pub fn owner_time_id(owner: &[u8], t: Timestamp, id: Uuid) -> Vec<u8> {
    let mut k = Vec::with_capacity(owner.len() + 24);
    k.extend_from_slice(owner);
    k.extend_from_slice(&time(t));
    k.extend_from_slice(id.as_bytes());
    k
}

/// `owner ‖ time`: where a range scan of [`owner_time_id`] keys starts or ends.
pub fn owner_time(owner: &[u8], t: Timestamp) -> Vec<u8> {
    let mut k = Vec::with_capacity(owner.len() + 8);
    k.extend_from_slice(owner);
    k.extend_from_slice(&time(t));
    k
}

/// The trailing id of a key.
pub fn trailing_id(key: &[u8]) -> Option<Uuid> {
    let at = key.len().checked_sub(16)?;
    Uuid::from_slice(&key[at..]).ok()
}

/// `a ‖ b` of two ids.
pub fn pair(a: Uuid, b: Uuid) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[..16].copy_from_slice(a.as_bytes());
    k[16..].copy_from_slice(b.as_bytes());
    k
}

/// `doctor ‖ patient`: a care-by-doctor entry.
pub fn care_by_doctor(doctor: Uuid, patient: Uuid) -> Vec<u8> {
    pair(doctor, patient).to_vec()
}

/// `dept\0 ‖ patient`: a care-by-department entry.
pub fn care_by_dept(code: &str, patient: Uuid) -> Vec<u8> {
    [dept(code).as_slice(), patient.as_bytes()].concat()
}

/// A department code as a key prefix: its bytes and a 0 terminator, so
/// `card` never matches `cardiology`.
pub fn dept(code: &str) -> Vec<u8> {
    let mut k = code.as_bytes().to_vec();
    k.push(0);
    k
}

/// `u64` big-endian, for sequence numbers and versions.
pub fn seq(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

/// The inverse of [`seq`].
pub fn seq_from(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_keys_sort_like_times() {
        let a: Timestamp = "1969-12-31T23:59:00Z".parse().unwrap();
        let b: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let c: Timestamp = "2026-01-01T00:00:01Z".parse().unwrap();
        assert!(time(a) < time(b) && time(b) < time(c));
        assert_eq!(time_from(&time(b)), Some(b));
    }
}
