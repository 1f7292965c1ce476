//! The audit chain in sled: entries are stored in blocks of up to
//! [`BLOCK_ENTRIES`], in the byte layout of `codec`. A block's key is the
//! sequence number of its first entry (`u64`, big-endian), and its entries
//! follow in order, so the entry at place `i` has sequence number `key + i`.
//!
//! Why: every read is audited, and a busy clinic links tens of thousands of
//! entries a second. One JSON row per entry cost a fifth of the server's CPU
//! under cached calendar reads, most of it sled copying bytes. Blocks are
//! written once and never grow: the entries of one commit start a new one.
//! They stay small because sled splits a leaf past 16 keys and writes a
//! page over 128 KiB to a file of its own.

use std::ops::Bound;

use sled::Tree;
use uuid::Uuid;

use healthsynx_shared::AuditEntry;

use super::codec::{decode_audit_block, encode_audit_block};
use super::{Changes, SledTx, T, corrupt, keys};
use crate::store::backend::{AuditLog, Backend, Rows};
use crate::store::{Cursor, Result};

/// The most entries one block holds.
pub(super) const BLOCK_ENTRIES: usize = 8;

/// An entry and the sequence number its place gives it: `Err` for a block
/// that does not decode, at the block's first place.
pub(super) type Placed = (u64, Result<AuditEntry>);

/// Stages `entries`, consecutive and in order, as new blocks.
pub(super) fn stage(changes: &mut Changes, entries: &[AuditEntry]) -> Result<()> {
    for block in entries.chunks(BLOCK_ENTRIES) {
        let Some(first) = block.first() else { continue };
        changes.put(T::Audit, keys::seq(first.seq), encode_audit_block(block)?);
    }
    Ok(())
}

/// The entries of one stored block, in place order.
fn placed(kv: sled::Result<(sled::IVec, sled::IVec)>) -> Vec<Placed> {
    let (key, block) = match kv {
        Ok(kv) => kv,
        Err(e) => return vec![(0, Err(e.into()))],
    };
    let Some(first) = keys::seq_from(&key) else { return vec![(0, Err(corrupt("bad audit key")))] };
    match decode_audit_block(&block) {
        Ok(entries) => (first..).zip(entries.into_iter().map(Ok)).collect(),
        Err(e) => vec![(first, Err(e))],
    }
}

/// The key of the block holding `seq`, if any block starts at or before it.
fn block_key_of(tree: &Tree, seq: u64) -> Result<Option<sled::IVec>> {
    Ok(tree.range(..=keys::seq(seq)).next_back().transpose()?.map(|(k, _)| k))
}

/// Every entry after `after_seq`, oldest first.
pub(super) fn oldest_first(tree: &Tree, after_seq: u64) -> Result<impl Iterator<Item = Placed> + '_> {
    let from = match block_key_of(tree, after_seq.saturating_add(1))? {
        Some(k) => Bound::Included(k.to_vec()),
        None => Bound::Unbounded,
    };
    Ok(tree
        .range::<Vec<u8>, _>((from, Bound::Unbounded))
        .flat_map(placed)
        .filter(move |(seq, e)| *seq > after_seq || e.is_err()))
}

/// Every entry before `before_seq` (all of them when `None`), newest first.
fn newest_first(tree: &Tree, before_seq: Option<u64>) -> impl Iterator<Item = Placed> + '_ {
    let upper = match before_seq {
        Some(s) => Bound::Excluded(keys::seq(s).to_vec()),
        None => Bound::Unbounded,
    };
    tree.range((Bound::Unbounded, upper))
        .rev()
        .flat_map(|kv| placed(kv).into_iter().rev())
        .filter(move |(seq, e)| before_seq.is_none_or(|b| *seq < b) || e.is_err())
}

/// The entry with sequence number `seq`.
fn entry(tree: &Tree, seq: u64) -> Result<Option<AuditEntry>> {
    let Some(key) = block_key_of(tree, seq)? else { return Ok(None) };
    let Some(block) = tree.get(&key)? else { return Ok(None) };
    for (at, e) in placed(Ok((key, block))) {
        if at == seq {
            return e.map(Some);
        }
    }
    Ok(None)
}

/// The newest entry: the chain's head when the store opens.
pub(super) fn newest(tree: &Tree) -> Result<Option<AuditEntry>> {
    newest_first(tree, None).next().map(|(_, e)| e).transpose()
}

/// The sequence number a page cursor stands for; a cursor that is not one
/// starts nowhere (an empty page).
fn cursor_seq(c: &Cursor) -> u64 {
    keys::seq_from(c.bytes()).unwrap_or(0)
}

