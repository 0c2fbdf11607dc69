//! Every Plivo operation callerdesk uses × every way Plivo (or the way to it) can fail. For each
//! cell: the page says what happened in plain words, callerdesk itself never answers 500, the
//! audit log records the failure, and the verification or caller ID is left consistent.

use crate::helpers::{Browser, TestApp, serve_args};
use callerdesk::{
    domain::Role,
    sandbox::{Fault, Faults, Rule},
};
use reqwest::StatusCode;
use std::{sync::Arc, time::Duration};

const CODE_NUMBER: &str = "202-555-0131";
const EDITED: &str = "12025550132";
const DELETED: &str = "12025550133";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    /// Send a code (POST …/VerifiedCallerId/).
    Start,
    /// Check a code (POST …/VerifiedCallerId/Verification/{uuid}).
    Code,
    /// Rename a caller ID (POST …/VerifiedCallerId/{number}).
    Edit,
    /// Delete a caller ID (DELETE …/VerifiedCallerId/{number}).
    Delete,
    /// List every caller ID (GET …/VerifiedCallerId/?limit=…).
    Sync,
}

const OPS: [Op; 5] = [Op::Start, Op::Code, Op::Edit, Op::Delete, Op::Sync];

impl Op {
    /// The requests of this operation, for a fault rule.
    fn rule(self, fault: Fault) -> Rule {
        let (method, path) = match self {
            // Each cell runs one operation, so method alone picks these two out.
            Op::Start => ("POST", ""),
            Op::Code => ("POST", "/VerifiedCallerId/Verification/"),
            Op::Edit => ("POST", "/VerifiedCallerId/12025550132"),
            Op::Delete => ("DELETE", "/VerifiedCallerId/12025550133"),
            Op::Sync => ("GET", ""),
        };
        Rule {
            count: 100,
            method: Some(method.into()),
            path: Some(path.into()).filter(|p: &String| !p.is_empty()),
            fault,
        }
    }
}

/// An app with a pending verification and two cached caller IDs, and the people using it.
struct Scene {
    app: TestApp,
    operator: Browser,
    admin: Browser,
    code_path: String,
}

