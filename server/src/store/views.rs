//! Appointments as the API shows them, encoded once and kept until a write
//! changes them. A calendar is ~40 appointments, and rendering one means
//! decoding its row, opening its sealed reason, joining two names and
//! encoding JSON; from this cache it is a hash lookup.
//!
//! [`Store::write`](super::Store::write) drops the views of the appointments
//! it writes and all of them when it writes an account or a patient (names
//! are joined into views). A reader only fills in a view it rendered while
//! the generation stayed the same, so a view is never stale. The cache holds
//! clear text, like every response does on its way out; it lives in memory
//! only, within its byte budget (`HEALTHSYNX_VIEW_CACHE_MB`).
//!
//! Eviction is by generations: new views go into `young`; when `young` has
//! half the budget it becomes `old` and the previous `old` is dropped whole.
//! The dropped map is handed back to the caller to free outside the lock: on
//! a store too big to cache (a million appointments read at random) freeing
//! the whole cache under the lock stalled every calendar behind it.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

use bytes::Bytes;
use uuid::Uuid;

pub(super) type Views = HashMap<Uuid, Bytes, BuildHasherDefault<IdHasher>>;

pub(super) struct ViewCache {
    generation: u64,
    /// Bytes each generation may hold (half the budget); 0 keeps none.
    half: usize,
    young: Views,
    young_bytes: usize,
    old: Views,
    /// Ids missed lately, one bit each by hash: a view is kept on its
    /// second miss, so a store read at random (too big to cache) does not
    /// churn the cache with views read once.
    seen: Vec<u64>,
    seen_count: usize,
}

/// Bits of the `seen` filter; it starts over a quarter full.
const SEEN_BITS: usize = 1 << 20;

/// Ids are random (v4), so folding their bytes and one finalizing mix is
/// hash enough; SipHash showed up in calendar profiles.
#[derive(Default)]
pub(super) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(23) ^ u64::from_le_bytes(word);
        }
    }

    /// splitmix64's finalizer: every input bit reaches the high and low bits.
    fn finish(&self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl ViewCache {
    pub(super) fn new(budget: usize) -> Self {
        ViewCache {
            generation: 0,
            half: budget / 2,
            young: Views::default(),
            young_bytes: 0,
            old: Views::default(),
            seen: vec![0; SEEN_BITS / 64],
            seen_count: 0,
        }
    }

    /// Whether `id` was missed before (and notes that it now has been).
    fn seen_before(&mut self, id: &Uuid) -> bool {
        let bit = BuildHasherDefault::<IdHasher>::default().hash_one(id) as usize % SEEN_BITS;
        let (word, mask) = (bit / 64, 1u64 << (bit % 64));
        if self.seen[word] & mask != 0 {
            return true;
        }
        self.seen[word] |= mask;
        self.seen_count += 1;
        if self.seen_count > SEEN_BITS / 4 {
            self.seen.fill(0);
            self.seen_count = 0;
        }
        false
    }

    pub(super) fn get(&self, id: &Uuid) -> Option<Bytes> {
        self.young.get(id).or_else(|| self.old.get(id)).cloned()
    }

    /// Changes with every write that drops views; [`ViewCache::fill`] takes it.
    pub(super) fn generation(&self) -> u64 {
        self.generation
    }

    /// Keeps `view` if nothing was written since `generation` was read.
    /// Returns the views retired to make room, to be dropped unlocked.
    #[must_use]
    pub(super) fn fill(&mut self, generation: u64, id: Uuid, view: Bytes) -> Option<Views> {
        if generation != self.generation || view.len() > self.half || !self.seen_before(&id) {
            return None;
        }
        let mut retired = None;
        if self.young_bytes + view.len() > self.half {
            retired = Some(std::mem::replace(&mut self.old, std::mem::take(&mut self.young)));
            self.young_bytes = 0;
        }
        self.young_bytes += view.len();
        if let Some(old) = self.young.insert(id, view) {
            self.young_bytes -= old.len();
        }
        retired
    }

    pub(super) fn forget(&mut self, id: &Uuid) {
        self.generation += 1;
        if let Some(old) = self.young.remove(id) {
            self.young_bytes -= old.len();
        }
        self.old.remove(id);
    }

    /// Drops every view; returns them to be dropped unlocked.
    #[must_use]
    pub(super) fn forget_all(&mut self) -> [Views; 2] {
        self.generation += 1;
        self.young_bytes = 0;
        [std::mem::take(&mut self.young), std::mem::take(&mut self.old)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_rendered_across_a_write_is_not_kept() {
        let mut c = ViewCache::new(1024);
        let id = Uuid::from_u128(1);
        let generation = c.generation();
        c.forget(&Uuid::from_u128(2));
        let _ = c.fill(generation, id, Bytes::from_static(b"{}"));
        assert!(c.get(&id).is_none(), "filled after a write it did not see");
        let _ = c.fill(c.generation(), id, Bytes::from_static(b"{}"));
        assert!(c.get(&id).is_none(), "kept only from the second miss on");
        let _ = c.fill(c.generation(), id, Bytes::from_static(b"{}"));
        assert_eq!(c.get(&id).unwrap(), Bytes::from_static(b"{}"));
        c.forget(&id);
        assert!(c.get(&id).is_none());
    }

    #[test]
    fn the_byte_budget_holds_and_the_newest_views_stay() {
        let mut c = ViewCache::new(4000);
        let view = Bytes::from(vec![b'x'; 900]);
        let mut retired = 0;
        for i in 0..10 {
            assert!(c.fill(c.generation(), Uuid::from_u128(i), view.clone()).is_none(), "first miss");
            retired += c.fill(c.generation(), Uuid::from_u128(i), view.clone()).map_or(0, |r| r.len());
            let held: usize = c.young.values().chain(c.old.values()).map(Bytes::len).sum();
            assert!(held <= 4000, "{held} bytes held");
        }
        assert!(c.get(&Uuid::from_u128(9)).is_some() && c.get(&Uuid::from_u128(8)).is_some());
        assert!(c.get(&Uuid::from_u128(0)).is_none());
        assert_eq!(retired + c.young.len() + c.old.len(), 10, "every view is held or handed back");
        let mut off = ViewCache::new(0);
        assert!(off.fill(off.generation(), Uuid::from_u128(1), Bytes::from_static(b"{}")).is_none());
        assert!(off.get(&Uuid::from_u128(1)).is_none(), "a budget of 0 keeps none");
    }
}
