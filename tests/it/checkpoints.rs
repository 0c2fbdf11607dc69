//! Signed checkpoints: the two attacks the chain alone misses (cutting events off the end, and
//! rewriting an event with every later hash recomputed) are caught by `audit verify
//! --checkpoints`, by `backup`, and by the script in docs/audit-log.md; an untouched log passes
//! all three.

use crate::helpers::{TestApp, serve_args};
use callerdesk::audit::{self, StoredEvent};
use sqlx::sqlite::SqliteConnectOptions;
use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
};

struct Ran {
    ok: bool,
    out: String,
    err: String,
}

/// Runs the installed binary with `args`, the key (if any) in its environment.
fn callerdesk(args: &[&str], key: Option<&Path>) -> Ran {
    let mut command = Command::new(env!("CARGO_BIN_EXE_callerdesk"));
    command
        .args(args)
        .env_remove("CALLERDESK_AUDIT_KEY")
        .env_remove("CALLERDESK_AUDIT_CHECKPOINTS")
        .env_remove("CALLERDESK_DATABASE");
    if let Some(key) = key {
        command.env("CALLERDESK_AUDIT_KEY", key);
    }
    let out = command.output().unwrap();
    Ran {
        ok: out.status.success(),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The documented checker, run on an export of `db`.
fn documented_script(dir: &Path, db: &Path, checkpoints: &Path, public: &Path) -> Ran {
    let doc = include_str!("../../docs/audit-log.md");
    let script = doc
        .split("```python\n")
        .filter_map(|block| block.split("```").next())
        .find(|block| block.starts_with("# verify_checkpoints.py"))
        .expect("docs/audit-log.md holds verify_checkpoints.py");
    let export = dir.join(format!(
        "{}.jsonl",
        db.file_name().unwrap().to_string_lossy()
    ));
    let exported = callerdesk(
        &["audit", "export", "--format", "jsonl", "--database", s(db)],
        None,
    );
    assert!(exported.ok, "{}", exported.err);
    std::fs::write(&export, exported.out).unwrap();
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args([&export, checkpoints, public])
        .output()
        .unwrap();
    Ran {
        ok: out.status.success(),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// What someone with write access to the file can do: drop the triggers and change the table.
async fn tamper(db: &Path, sql: &str) {
    let pool = sqlx::SqlitePool::connect_with(SqliteConnectOptions::new().filename(db))
        .await
        .unwrap();
    sqlx::raw_sql(
        "DROP TRIGGER audit_events_are_never_updated; DROP TRIGGER audit_events_are_never_deleted;",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::raw_sql(sql).execute(&pool).await.unwrap();
    // Every hash from the changed event on recomputed, so the chain checks again.
    let events: Vec<StoredEvent> = sqlx::query_as(&format!(
        "SELECT {} FROM audit_events ORDER BY id",
        audit::EVENT_COLUMNS
    ))
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut prev = audit::GENESIS_HASH.to_owned();
    for mut event in events {
        event.prev_hash = prev;
        event.hash = audit::event_hash(&event);
        sqlx::query("UPDATE audit_events SET prev_hash = ?, hash = ? WHERE id = ?")
            .bind(&event.prev_hash)
            .bind(&event.hash)
            .bind(event.id)
            .execute(&pool)
            .await
            .unwrap();
        prev = event.hash;
    }
    pool.close().await;
}

struct Setup {
    dir: tempfile::TempDir,
    key: PathBuf,
    public: PathBuf,
    checkpoints: PathBuf,
    db: PathBuf,
}

/// A log of 300 events with checkpoints of events 250 and 300.
fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (key, public, db) = (
        dir.path().join("audit.key"),
        dir.path().join("audit.key.pub"),
        dir.path().join("callerdesk.db"),
    );
    let checkpoints = dir.path().join("callerdesk.db.checkpoints.jsonl");
    let made = callerdesk(&["audit", "keygen", s(&key)], None);
    assert!(made.ok && made.out.contains("fingerprint"), "{}", made.err);
    for (events, head) in [("250", 250), ("50", 300)] {
        let generated = callerdesk(
            &["generate", "--audit-events", events, "--database", s(&db)],
            None,
        );
        assert!(generated.ok, "{}", generated.err);
        let signed = callerdesk(&["audit", "checkpoint", "--database", s(&db)], Some(&key));
        assert!(
            signed.ok && signed.out.contains(&format!("event {head} ")),
            "{} {}",
            signed.out,
            signed.err
        );
    }
    Setup {
        dir,
        key,
        public,
        checkpoints,
        db,
    }
}

impl Setup {
    fn verify(&self, db: &Path) -> Ran {
        callerdesk(
            &[
                "audit",
                "verify",
                "--database",
                s(db),
                "--checkpoints",
                s(&self.checkpoints),
                "--public-key",
                s(&self.public),
            ],
            None,
        )
    }

    /// A consistent copy of the untouched log, for tampering with.
    fn copy(&self, name: &str) -> PathBuf {
        let copy = self.dir.path().join(name);
        let backup = callerdesk(
            &["backup", s(&copy), "--database", s(&self.db)],
            Some(&self.key),
        );
        assert!(
            backup.ok
                && backup
                    .out
                    .contains("agreeing with all 2 signed checkpoints"),
            "{} {}",
            backup.out,
            backup.err
        );
        copy
    }
}

#[tokio::test]
async fn an_untouched_log_agrees_with_its_checkpoints_everywhere() {
    let setup = setup();
    let lines = std::fs::read_to_string(&setup.checkpoints).unwrap();
    assert_eq!(lines.lines().count(), 2, "{lines}");
    let verified = setup.verify(&setup.db);
    assert!(verified.ok, "{} {}", verified.out, verified.err);
    assert!(
        verified
            .out
            .contains("intact, 300 events; agrees with all 2 checkpoints"),
        "{}",
        verified.out
    );
    let script = documented_script(
        setup.dir.path(),
        &setup.db,
        &setup.checkpoints,
        &setup.public,
    );
    assert!(script.ok, "{} {}", script.out, script.err);
    assert_eq!(
        script.out.trim(),
        "intact, 300 events; agrees with all 2 checkpoints"
    );
    // Nothing new: no second checkpoint of the same head.
    let again = callerdesk(
        &["audit", "checkpoint", "--database", s(&setup.db)],
        Some(&setup.key),
    );
    assert!(again.ok);
    let again = callerdesk(
        &["audit", "checkpoint", "--database", s(&setup.db)],
        Some(&setup.key),
    );
    assert!(again.out.contains("Nothing new to sign"), "{}", again.out);
}

#[tokio::test]
async fn cutting_events_off_the_end_is_caught() {
    let setup = setup();
    let copy = setup.copy("truncated.db");
    tamper(&copy, "DELETE FROM audit_events WHERE id > 280").await;

    let chain_alone = callerdesk(&["audit", "verify", "--database", s(&copy)], None);
    assert!(
        chain_alone.ok && chain_alone.out.contains("intact, 280 events"),
        "the chain alone can't see it: {}",
        chain_alone.out
    );
    let verified = setup.verify(&copy);
    assert!(!verified.ok);
    assert!(
        verified.out.contains("checkpoint on line 2 of")
            && verified
                .out
                .contains("the log ends at event 280, so events were removed from its end"),
        "{}",
        verified.out
    );
    let script = documented_script(setup.dir.path(), &copy, &setup.checkpoints, &setup.public);
    assert!(!script.ok, "{}", script.out);
    assert!(
        script.err.contains("line 2") && script.err.contains("removed"),
        "{}",
        script.err
    );
    let backup = callerdesk(
        &[
            "backup",
            s(&setup.dir.path().join("of-truncated.db")),
            "--database",
            s(&copy),
            "--audit-checkpoints",
            s(&setup.checkpoints),
        ],
        Some(&setup.key),
    );
    assert!(!backup.ok);
    assert!(
        backup.err.contains("contradicts a signed checkpoint"),
        "{}",
        backup.err
    );
}

#[tokio::test]
async fn rewriting_an_event_and_every_later_hash_is_caught() {
    let setup = setup();
    let copy = setup.copy("rewritten.db");
    tamper(
        &copy,
        "UPDATE audit_events SET actor_name = 'someone else' WHERE id = 120",
    )
    .await;

    let chain_alone = callerdesk(&["audit", "verify", "--database", s(&copy)], None);
    assert!(
        chain_alone.ok,
        "the chain alone can't see it: {}",
        chain_alone.out
    );
    let verified = setup.verify(&copy);
    assert!(!verified.ok);
    assert!(
        verified.out.contains("checkpoint on line 1 of")
            && verified.out.contains("event 250 has hash")
            && verified.out.contains("the log was rewritten"),
        "{}",
        verified.out
    );
    let script = documented_script(setup.dir.path(), &copy, &setup.checkpoints, &setup.public);
    assert!(!script.ok);
    assert!(
        script.err.contains("line 1") && script.err.contains("rewritten"),
        "{}",
        script.err
    );
}

#[tokio::test]
async fn a_forged_checkpoint_line_or_another_key_is_refused() {
    let setup = setup();
    // The second line made to vouch for another hash, as someone covering a rewrite would.
    let text = std::fs::read_to_string(&setup.checkpoints).unwrap();
    let mut lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    lines[1]["event_hash"] = serde_json::json!("0".repeat(64));
    let forged = setup.dir.path().join("forged.jsonl");
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&forged, body).unwrap();
    let verified = callerdesk(
        &[
            "audit",
            "verify",
            "--database",
            s(&setup.db),
            "--checkpoints",
            s(&forged),
            "--public-key",
            s(&setup.public),
        ],
        None,
    );
    assert!(!verified.ok);
    assert!(
        verified.out.contains("The checkpoint on line 2 of")
            && verified
                .out
                .contains("is not signed by the public key given"),
        "{}",
        verified.out
    );
    let script = documented_script(setup.dir.path(), &setup.db, &forged, &setup.public);
    assert!(
        !script.ok && script.err.contains("not signed"),
        "{}",
        script.err
    );

    let other = setup.dir.path().join("other.key");
    assert!(callerdesk(&["audit", "keygen", s(&other)], None).ok);
    let verified = callerdesk(
        &[
            "audit",
            "verify",
            "--database",
            s(&setup.db),
            "--checkpoints",
            s(&setup.checkpoints),
            "--public-key",
            &format!("{}.pub", s(&other)),
        ],
        None,
    );
    assert!(
        !verified.ok && verified.out.contains("not signed"),
        "{}",
        verified.out
    );
}

#[tokio::test]
async fn the_keys_open_with_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("audit.key");
    assert!(callerdesk(&["audit", "keygen", s(&key)], None).ok);
    for args in [
        vec!["pkey", "-in", s(&key), "-noout"],
        vec![
            "pkey",
            "-pubin",
            "-in",
            &format!("{}.pub", s(&key)),
            "-noout",
        ],
    ] {
        let out = Command::new("openssl").args(&args).output().unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test]
async fn the_server_signs_every_hundred_events_and_its_last_ones_at_shutdown() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let key = dir.path().join("audit.key");
    assert!(callerdesk(&["audit", "keygen", s(&key)], None).ok);
    let mut args = serve_args(dir.path().join("callerdesk.db"));
    args.audit.audit_key = Some(key.clone());
    let app = TestApp::spawn_with(dir.clone(), args).await;
    app.signed_in("ruth", callerdesk::domain::Role::Admin).await;
    let file = dir.path().join("callerdesk.db.checkpoints.jsonl");
    // A hundred events make a checkpoint without waiting for the minute.
    let now = app.state.clock.now();
    for _ in 0..110 {
        let event =
            audit::Who::system().event(audit::Action::CallerIdUpdated, audit::Outcome::Succeeded);
        app.state.db.append(now, event).await.unwrap();
    }
    let mut waited = 0;
    while std::fs::read_to_string(&file).map_or(true, |t| !t.contains("\"event_id\":1")) {
        assert!(waited < 100, "no checkpoint within 10 s of 100 new events");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
    }
    // One more, which only the checkpoint at shutdown covers.
    let event =
        audit::Who::system().event(audit::Action::CallerIdDeleted, audit::Outcome::Succeeded);
    app.state.db.append(now, event).await.unwrap();
    let head: i64 = sqlx::query_scalar("SELECT MAX(id) FROM audit_events")
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();
    let dir = app.stop().await;

    let text = std::fs::read_to_string(&file).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["event_id"], head, "{text}");
    assert_eq!(
        text.lines().count(),
        2,
        "one of 100+ events, one at shutdown: {text}"
    );
    let verified = callerdesk(
        &[
            "audit",
            "verify",
            "--database",
            s(&dir.path().join("callerdesk.db")),
            "--checkpoints",
            s(&file),
            "--public-key",
            &format!("{}.pub", s(&key)),
        ],
        None,
    );
    assert!(verified.ok, "{} {}", verified.out, verified.err);
}

#[tokio::test]
async fn the_audit_page_shows_the_full_check_the_guards_and_the_latest_checkpoint() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let key = dir.path().join("audit.key");
    assert!(callerdesk(&["audit", "keygen", s(&key)], None).ok);
    let mut args = serve_args(dir.path().join("callerdesk.db"));
    args.audit.audit_key = Some(key.clone());
    let app = TestApp::spawn_with(dir.clone(), args).await;
    let mut auditor = app
        .signed_in("ivy", callerdesk::domain::Role::Auditor)
        .await;
    let (_, page) = auditor.page("/audit").await;
    assert!(
        page.contains("No signed checkpoint yet"),
        "before the first checkpoint: {page}"
    );
    let checkpointer = app.state.settings.checkpoints.clone().unwrap();
    let made = checkpointer
        .make(&app.state.db, app.state.clock.now())
        .await
        .unwrap()
        .unwrap();
    auditor.post("/audit/verify", &[]).await;
    let (_, page) = auditor.page("/audit").await;
    assert!(
        page.contains(&format!(
            "Latest signed checkpoint: event {}, made {}; the log agrees with it.",
            made.event_id,
            callerdesk::web::format::exact_seconds(
                callerdesk::db::parse_timestamp(&made.made_at).unwrap()
            )
        )),
        "{page}"
    );
    assert!(
        page.contains("The whole chain was last checked from the first event"),
        "{page}"
    );
    assert!(!page.contains("no longer refuses changes"), "{page}");

    // Someone with the file drops the guards and rewrites the checkpointed event.
    sqlx::raw_sql(&format!(
        "DROP TRIGGER audit_events_are_never_updated; DROP TRIGGER audit_events_are_never_deleted;
         UPDATE audit_events SET hash = '{}' WHERE id = {};",
        "0".repeat(64),
        made.event_id
    ))
    .execute(&app.state.db.writer)
    .await
    .unwrap();
    auditor.post("/audit/verify", &[]).await;
    let (_, page) = auditor.page("/audit").await;
    assert!(
        page.contains("The database no longer refuses changes to the audit log")
            && page.contains(
                "audit_events_are_never_updated and audit_events_are_never_deleted were removed"
            ),
        "{page}"
    );
    assert!(
        page.contains("the log was rewritten"),
        "the checkpoint is contradicted: {page}"
    );
}
