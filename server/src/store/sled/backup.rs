//! Backup files: every tree of the store, sealed as a whole.
//!
//! A backup holds emails, names and password hashes, so the whole file is
//! sealed under the data key (XChaCha20-Poly1305) and carries a SHA-256 of
//! what follows the header, so a truncated or damaged file is told apart
//! from one sealed under another key.
//!
//! Layout: `HSXBAK01 ‖ key id (8) ‖ sha256(rest) (32) ‖ nonce ‖ ciphertext ‖ tag`.
//! Plain text: for each tree `u32 name len ‖ name ‖ u64 count ‖ (u32 len ‖ key ‖ u32 len ‖ value)*`.

use std::path::Path;

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

use super::{DEFAULT_CACHE_MB, Sled};
use crate::crypto::seal::Sealer;
use crate::store::Result;

const MAGIC: &[u8; 8] = b"HSXBAK01";
const HEADER: usize = 8 + 8 + 32;

/// What a backup holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub bytes: u64,
    pub entries: u64,
}

/// Every tree's entries; the caller holds the write lock, so they are consistent.
fn dump(s: &Sled) -> Result<(Vec<u8>, u64)> {
    let mut out = Vec::new();
    let mut entries = 0u64;
    for name in s.db.tree_names() {
        let tree = s.db.open_tree(&name)?;
        out.extend_from_slice(&(name.len() as u32).to_be_bytes());
        out.extend_from_slice(&name);
        out.extend_from_slice(&(tree.len() as u64).to_be_bytes());
        for kv in tree.iter() {
            let (k, v) = kv?;
            for part in [&k, &v] {
                out.extend_from_slice(&(part.len() as u32).to_be_bytes());
                out.extend_from_slice(part);
            }
            entries += 1;
        }
    }
    Ok((out, entries))
}

/// Writes a sealed backup of the whole store to `path` (under the write lock).
pub(super) fn write(s: &Sled, sealer: &Sealer, path: &Path) -> Result<Summary> {
    let (plain, entries) = dump(s)?;
    let key_id = sealer.current_key_id().as_bytes().to_vec();
    let sealed = sealer
        .seal_bytes(&plain, &[MAGIC.as_slice(), &key_id].concat())
        .map_err(|e| anyhow::anyhow!("seal the backup: {e}"))?;
    let mut file = Vec::with_capacity(HEADER + sealed.len());
    file.extend_from_slice(MAGIC);
    file.extend_from_slice(&key_id);
    file.extend_from_slice(&Sha256::digest(&sealed));
    file.extend_from_slice(&sealed);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::permissions::create_private_dir(dir)?;
    }
    // Write beside, then rename: a crash never leaves half a backup under the name.
    let tmp = path.with_extension("partial");
    crate::permissions::write_private_file(&tmp, &file)?;
    std::fs::rename(&tmp, path).with_context(|| format!("rename to {}", path.display()))?;
    Ok(Summary { bytes: file.len() as u64, entries })
}

/// Checks a backup file and returns its plain contents, with a clear error
/// for a foreign, truncated, damaged or foreign-key file.
fn unseal(sealer: &Sealer, file: &[u8]) -> anyhow::Result<Vec<u8>> {
    if file.len() < HEADER || &file[..8] != MAGIC {
        bail!("not a Health Synx backup file (or truncated before its header)");
    }
    let key_id = std::str::from_utf8(&file[8..16]).context("damaged backup header")?;
    let (sum, sealed) = (&file[16..48], &file[48..]);
    if Sha256::digest(sealed).as_slice() != sum {
        bail!("the backup file is damaged or truncated: its checksum does not match");
    }
    if !sealer.has_key(key_id) {
        bail!(
            "the backup was sealed under another data key (key id {key_id}); set HEALTHSYNX_DATA_KEY (or _PREVIOUS) to the key that made it"
        );
    }
    sealer
        .open_bytes(key_id, sealed, &[MAGIC.as_slice(), key_id.as_bytes()].concat())
        .context("the backup does not open under the data key with its key id")
}

/// Restores a backup file into `dir`, which must not hold a store yet.
pub fn restore(sealer: &Sealer, file: &Path, dir: &Path) -> anyhow::Result<Summary> {
    let non_empty = std::fs::read_dir(dir).map(|mut d| d.next().is_some()).unwrap_or(false);
    if non_empty {
        bail!("{} is not empty: restore only into a new, empty data directory", dir.display());
    }
    let bytes = std::fs::read(file).with_context(|| format!("read {}", file.display()))?;
    let plain = unseal(sealer, &bytes)?;
    let store = Sled::open(dir, DEFAULT_CACHE_MB).map_err(|e| anyhow::anyhow!("open {}: {e}", dir.display()))?;
    let mut r = Reader { buf: &plain, at: 0 };
    let mut entries = 0u64;
    let mut trees = 0;
    while r.at < plain.len() {
        let name = r.part()?.to_vec();
        let count = u64::from_be_bytes(r.take(8)?.try_into()?);
        let tree = store.db.open_tree(&name)?;
        let mut batch = sled::Batch::default();
        for _ in 0..count {
            let k = r.part()?.to_vec();
            let v = r.part()?.to_vec();
            batch.insert(k, v);
            entries += 1;
        }
        tree.apply_batch(batch)?;
        trees += 1;
    }
    // A backup taken before the current layout comes back in this one.
    store.upgrade_layout().map_err(|e| anyhow::anyhow!("upgrade the restored store: {e}"))?;
    store.db.flush()?;
    tracing::info!(trees, entries, "restored");
    Ok(Summary { bytes: bytes.len() as u64, entries })
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> anyhow::Result<&'a [u8]> {
        let s = self.buf.get(self.at..self.at + n).context("backup contents end early")?;
        self.at += n;
        Ok(s)
    }

    /// A `u32` length and that many bytes.
    fn part(&mut self) -> anyhow::Result<&'a [u8]> {
        let n = u32::from_be_bytes(self.take(4)?.try_into()?) as usize;
        self.take(n)
    }
}
