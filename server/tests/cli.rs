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
    ] {
        c.env_remove(var);
    }
    c
}

#[test]
fn serve_refuses_to_start_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
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
    let dir = tempfile::tempdir().unwrap();
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
    let dir = tempfile::tempdir().unwrap();
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
