//! Who may read the data directory and backups: the server's own user only.
//!
//! The store holds names, emails and password hashes in clear (sealed fields
//! aside), so its directory is `0700` and every file `0600`. sled creates its
//! own files, now and later (new segments, snapshots), with the process
//! umask, so the binary sets a private umask before anything is created
//! ([`private_umask`]); the directories and backups this crate creates name
//! their modes explicitly as well, so they are private under any umask.
//! A directory that group or others can already get into is refused at
//! start-up ([`check_private_dir`]) unless the operator says it is meant.

use std::path::Path;

use anyhow::{Context, bail};

/// Mode of every directory the server creates.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file the server creates.
pub const FILE_MODE: u32 = 0o600;

/// Makes every file and directory this process creates from now on private
/// to its user (umask `077`), whatever umask it was started with.
pub fn private_umask() {
    #[cfg(unix)]
    {
        rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    }
}

/// Creates `dir` and its missing parents, private (`0700`).
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(DIR_MODE);
    }
    builder.create(dir).with_context(|| format!("create directory {}", dir.display()))
}

/// Writes `bytes` to a new private (`0600`) file at `path`, replacing it.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(FILE_MODE);
    }
    let mut file = options.open(path).with_context(|| format!("create {}", path.display()))?;
    // `mode` applies only to a file it creates; one left over keeps its own.
    restrict(path)?;
    file.write_all(bytes).with_context(|| format!("write {}", path.display()))?;
    file.sync_all().with_context(|| format!("sync {}", path.display()))
}

#[cfg(unix)]
fn restrict(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(FILE_MODE))
        .with_context(|| format!("make {} private", path.display()))
}

#[cfg(not(unix))]
fn restrict(_: &Path) -> anyhow::Result<()> {
    Ok(())
}

/// Refuses `dir` (the `what`: "data directory", "backup directory") when it
/// exists and group or others have any access to it, unless `allow_shared`
/// (`--allow-shared-data-dir`). A missing directory is fine: it will be
/// created private.
pub fn check_private_dir(dir: &Path, what: &str, allow_shared: bool) -> anyhow::Result<()> {
    let Some(mode) = group_other_bits(dir)? else { return Ok(()) };
    if mode != 0 && !allow_shared {
        bail!(
            "the {what} {} is open to group or others (mode {:03o}): run `chmod 700 {}`, or pass --allow-shared-data-dir (HEALTHSYNX_ALLOW_SHARED_DATA_DIR=true) if that is meant",
            dir.display(),
            mode_of(dir)?.unwrap_or(0) & 0o777,
            dir.display()
        );
    }
    Ok(())
}

fn group_other_bits(dir: &Path) -> anyhow::Result<Option<u32>> {
    Ok(mode_of(dir)?.map(|m| m & 0o077))
}

#[cfg(unix)]
fn mode_of(path: &Path) -> anyhow::Result<Option<u32>> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some(m.permissions().mode())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("read the mode of {}", path.display())),
    }
}

#[cfg(not(unix))]
fn mode_of(_: &Path) -> anyhow::Result<Option<u32>> {
    Ok(None)
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn shared_directories_are_refused_unless_allowed_and_new_ones_are_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        check_private_dir(&dir, "data directory", false).unwrap();
        create_private_dir(&dir).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        check_private_dir(&dir, "data directory", false).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = check_private_dir(&dir, "data directory", false).unwrap_err().to_string();
        assert!(err.contains("mode 755") && err.contains("--allow-shared-data-dir"), "{err}");
        check_private_dir(&dir, "data directory", true).unwrap();
        let file = dir.join("f");
        std::fs::write(&file, b"old").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private_file(&file, b"new").unwrap();
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read(&file).unwrap(), b"new");
    }
}
