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
//! only and is bounded by [`VIEW_CACHE_BYTES`].

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use bytes::Bytes;
use uuid::Uuid;

/// Bytes of encoded views kept before the cache starts over.
pub const VIEW_CACHE_BYTES: usize = 32 * 1024 * 1024;

#[derive(Default)]
pub(super) struct ViewCache {
    generation: u64,
    bytes: usize,
    views: HashMap<Uuid, Bytes, BuildHasherDefault<IdHasher>>,
}

/// Ids are random (v4), so folding their bytes and one finalizing mix is
/// hash enough; SipHash showed up in calendar profiles.
#[derive(Default)]
struct IdHasher(u64);

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
    pub(super) fn get(&self, id: &Uuid) -> Option<Bytes> {
        self.views.get(id).cloned()
    }

    /// Changes with every write that drops views; [`ViewCache::fill`] takes it.
    pub(super) fn generation(&self) -> u64 {
        self.generation
    }

    /// Keeps `view` if nothing was written since `generation` was read.
    pub(super) fn fill(&mut self, generation: u64, id: Uuid, view: Bytes) {
        if generation != self.generation {
            return;
        }
        if self.bytes + view.len() > VIEW_CACHE_BYTES {
            self.views.clear();
            self.bytes = 0;
        }
        self.bytes += view.len();
        if let Some(old) = self.views.insert(id, view) {
            self.bytes -= old.len();
        }
    }

    pub(super) fn forget(&mut self, id: &Uuid) {
        self.generation += 1;
        if let Some(old) = self.views.remove(id) {
            self.bytes -= old.len();
        }
    }

    pub(super) fn forget_all(&mut self) {
        self.generation += 1;
        self.views.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_rendered_across_a_write_is_not_kept() {
        let mut c = ViewCache::default();
        let id = Uuid::from_u128(1);
        let generation = c.generation();
        c.forget(&Uuid::from_u128(2));
        c.fill(generation, id, Bytes::from_static(b"{}"));
        assert!(c.get(&id).is_none(), "filled after a write it did not see");
        c.fill(c.generation(), id, Bytes::from_static(b"{}"));
        assert_eq!(c.get(&id).unwrap(), Bytes::from_static(b"{}"));
        c.forget(&id);
        assert!(c.get(&id).is_none());
    }

    #[test]
    fn the_byte_budget_holds() {
        let mut c = ViewCache::default();
        let view = Bytes::from(vec![b'x'; VIEW_CACHE_BYTES / 3 + 1]);
        for i in 0..4 {
            c.fill(c.generation(), Uuid::from_u128(i), view.clone());
            assert!(c.bytes <= VIEW_CACHE_BYTES);
        }
        assert_eq!(c.views.len(), 2, "started over when the third did not fit");
    }
}
