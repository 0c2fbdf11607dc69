//! The audit log's append-only triggers and hash chain, through the database and the CLI.

use crate::helpers::{PASSWORD, TestApp};
use callerdesk::domain::Role;
use sqlx::{Connection, SqliteConnection};
use std::process::Command;

fn verify(db: &std::path::Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_callerdesk"))
        .args(["audit", "verify", "--database"])
        .arg(db)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

async fn some_events(app: &TestApp) {
    app.add_user("ada", Role::Admin).await;
    let mut browser = app.browser();
    browser.sign_in("ada", "wrong password!!").await;
    browser.sign_in("ada", PASSWORD).await;
    browser.post("/logout", &[]).await;
}

#[tokio::test]
async fn audit_events_can_be_neither_updated_nor_deleted() {
    let app = TestApp::spawn().await;
    some_events(&app).await;
    let update = sqlx::query("UPDATE audit_events SET actor_name = 'someone else' WHERE id = 1")
        .execute(&app.state.db.writer)
        .await
        .unwrap_err();
    assert!(update.to_string().contains("append-only"), "{update}");
    let delete = sqlx::query("DELETE FROM audit_events WHERE id = 1")
        .execute(&app.state.db.writer)
        .await
        .unwrap_err();
    assert!(delete.to_string().contains("append-only"), "{delete}");
}

#[tokio::test]
async fn audit_verify_reports_intact_then_names_the_altered_event() {
    let app = TestApp::spawn().await;
    some_events(&app).await;
    let path = app.db_path();
    let events = app.audit_actions().await.len();
    let _dir = app.stop().await;

    let (ok, out) = verify(&path);
    assert!(ok, "{out}");
    assert_eq!(out.trim(), format!("intact, {events} events"));

    // Someone with the file drops the trigger and rewrites history.
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query("DROP TRIGGER audit_events_are_never_updated")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_events SET details = '{\"username\":\"nobody\"}' WHERE id = 3")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    let (ok, out) = verify(&path);
    assert!(!ok, "a tampered chain must fail: {out}");
    assert!(out.contains("broken at event 3"), "{out}");
}

#[tokio::test]
async fn a_removed_event_breaks_the_chain_at_the_next_one() {
    let app = TestApp::spawn().await;
    some_events(&app).await;
    let path = app.db_path();
    let _dir = app.stop().await;

    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query("DROP TRIGGER audit_events_are_never_deleted")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit_events WHERE id = 2")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    let (ok, out) = verify(&path);
    assert!(!ok);
    assert!(out.contains("broken at event 3"), "{out}");
}

#[tokio::test]
async fn the_documented_python_check_agrees_with_the_app() {
    let app = TestApp::spawn().await;
    some_events(&app).await;
    let path = app.db_path();
    let events = app.audit_actions().await.len();
    let _dir = app.stop().await;

    let doc = include_str!("../../docs/audit-log.md");
    let script = doc
        .split("```python\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/audit-log.md has a python block");
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("intact, {events} events")
    );
}

/// Migration 0012 rebuilds the audit table without the unique index on `hash`: a database made
/// before it keeps every event and hash, its chain, and its append-only triggers.
#[tokio::test]
async fn the_audit_table_rebuild_keeps_every_event_and_the_guards() {
    use sqlx::sqlite::SqliteConnectOptions;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("callerdesk.db");
    let pool = sqlx::SqlitePool::connect_with(
        SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true),
    )
    .await
    .unwrap();
    let mut before = sqlx::migrate!("./migrations");
    let upto = before
        .migrations
        .iter()
        .position(|m| m.version == 12)
        .expect("migration 0012 exists");
    before.migrations = std::borrow::Cow::Owned(before.migrations[..upto].to_vec());
    before.run(&pool).await.unwrap();
    let now = time::OffsetDateTime::now_utc();
    callerdesk::audit::sample::generate(&pool, 1_200, now, time::Duration::seconds(1))
        .await
        .unwrap();
    let hashes = |pool: sqlx::SqlitePool| async move {
        sqlx::query_as::<_, (i64, String)>("SELECT id, hash FROM audit_events ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap()
    };
    let old = hashes(pool.clone()).await;
    pool.close().await;

    let db = callerdesk::db::Db::open(&path).await.unwrap();
    assert_eq!(hashes(db.reader.clone()).await, old);
    assert_eq!(
        callerdesk::audit::verify_chain(&db.reader).await.unwrap(),
        callerdesk::audit::ChainStatus::Intact { events: 1_200 }
    );
    assert!(
        callerdesk::audit::missing_guards(&db.reader)
            .await
            .unwrap()
            .is_empty()
    );
    let refused = sqlx::query("DELETE FROM audit_events WHERE id = 5")
        .execute(&db.writer)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("append-only"), "{refused}");
    let unique: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE tbl_name = 'audit_events' AND name LIKE 'sqlite_autoindex%'",
    )
    .fetch_one(&db.reader)
    .await
    .unwrap();
    assert_eq!(unique, 0, "no index on hash");
    db.close().await;
}