async fn scene(timeout: &str) -> Scene {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut args = serve_args(dir.path().join("callerdesk.db"));
    args.plivo_timeout = timeout.into();
    let app = TestApp::spawn_with(dir, args).await;
    app.verify_at_plivo(&format!("+{EDITED}"), "Edit me").await;
    app.verify_at_plivo(&format!("+{DELETED}"), "Delete me")
        .await;
    app.sync().await.unwrap();
    let mut operator = app.signed_in("olive", Role::Operator).await;
    let admin = app.signed_in("ada", Role::Admin).await;
    operator.page("/verify").await;
    let r = operator
        .post(
            "/verify",
            &[
                ("number", CODE_NUMBER),
                ("alias", ""),
                ("channel", "sms"),
                ("subaccount", ""),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let code_path = crate::helpers::location(&r);
    Scene {
        app,
        operator,
        admin,
        code_path,
    }
}

/// Does `op` as a person would; returns the status and the text of the page they end on.
async fn act(scene: &mut Scene, op: Op, attempt: usize) -> (StatusCode, String) {
    let (browser, path, fields): (&mut Browser, String, Vec<(&str, String)>) = match op {
        Op::Start => (
            &mut scene.operator,
            "/verify".into(),
            vec![
                ("number", format!("202-555-014{attempt}")),
                ("alias", String::new()),
                ("channel", "sms".into()),
                ("subaccount", String::new()),
            ],
        ),
        Op::Code => (
            &mut scene.operator,
            format!("{}/code", scene.code_path),
            vec![("code", "123456".into())],
        ),
        Op::Edit => (
            &mut scene.operator,
            format!("/caller-ids/{EDITED}"),
            vec![
                ("alias", format!("Renamed {attempt}")),
                ("subaccount", String::new()),
            ],
        ),
        Op::Delete => (
            &mut scene.admin,
            format!("/caller-ids/{DELETED}/delete"),
            vec![],
        ),
        Op::Sync => (&mut scene.admin, "/sync".into(), vec![]),
    };
    browser.page("/").await;
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = browser.post(&path, &fields).await;
    let status = r.status();
    let to = crate::helpers::location(&r);
    let mut page = r.text().await.unwrap();
    if status == StatusCode::SEE_OTHER || op == Op::Sync {
        // Where the redirect goes (or, for a sync, the list page once the run is over).
        if op == Op::Sync {
            for _ in 0..300 {
                let running: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM sync_runs WHERE status = 'running'")
                        .fetch_one(&scene.app.state.db.reader)
                        .await
                        .unwrap();
                if running == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            page = browser.page("/").await.1;
        } else {
            page = browser.page(&to).await.1;
        }
    }
    (status, page.replace("&#39;", "'").replace("&quot;", "\""))
}

/// The latest outcome recorded for the action `op` performs.
async fn last_outcome(app: &TestApp, op: Op) -> String {
    let action = match op {
        Op::Start => "verification_started",
        Op::Code => "verification_completed",
        Op::Edit => "caller_id_updated",
        Op::Delete => "caller_id_deleted",
        Op::Sync => "sync_finished",
    };
    sqlx::query_scalar("SELECT outcome FROM audit_events WHERE action = ? ORDER BY id DESC LIMIT 1")
        .bind(action)
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap()
}

async fn current_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM caller_ids WHERE removed_at IS NULL")
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap()
}

async fn caller_id(app: &TestApp, digits: &str) -> (String, bool) {
    sqlx::query_as("SELECT alias, removed_at IS NULL FROM caller_ids WHERE digits = ?")
        .bind(digits)
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap()
}

/// Checks one cell where Plivo failed: `says` is the plain sentence the page must hold.
async fn assert_failed_cell(scene: &mut Scene, op: Op, says: &str, attempt: usize) {
    let cell = format!("{op:?} × {says:?}");
    let codes_before: i64 =
        sqlx::query_scalar("SELECT wrong_attempts FROM verifications WHERE id = ?")
            .bind(scene.code_path.rsplit('/').next().unwrap())
            .fetch_one(&scene.app.state.db.reader)
            .await
            .unwrap();
    let cached_before = current_count(&scene.app).await;
    let (status, page) = act(scene, op, attempt).await;
    assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR, "{cell}: {page}");
    assert!(
        page.contains(says),
        "{cell}: the page does not say {says:?}:\n{page}"
    );
    // The message itself is plain; the history below it may quote the technical detail, which
    // the audit record keeps for whoever investigates.
    let message = page
        .split("id=\"history-heading\"")
        .next()
        .unwrap_or_default();
    for jargon in [
        "reqwest",
        "hyper",
        "error sending request",
        "tcp connect",
        "serde",
        "panicked",
    ] {
        assert!(
            !message.contains(jargon),
            "{cell}: {jargon:?} on the page:\n{message}"
        );
    }
    assert_eq!(last_outcome(&scene.app, op).await, "failed", "{cell}");
    let app = &scene.app;
    match op {
        Op::Start => {
            let status: String = sqlx::query_scalar(
                "SELECT status FROM verifications WHERE phone_number = ? ORDER BY started_at DESC LIMIT 1",
            )
            .bind(format!("+1202555014{attempt}"))
            .fetch_one(&app.state.db.reader)
            .await
            .unwrap();
            assert_eq!(status, "failed", "{cell}");
        }
        Op::Code => {
            let (status, wrong): (String, i64) =
                sqlx::query_as("SELECT status, wrong_attempts FROM verifications WHERE id = ?")
                    .bind(scene.code_path.rsplit('/').next().unwrap())
                    .fetch_one(&app.state.db.reader)
                    .await
                    .unwrap();
            assert_eq!(
                (status.as_str(), wrong),
                ("pending", codes_before),
                "{cell}: a code Plivo never checked costs no try"
            );
        }
        Op::Edit => assert_eq!(
            caller_id(app, EDITED).await,
            ("Edit me".into(), true),
            "{cell}"
        ),
        Op::Delete => {
            assert_eq!(
                caller_id(app, DELETED).await,
                ("Delete me".into(), true),
                "{cell}"
            )
        }
        Op::Sync => assert_eq!(
            current_count(app).await,
            cached_before,
            "{cell}: a failed sync changes nothing"
        ),
    }
}

/// Runs the five operations with `fault` on each in turn.
async fn matrix(fault: Fault, says: &str, timeout: &str) {
    let mut scene = scene(timeout).await;
    for (attempt, op) in OPS.into_iter().enumerate() {
        scene.app.sandbox().set_faults(Faults {
            rules: vec![op.rule(fault.clone())],
            ..Default::default()
        });
        if op == Op::Delete && fault == Fault::MalformedJson {
            // A delete succeeds with an empty 204; any 2xx means Plivo deleted it, and the
            // body is not read. So this is a success, shown and recorded as one.
            let (status, page) = act(&mut scene, op, attempt).await;
            assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
            assert!(page.contains("Deleted +1 202-555-0133"), "{page}");
            assert_eq!(last_outcome(&scene.app, op).await, "succeeded");
            assert!(
                !caller_id(&scene.app, DELETED).await.1,
                "removed from the list"
            );
        } else {
            assert_failed_cell(&mut scene, op, says, attempt).await;
        }
        scene.app.sandbox().set_faults(Faults::default());
    }
}

#[tokio::test]
async fn plivo_answering_500() {
    let fault = Fault::Status {
        status: 500,
        error: Some("internal error".into()),
    };
    matrix(fault, "Plivo had a problem on its side", "10s").await;
}

#[tokio::test]
async fn a_proxy_answering_502_with_html() {
    matrix(Fault::Html502, "Plivo's answer could not be read", "10s").await;
}

#[tokio::test]
async fn plivo_answering_429_with_retry_after() {
    let fault = Fault::RateLimited {
        retry_after_secs: 1,
    };
    matrix(fault, "Plivo is getting too many requests", "10s").await;
}

#[tokio::test]
async fn plivo_answering_malformed_json() {
    matrix(
        Fault::MalformedJson,
        "Plivo's answer could not be read",
        "10s",
    )
    .await;
}

#[tokio::test]
async fn plivo_not_answering_in_time() {
    matrix(Fault::Hang, "Plivo did not answer in time", "1s").await;
}

#[tokio::test]
async fn plivo_refusing_connections() {
    // Set up in sandbox mode, then restart in live mode against a port nothing listens on.
    let scene_before = scene("10s").await;
    let Scene {
        app,
        mut operator,
        mut admin,
        code_path,
    } = scene_before;
    let dir = app.stop().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut args = serve_args(dir.path().join("callerdesk.db"));
    args.plivo_auth_id = Some("MAQWERTYUIOP12345678".into());
    args.plivo_auth_token = Some("not-a-real-token".into());
    args.plivo_api_base = format!("http://127.0.0.1:{closed}/v1/");
    let app = TestApp::spawn_with(dir, args).await;
    operator.moved_to(&app.base);
    admin.moved_to(&app.base);
    let mut scene = Scene {
        app,
        operator,
        admin,
        code_path,
    };
    for (attempt, op) in OPS.into_iter().enumerate() {
        assert_failed_cell(&mut scene, op, "callerdesk could not reach Plivo", attempt).await;
    }
}

#[tokio::test]
async fn plivo_answering_after_eight_seconds() {
    // Slow but within the 10-second timeout: everything works, only later.
    let mut scene = scene("10s").await;
    scene.app.sandbox().set_faults(Faults {
        latency_ms: 8_000,
        ..Default::default()
    });
    let (status, page) = act(&mut scene, Op::Edit, 0).await;
    assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(page.contains("Renamed 0"), "{page}");
    assert_eq!(last_outcome(&scene.app, Op::Edit).await, "succeeded");
    let (_, page) = act(&mut scene, Op::Delete, 0).await;
    assert!(page.contains("Deleted"), "{page}");
    assert_eq!(last_outcome(&scene.app, Op::Delete).await, "succeeded");
    let (_, page) = act(&mut scene, Op::Start, 0).await;
    assert!(page.contains("Code from the phone"), "{page}");
    assert_eq!(last_outcome(&scene.app, Op::Start).await, "succeeded");
    let (_, page) = act(&mut scene, Op::Sync, 0).await;
    assert!(page.contains("Last synced with Plivo"), "{page}");
    assert_eq!(last_outcome(&scene.app, Op::Sync).await, "succeeded");
    // A wrong code, checked slowly: Plivo's answer arrives and is shown.
    let (_, page) = act(&mut scene, Op::Code, 0).await;
    assert!(page.contains("That code is not right"), "{page}");
}
