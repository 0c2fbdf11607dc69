//! Shutting down: work a request started (a code being sent) finishes and records its outcome
//! before the database closes.

use crate::helpers::TestApp;
use callerdesk::{domain::Role, sandbox::Faults};

#[tokio::test]
async fn a_shutdown_waits_for_a_code_being_sent_and_records_its_outcome() {
    let app = TestApp::spawn().await;
    let mut olive = app.signed_in("olive", Role::Operator).await;
    olive.page("/verify").await;
    // Plivo takes a second to answer.
    app.sandbox().set_faults(Faults {
        latency_ms: 1000,
        ..Faults::default()
    });
    // The person closes the tab while Plivo is still answering: the request goes away, the
    // step does not.
    let sending = tokio::spawn(async move {
        tokio::time::timeout(
            std::time::Duration::from_millis(300),
            olive.post("/verify", &[("number", "202-555-0143"), ("channel", "sms")]),
        )
        .await
        .is_err()
    });
    // The request is at Plivo when the server is told to stop.
    while app.sandbox().requests().is_empty() {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(
        sending.await.unwrap(),
        "the request was still going when it was dropped"
    );
    let db_path = app.db_path();
    let dir = app.stop().await;
    // On the database at rest: the request has its outcome.
    let db = callerdesk::db::Db::open(&db_path).await.unwrap();
    let outcomes: Vec<String> = sqlx::query_scalar(
        "SELECT outcome FROM audit_events WHERE action = 'verification_started' ORDER BY id",
    )
    .fetch_all(&db.reader)
    .await
    .unwrap();
    assert_eq!(outcomes, ["requested", "succeeded"]);
    db.close().await;
    drop(dir);
}
