//! The `user` subcommands, run as the installed binary would be.

use crate::helpers::{PASSWORD, TestApp};
use std::{
    io::Write,
    path::Path,
    process::{Command, Stdio},
};

fn callerdesk(db: &Path, args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_callerdesk"))
        .args(args)
        .arg("--database")
        .arg(db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn users_are_managed_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("callerdesk.db");
    let line = format!("{PASSWORD}\n");

    let (ok, out, err) = callerdesk(
        &db,
        &["user", "add", "ada", "--role", "admin", "--password-stdin"],
        &line,
    );
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "Added ada as Admin.");

    let (ok, _, err) = callerdesk(
        &db,
        &[
            "user",
            "add",
            "bo",
            "--role",
            "operator",
            "--password-stdin",
        ],
        "short\n",
    );
    assert!(!ok);
    assert!(err.contains("at least 12 characters"), "{err}");

    let (ok, _, err) = callerdesk(
        &db,
        &[
            "user",
            "add",
            "ADA",
            "--role",
            "auditor",
            "--password-stdin",
        ],
        &line,
    );
    assert!(!ok);
    assert!(err.contains("already a user called ADA"), "{err}");

    let (ok, _, err) = callerdesk(&db, &["user", "disable", "ada"], "");
    assert!(!ok, "the only admin can't be disabled");
    assert!(err.contains("only active admin"), "{err}");

    let (ok, _, _) = callerdesk(
        &db,
        &[
            "user",
            "add",
            "otto",
            "--role",
            "operator",
            "--password-stdin",
        ],
        &line,
    );
    assert!(ok);
    let (ok, _, _) = callerdesk(&db, &["user", "disable", "otto"], "");
    assert!(ok);
    let (ok, out, _) = callerdesk(&db, &["user", "list"], "");
    assert!(ok);
    let rows: Vec<&str> = out.lines().collect();
    assert!(rows[0].starts_with("NAME"));
    assert!(
        rows.iter()
            .any(|r| r.starts_with("ada") && r.contains("admin") && r.contains("active")),
        "{out}"
    );
    assert!(
        rows.iter()
            .any(|r| r.starts_with("otto") && r.contains("disabled")),
        "{out}"
    );

    let (ok, _, err) = callerdesk(
        &db,
        &["user", "passwd", "nobody", "--password-stdin"],
        &line,
    );
    assert!(!ok);
    assert!(err.contains("no user called nobody"), "{err}");

    // The app started on this database has no setup link, and the admin signs in.
    let dir = std::sync::Arc::new(dir);
    let app = TestApp::spawn_in(dir).await;
    assert!(app.setup_url.is_none());
    let mut browser = app.browser();
    assert_eq!(
        browser.sign_in("ada", PASSWORD).await.status(),
        reqwest::StatusCode::SEE_OTHER
    );
    let mut otto = app.browser();
    assert_eq!(
        otto.sign_in("otto", PASSWORD).await.status(),
        reqwest::StatusCode::UNPROCESSABLE_ENTITY
    );

    let by_cli: Vec<String> = app
        .audit_actions()
        .await
        .into_iter()
        .filter(|(_, _, actor)| actor == "command line")
        .map(|(action, ..)| action)
        .collect();
    assert_eq!(by_cli, ["user_created", "user_created", "user_disabled"]);
}

#[test]
fn commands_on_a_missing_database_say_so_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("missing.db");
    for args in [&["user", "list"][..], &["audit", "verify"][..]] {
        let (ok, _, err) = callerdesk(&db, args, "");
        assert!(!ok);
        assert!(err.contains("There is no database at"), "{err}");
    }
    assert!(!db.exists());
}
