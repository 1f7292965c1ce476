//! The `healthsynx-server` binary: start-up refusals and `create-admin`.

use std::process::Command;

use healthsynx_server::config::Secrets;
use healthsynx_server::{Config, State};
use healthsynx_shared::Role;

fn server() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_healthsynx-server"));
    for var in [
        "HEALTHSYNX_JWT_SECRET",
        "HEALTHSYNX_DATA_KEY",
        "HEALTHSYNX_DEV",
        "HEALTHSYNX_DEMO",
        "HEALTHSYNX_ADMIN_PASSWORD",
        "HEALTHSYNX_ALLOW_SHARED_DATA_DIR",
        "HEALTHSYNX_BACKUP_DIR",
        "HEALTHSYNX_DATA_DIR",
    ] {
        c.env_remove(var);
    }
    c
}

/// A temporary directory only its owner can enter, as the server wants its
/// data and backup directories (tempfile leaves the mode to the umask).
fn private_tempdir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new().permissions(std::fs::Permissions::from_mode(0o700)).tempdir().unwrap()
}

/// The server binary started by a shell whose umask is `022`, the usual one.
fn server_under_umask_022() -> Command {
    let plain = server();
    let mut sh = Command::new("sh");
    sh.arg("-c").arg(r#"umask 022; exec "$0" "$@""#).arg(plain.get_program());
    // The same environment as `server()` leaves the binary.
    for (var, _) in plain.get_envs().filter(|(_, v)| v.is_none()) {
        sh.env_remove(var);
    }
    sh
}

/// Paths with their permission bits.
type Modes = Vec<(std::path::PathBuf, u32)>;

/// Every directory under (and including) `root` with its mode, then every file.
fn modes_under(root: &std::path::Path) -> (Modes, Modes) {
    use std::os::unix::fs::PermissionsExt;
    let (mut dirs, mut files, mut stack) = (Vec::new(), Vec::new(), vec![root.to_path_buf()]);
    while let Some(d) = stack.pop() {
        dirs.push((d.clone(), std::fs::metadata(&d).unwrap().permissions().mode() & 0o777));
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let mode = e.metadata().unwrap().permissions().mode() & 0o777;
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                files.push((e.path(), mode));
            }
        }
    }
    (dirs, files)
}

fn assert_private(root: &std::path::Path) {
    let (dirs, files) = modes_under(root);
    assert!(!files.is_empty(), "{} holds files", root.display());
    for (d, mode) in dirs {
        assert_eq!(mode, 0o700, "directory {}", d.display());
    }
    for (f, mode) in files {
        assert_eq!(mode, 0o600, "file {}", f.display());
    }
}

fn file_mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Starts `serve --dev` on a free port and waits until it says it serves.
fn start_serving(mut c: Command) -> std::process::Child {
    use std::io::BufRead;
    let mut child = c.stderr(std::process::Stdio::piped()).stdout(std::process::Stdio::null()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("Health Synx is serving") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(std::time::Duration::from_secs(30)).expect("the server starts");
    child
}

#[test]
fn serve_backup_restore_and_create_admin_keep_files_private_under_umask_022() {
    use base64::Engine;
    let key = base64::engine::general_purpose::STANDARD.encode(Secrets::generate().data_key);
    let tmp = private_tempdir();
    let data = tmp.path().join("data");
    let ok = server_under_umask_022()
        .args(["create-admin", "--email", "root@clinic.example", "--full-name", "Root Admin", "--data-dir"])
        .arg(&data)
        .env("HEALTHSYNX_ADMIN_PASSWORD", "umbrella-falcon-ginger-93")
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert_private(&data);

    let file = tmp.path().join("backups/first.hsbak");
    let out = server_under_umask_022()
        .args(["backup", "--data-dir"])
        .arg(&data)
        .arg("--out")
        .arg(&file)
        .env("HEALTHSYNX_DATA_KEY", &key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(file_mode(&file), 0o600, "the backup file");
    assert_eq!(file_mode(file.parent().unwrap()), 0o700, "the backup directory it made");

    let restored = tmp.path().join("restored");
    let out = server_under_umask_022()
        .args(["restore", "--data-dir"])
        .arg(&restored)
        .arg("--from")
        .arg(&file)
        .env("HEALTHSYNX_DATA_KEY", &key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_private(&restored);

    let served = tmp.path().join("served");
    let mut c = server_under_umask_022();
    c.args(["serve", "--dev", "--addr", "127.0.0.1:0", "--data-dir"]).arg(&served);
    c.arg("--backup-dir").arg(tmp.path().join("server-backups"));
    let mut child = start_serving(c);
    // sled has written its files; the ones it makes later share the umask.
    let _ = child.kill();
    let _ = child.wait();
    assert_private(&served);
}

#[test]
fn a_data_or_backup_directory_open_to_others_is_refused_unless_allowed() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = private_tempdir();
    let shared = tmp.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).unwrap();
    let create_admin = |allow: bool| {
        let mut c = server();
        c.args(["create-admin", "--email", "root@clinic.example", "--full-name", "Root Admin", "--data-dir"])
            .arg(&shared)
            .env("HEALTHSYNX_ADMIN_PASSWORD", "umbrella-falcon-ginger-93");
        if allow {
            c.arg("--allow-shared-data-dir");
        }
        c.output().unwrap()
    };
    let refused = create_admin(false);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("open to group or others (mode 755)") && err.contains("--allow-shared-data-dir"), "{err}");
    assert_eq!(std::fs::read_dir(&shared).unwrap().count(), 0, "nothing was written");

    let serve = server().args(["serve", "--dev", "--addr", "127.0.0.1:0", "--data-dir"]).arg(&shared).output().unwrap();
    assert!(!serve.status.success());
    assert!(String::from_utf8_lossy(&serve.stderr).contains("the data directory"));
    let private = tmp.path().join("private");
    let serve = server()
        .args(["serve", "--dev", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(&private)
        .arg("--backup-dir")
        .arg(&shared)
        .output()
        .unwrap();
    assert!(!serve.status.success());
    assert!(String::from_utf8_lossy(&serve.stderr).contains("the backup directory"));

    let allowed = create_admin(true);
    assert!(allowed.status.success(), "{}", String::from_utf8_lossy(&allowed.stderr));
}

#[test]
fn serve_refuses_to_start_without_secrets() {
    let dir = private_tempdir();
    let out = server().args(["serve", "--addr", "127.0.0.1:0", "--data-dir"]).arg(dir.path()).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("HEALTHSYNX_JWT_SECRET is not set"), "{err}");

    let out = server()
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("HEALTHSYNX_JWT_SECRET", "s3cr3t-value")
        .env("HEALTHSYNX_DATA_KEY", "AAAA")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("at least 32 bytes"), "{err}");
    assert!(!err.contains("s3cr3t-value"), "the secret itself is never printed: {err}");
}

