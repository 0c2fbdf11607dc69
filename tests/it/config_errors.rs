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

/// What `callerdesk serve` did on a database on a small tmpfs.
struct OnMount {
    exit: String,
    said: String,
    untouched: bool,
    files: String,
    all: String,
}

/// Copies a valid callerdesk database onto a new tmpfs of `size`, runs `then` (shell) to spoil
/// the file system, starts `callerdesk serve` on it, and reports. All in a private mount
/// namespace, so the mount vanishes with it: root ignores file permissions, so only a real
/// read-only or full file system shows what callerdesk does.
fn serve_on_mount(size: &str, then: &str) -> OnMount {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source.db");
    let made = Command::new(env!("CARGO_BIN_EXE_callerdesk"))
        .args(["user", "add", "ada", "--role", "admin", "--password-stdin"])
        .env("CALLERDESK_DATABASE", &source)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"correct horse battery staple\n")?;
            child.wait()
        })
        .unwrap();
    assert!(made.success());
    let mount = dir.path().join("mnt");
    std::fs::create_dir(&mount).unwrap();
    let script = format!(
        r#"set -e
        mount -t tmpfs -o size={size} tmpfs "$D"
        cp "$SRC" "$D/callerdesk.db"
        before=$(sha256sum < "$D/callerdesk.db")
        {then}
        set +e
        "$BIN" serve > /dev/null 2> "$D.err"
        echo "exit: $?"
        echo "said: $(cat "$D.err")"
        echo "end"
        [ "$before" = "$(sha256sum < "$D/callerdesk.db")" ] && echo "untouched: yes"
        echo "files: $(ls "$D" | grep -v filler | tr '\n' ' ')"
        "#
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .env("BIN", env!("CARGO_BIN_EXE_callerdesk"))
        .env("SRC", &source)
        .env("D", &mount)
        .env("CALLERDESK_DATABASE", mount.join("callerdesk.db"))
        .env("CALLERDESK_LISTEN", "127.0.0.1:0")
        .env("CALLERDESK_SYNC_INTERVAL", "0")
        .env_remove("PLIVO_AUTH_ID")
        .env_remove("PLIVO_AUTH_TOKEN")
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the script failed: {all}");
    OnMount {
        exit: between(&all, "exit:", "\n").to_owned(),
        said: between(&all, "said:", "end").to_owned(),
        untouched: all.contains("untouched: yes"),
        files: between(&all, "files:", "\n").to_owned(),
        all,
    }
}

/// The text of `out` between `start` and the next `end`, trimmed.
fn between<'a>(out: &'a str, start: &str, end: &str) -> &'a str {
    let from = out.find(start).map_or(0, |i| i + start.len());
    let to = out[from..].find(end).map_or(out.len(), |i| from + i);
    out[from..to].trim()
}

#[test]
fn a_database_on_a_read_only_file_system_is_refused_untouched() {
    let out = serve_on_mount("16m", r#"mount -o remount,ro "$D""#);
    assert_ne!(out.exit, "0", "{}", out.all);
    assert!(out.said.contains("read-only"), "{}", out.all);
    assert_eq!(out.said.lines().count(), 1, "one sentence: {}", out.all);
    assert!(out.untouched, "{}", out.all);
    assert_eq!(out.files, "callerdesk.db", "{}", out.all);
}

#[test]
fn a_database_on_a_full_disk_is_refused_untouched() {
    let out = serve_on_mount(
        "2m",
        r#"dd if=/dev/zero of="$D/filler" bs=4k 2> /dev/null || true"#,
    );
    assert_ne!(out.exit, "0", "{}", out.all);
    assert!(out.said.contains("disk is full"), "{}", out.all);
    assert_eq!(out.said.lines().count(), 1, "one sentence: {}", out.all);
    assert!(out.untouched, "{}", out.all);
}

#[test]
fn an_unusable_audit_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no.key");
    assert_refused(
        &[("CALLERDESK_AUDIT_KEY", missing.to_str().unwrap())],
        "CALLERDESK_AUDIT_KEY",
    );
    let not_a_key = dir.path().join("not.key");
    std::fs::write(&not_a_key, "hello").unwrap();
    assert_refused(
        &[("CALLERDESK_AUDIT_KEY", not_a_key.to_str().unwrap())],
        "CALLERDESK_AUDIT_KEY",
    );
    assert_refused(
        &[("CALLERDESK_AUDIT_CHECKPOINTS", "/tmp/x.jsonl")],
        "CALLERDESK_AUDIT_CHECKPOINTS",
    );
}

#[test]
fn half_a_single_sign_on_setup_is_refused_without_printing_the_secret() {
    let issuer = (
        "CALLERDESK_OIDC_ISSUER",
        "https://id.example.com/realms/staff",
    );
    let secret = ("CALLERDESK_OIDC_CLIENT_SECRET", "very-secret-client-value");
    assert_refused(&[issuer, secret], "CALLERDESK_OIDC_CLIENT_ID");
    assert_refused(
        &[issuer, secret, ("CALLERDESK_OIDC_CLIENT_ID", "callerdesk")],
        "CALLERDESK_PUBLIC_URL",
    );
    assert_refused(
        &[("CALLERDESK_PASSWORD_SIGNIN", "false")],
        "CALLERDESK_PASSWORD_SIGNIN",
    );
    let (_, stderr) = start(&[issuer, secret]);
    assert!(!stderr.contains("very-secret"), "{stderr}");
}

#[test]
fn a_secret_key_file_that_holds_no_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "not a key").unwrap();
    assert_refused(
        &[("CALLERDESK_SECRET_KEY", key.to_str().unwrap())],
        "CALLERDESK_SECRET_KEY",
    );
}
