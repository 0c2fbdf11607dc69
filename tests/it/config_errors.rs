//! A bad configuration stops start-up with one sentence naming the variable, and a non-zero exit.

use std::process::Command;

fn start(env: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_callerdesk"));
    command
        .env_remove("PLIVO_AUTH_ID")
        .env_remove("PLIVO_AUTH_TOKEN")
        .env("CALLERDESK_DATABASE", dir.path().join("x.db"))
        .env("CALLERDESK_LISTEN", "127.0.0.1:0");
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.arg("serve").output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_refused(env: &[(&str, &str)], variable: &str) {
    let (code, stderr) = start(env);
    assert_ne!(code, 0, "{env:?} should not start");
    assert!(stderr.contains(variable), "{env:?}: {stderr}");
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "one sentence, no backtrace: {stderr}"
    );
    assert!(!stderr.contains("panicked"));
}

#[test]
fn one_plivo_variable_alone_is_refused() {
    assert_refused(
        &[("PLIVO_AUTH_ID", "MAABCDEFGHIJ12345678")],
        "PLIVO_AUTH_TOKEN",
    );
    assert_refused(&[("PLIVO_AUTH_TOKEN", "a-token")], "PLIVO_AUTH_ID");
}

#[test]
fn a_malformed_auth_id_is_refused() {
    assert_refused(
        &[("PLIVO_AUTH_ID", "MA123"), ("PLIVO_AUTH_TOKEN", "a-token")],
        "PLIVO_AUTH_ID",
    );
}

#[test]
fn an_unparsable_listen_address_is_refused() {
    assert_refused(
        &[("CALLERDESK_LISTEN", "localhost-ish")],
        "CALLERDESK_LISTEN",
    );
}

#[test]
fn other_bad_values_are_refused_by_name() {
    assert_refused(
        &[("CALLERDESK_SYNC_INTERVAL", "often")],
        "CALLERDESK_SYNC_INTERVAL",
    );
    assert_refused(
        &[("CALLERDESK_TRUSTED_PROXIES", "10.0.0.0/33")],
        "CALLERDESK_TRUSTED_PROXIES",
    );
}

#[test]
fn the_token_never_appears_in_the_error() {
    let (_, stderr) = start(&[
        ("PLIVO_AUTH_ID", "bad"),
        ("PLIVO_AUTH_TOKEN", "super-secret-token"),
    ]);
    assert!(!stderr.contains("super-secret-token"), "{stderr}");
}

#[test]
fn a_file_that_is_not_sqlite_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("callerdesk.db");
    std::fs::write(&path, "these are someone's notes, not a database\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_callerdesk"))
        .arg("serve")
        .env("CALLERDESK_DATABASE", &path)
        .env("CALLERDESK_LISTEN", "127.0.0.1:0")
        .env_remove("PLIVO_AUTH_ID")
        .env_remove("PLIVO_AUTH_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not a SQLite database"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "these are someone's notes, not a database\n"
    );
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "no -wal or -shm files were made: {names:?}");
}