#[test]
fn create_admin_makes_the_first_user_and_applies_the_password_policy() {
    let dir = private_tempdir();
    let weak = server()
        .args(["create-admin", "--email", "root@clinic.example", "--full-name", "Root Admin", "--data-dir"])
        .arg(dir.path())
        .env("HEALTHSYNX_ADMIN_PASSWORD", "password1234")
        .output()
        .unwrap();
    assert!(!weak.status.success());
    assert!(String::from_utf8_lossy(&weak.stderr).contains("password"));

    let ok = server()
        .args(["create-admin", "--email", "root@clinic.example", "--full-name", "Root Admin", "--data-dir"])
        .arg(dir.path())
        .env("HEALTHSYNX_ADMIN_PASSWORD", "umbrella-falcon-ginger-93")
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("created admin root@clinic.example"));

    let again = server()
        .args(["create-admin", "--email", "root@clinic.example", "--full-name", "Root Admin", "--data-dir"])
        .arg(dir.path())
        .env("HEALTHSYNX_ADMIN_PASSWORD", "umbrella-falcon-ginger-93")
        .output()
        .unwrap();
    assert!(!again.status.success(), "a second admin with the same email is refused");

    let rt = tokio::runtime::Runtime::new().unwrap();
    let st = rt.block_on(State::open(Config::new(dir.path().to_path_buf(), Secrets::generate()))).unwrap();
    let admin =
        rt.block_on(async { st.store.read().await?.user_by_email("root@clinic.example").await }).unwrap().unwrap();
    assert_eq!(admin.role, Role::Admin);
    assert!(admin.password_hash.unwrap().starts_with("$argon2id$"));
    assert!(rt.block_on(st.store.verify_audit()).unwrap().ok);
}

#[test]
fn backup_restore_and_rekey_work_on_a_stopped_data_directory() {
    use base64::Engine;
    let b64 = |k: [u8; 32]| base64::engine::general_purpose::STANDARD.encode(k);
    let (key_a, key_b) = (b64(Secrets::generate().data_key), b64(Secrets::generate().data_key));
    let dir = private_tempdir();
    let data = dir.path().join("data");
    let ok = server()
        .args(["create-admin", "--email", "root@clinic.example", "--full-name", "Root Admin", "--data-dir"])
        .arg(&data)
        .env("HEALTHSYNX_ADMIN_PASSWORD", "umbrella-falcon-ginger-93")
        .output()
        .unwrap();
    assert!(ok.status.success());
    let file = dir.path().join("b.hsbak");
    let run = |args: &[&str], key: &str, previous: Option<&str>| {
        let mut c = server();
        c.args(args).env("HEALTHSYNX_DATA_KEY", key);
        if let Some(p) = previous {
            c.env("HEALTHSYNX_DATA_KEY_PREVIOUS", p);
        }
        c.output().unwrap()
    };
    let out = run(&["backup", "--data-dir", data.to_str().unwrap(), "--out", file.to_str().unwrap()], &key_a, None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(&file).unwrap();
    assert!(!bytes.windows(19).any(|w| w == b"root@clinic.example"), "the backup is sealed");

    let restored = dir.path().join("restored");
    let wrong =
        run(&["restore", "--data-dir", restored.to_str().unwrap(), "--from", file.to_str().unwrap()], &key_b, None);
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("another data key"));
    let out =
        run(&["restore", "--data-dir", restored.to_str().unwrap(), "--from", file.to_str().unwrap()], &key_a, None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let again =
        run(&["restore", "--data-dir", restored.to_str().unwrap(), "--from", file.to_str().unwrap()], &key_a, None);
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));

    let out = run(&["rekey", "--data-dir", restored.to_str().unwrap()], &key_b, Some(&key_a));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("re-sealed"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let st = rt.block_on(State::open(Config::new(restored, Secrets::generate()))).unwrap();
    let admin =
        rt.block_on(async { st.store.read().await?.user_by_email("root@clinic.example").await }).unwrap().unwrap();
    assert_eq!(admin.role, Role::Admin);
    assert!(rt.block_on(st.store.verify_audit()).unwrap().ok);
}