#[async_trait::async_trait]
impl AuditLog for SledTx<'_> {
    async fn audit_newest_first(&mut self, before: Option<&Cursor>, limit: usize) -> Result<Rows<AuditEntry>> {
        self.s.drain_audit().await?;
        newest_first(self.s.tree(T::Audit), before.map(cursor_seq))
            .take(limit)
            .map(|(_, e)| e.map(|e| (Cursor::from_bytes(&keys::seq(e.seq)), e)))
            .collect()
    }

    async fn audit_of_patient(
        &mut self,
        patient: Uuid,
        before: Option<&Cursor>,
        limit: usize,
    ) -> Result<Rows<AuditEntry>> {
        self.s.drain_audit().await?;
        let prefix = patient.as_bytes().to_vec();
        let upper = match before {
            Some(b) => Bound::Excluded(b.bytes().to_vec()),
            None => Bound::Excluded([prefix.as_slice(), &[0xff; 9]].concat()),
        };
        let audit = self.s.tree(T::Audit);
        self.s
            .tree(T::AuditByPatient)
            .range((Bound::Included(prefix.clone()), upper))
            .rev()
            .take(limit)
            .map(|r| {
                let (k, _) = r?;
                let seq = k.get(16..).and_then(keys::seq_from).ok_or_else(|| corrupt("bad audit index key"))?;
                let e = entry(audit, seq)?.ok_or_else(|| corrupt("audit index names a missing entry"))?;
                Ok((Cursor::from_bytes(&k), e))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use super::*;
    use crate::audit::{self, Action, Actor, Draft};

    fn chain(n: u64) -> Vec<AuditEntry> {
        let mut prev = audit::GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let d = Draft::new(&Actor::default(), Action::UserRead, "user", Some(Uuid::from_u128(seq.into())));
                let e = audit::link(d, seq, &prev, Timestamp::UNIX_EPOCH);
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    /// Entries 1..=20 as an old store held them (one JSON row per key,
    /// 1–3), then one commit of 4 and one of 13 (two blocks).
    fn tree() -> (Tree, Vec<AuditEntry>) {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let t = db.open_tree("audit").unwrap();
        let entries = chain(20);
        for e in &entries[..3] {
            t.insert(keys::seq(e.seq), serde_json::to_vec(e).unwrap()).unwrap();
        }
        let mut c = Changes::default();
        stage(&mut c, &entries[3..7]).unwrap();
        stage(&mut c, &entries[7..]).unwrap();
        for (_, k, v) in c.ops {
            t.insert(k, v.unwrap()).unwrap();
        }
        (t, entries)
    }

    fn seqs(it: impl Iterator<Item = Placed>, all: &[AuditEntry]) -> Vec<u64> {
        it.map(|(at, e)| {
            let e = e.unwrap();
            assert_eq!(at, e.seq, "entry {} read at place {at}", e.seq);
            assert_eq!(&e, &all[e.seq as usize - 1], "entry {} reads back unchanged", e.seq);
            e.seq
        })
        .collect()
    }

    #[test]
    fn every_start_and_end_of_a_page_reads_the_right_entries() {
        let (t, all) = tree();
        assert_eq!(t.len(), 3 + 1 + 2, "three old rows, then blocks of 4, 8 and 5");
        for after in 0..=21 {
            let want: Vec<u64> = ((after + 1)..=20).collect();
            assert_eq!(seqs(oldest_first(&t, after).unwrap(), &all), want, "after {after}");
        }
        for before in 1..=21 {
            let want: Vec<u64> = (1..before.min(21)).rev().collect();
            assert_eq!(seqs(newest_first(&t, Some(before)), &all), want, "before {before}");
        }
        for seq in 1..=20 {
            assert_eq!(entry(&t, seq).unwrap().as_ref(), Some(&all[seq as usize - 1]));
        }
        assert_eq!(entry(&t, 0).unwrap(), None);
        assert_eq!(entry(&t, 21).unwrap(), None);
        assert_eq!(newest(&t).unwrap().map(|e| e.seq), Some(20));
        let report = audit::verify(oldest_first(&t, 0).unwrap().map(|(at, e)| (at, e.ok())));
        assert!(report.ok && report.entries == Some(20), "{report:?}");
    }

    #[test]
    fn a_damaged_block_is_named_by_verify() {
        let (t, _) = tree();
        let key = keys::seq(8);
        let mut block = t.get(key).unwrap().unwrap().to_vec();
        block.truncate(block.len() - 1);
        t.insert(key, block).unwrap();
        let report = audit::verify(oldest_first(&t, 0).unwrap().map(|(at, e)| (at, e.ok())));
        assert_eq!(report.first_bad, Some(8));
    }
}
