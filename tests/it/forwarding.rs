//! Every committed event reaches a real syslog receiver (Debian's rsyslog, started here on a
//! loopback port) and a JSON Lines file, in order, across the receiver stopping and starting
//! again and callerdesk restarting; the audit page shows what waits.

use crate::helpers::{TestApp, serve_args};
use callerdesk::{
    audit::{Action, Outcome, Who},
    db::Db,
    domain::Role,
};
use std::{
    path::{Path, PathBuf},
    process::{Child, Command},
    sync::Arc,
    time::Duration,
};

/// rsyslogd in the foreground, writing each message's text (the event as JSON) to a file.
struct Rsyslog {
    child: Child,
}

impl Rsyslog {
    fn start(dir: &Path, port: u16) -> Self {
        let work = dir.join("rsyslog");
        std::fs::create_dir_all(&work).unwrap();
        let conf = work.join("rsyslog.conf");
        std::fs::write(
            &conf,
            format!(
                r#"global(workDirectory="{work}")
module(load="imtcp")
template(name="text" type="string" string="%msg%\n")
ruleset(name="audit") {{
  action(type="omfile" file="{out}" template="text" flushOnTXEnd="on" asyncWriting="off")
}}
input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="audit")
"#,
                work = work.display(),
                out = received(dir).display(),
            ),
        )
        .unwrap();
        let binary = ["/usr/sbin/rsyslogd", "rsyslogd"]
            .into_iter()
            .find(|b| Path::new(b).exists())
            .unwrap_or("rsyslogd");
        let child = Command::new(binary)
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(work.join("rsyslogd.pid"))
            .spawn()
            .expect("rsyslogd runs (scripts/test installs Debian's rsyslog)");
        let rsyslog = Self { child };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return rsyslog;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("rsyslogd did not listen on port {port} within 5 s");
    }

    /// A clean stop (SIGTERM), as an operator restarting the receiver does.
    fn stop(mut self) {
        // The shell's own kill: a machine may have no kill program.
        let stopped = Command::new("sh")
            .args(["-c", &format!("kill -TERM {}", self.child.id())])
            .status()
            .unwrap();
        assert!(stopped.success());
        self.child.wait().unwrap();
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn received(dir: &Path) -> PathBuf {
    dir.join("received.log")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The event ids in a file of one JSON event per line (rsyslog's, or callerdesk's own).
fn ids(path: &Path) -> Vec<i64> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let event: serde_json::Value = serde_json::from_str(l.trim())
                .unwrap_or_else(|e| panic!("not an event ({e}): {l}"));
            event["id"].as_i64().unwrap()
        })
        .collect()
}

/// In order and complete through `head`, at least once: every id is at most one past the
/// highest before it (a resend after an outage may repeat ids, never skip or reorder them).
fn assert_in_order_through(path: &Path, head: i64) {
    let seen = ids(path);
    let mut highest = 0;
    for id in &seen {
        assert!(
            *id <= highest + 1,
            "event {id} came after {highest} with events missing between: {seen:?}"
        );
        highest = highest.max(*id);
    }
    assert_eq!(highest, head, "{seen:?}");
}

async fn wait_for(path: &Path, head: i64) {
    for _ in 0..200 {
        if ids(path).contains(&head) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("event {head} did not reach {} within 10 s", path.display());
}

async fn head(db: &Db) -> i64 {
    sqlx::query_scalar("SELECT MAX(id) FROM audit_events")
        .fetch_one(&db.reader)
        .await
        .unwrap()
}

async fn add_events(db: &Db, now: time::OffsetDateTime, count: usize) {
    for _ in 0..count {
        let event = Who::system().event(Action::CallerIdUpdated, Outcome::Succeeded);
        db.append(now, event).await.unwrap();
    }
}

#[tokio::test]
async fn events_reach_rsyslog_and_the_file_in_order_across_outages_and_restarts() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let port = free_port();
    let file = dir.path().join("events.jsonl");
    let args = || {
        let mut args = serve_args(dir.path().join("callerdesk.db"));
        args.audit_syslog = Some(format!("tcp://127.0.0.1:{port}"));
        args.audit_file = Some(file.clone());
        args
    };
    let receiver = Rsyslog::start(dir.path(), port);
    let app = TestApp::spawn_with(dir.clone(), args()).await;
    let mut auditor = app.signed_in("ivy", Role::Auditor).await;
    let now = app.state.clock.now();
    add_events(&app.state.db, now, 20).await;
    let first = head(&app.state.db).await;
    wait_for(&received(dir.path()), first).await;
    wait_for(&file, first).await;

    // The receiver stops: events wait in the database, and people's actions don't.
    receiver.stop();
    add_events(&app.state.db, now, 30).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, page) = auditor.page("/audit").await;
    assert!(
        page.contains(&format!("Forwarding to syslog tcp://127.0.0.1:{port}:"))
            && page.contains("events on their way"),
        "{page}"
    );
    // Five minutes later, the page warns.
    app.state.clock.advance(time::Duration::minutes(6));
    let (_, page) = auditor.page("/audit").await;
    assert!(
        page.contains("events have waited more than 5 minutes for syslog")
            && page.contains("Check that the receiver is running"),
        "{page}"
    );

    let receiver = Rsyslog::start(dir.path(), port);
    let second = head(&app.state.db).await;
    wait_for(&received(dir.path()), second).await;

    // callerdesk stops; events are added meanwhile (as the command line does); it starts again.
    let dir = app.stop().await;
    let db = Db::open(&dir.path().join("callerdesk.db")).await.unwrap();
    add_events(&db, now, 10).await;
    db.close().await;
    let app = TestApp::spawn_with(dir.clone(), args()).await;
    let mut june = app.signed_in("june", Role::Auditor).await;
    let third = head(&app.state.db).await;
    assert!(third >= second + 10);
    wait_for(&received(dir.path()), third).await;
    wait_for(&file, third).await;
    assert_in_order_through(&received(dir.path()), third);
    assert_in_order_through(&file, third);
    let (_, page) = june.page("/audit").await;
    assert!(page.contains("every event taken"), "{page}");
    drop(receiver);
    app.stop().await;
}
