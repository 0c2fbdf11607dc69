//! How a refused code is read (docs/plivo.md): only a plain "wrong code" uses a try.

use crate::helpers::{Browser, TestApp, location};
use callerdesk::{
    domain::Role,
    sandbox::{Fault, Faults, Rule},
};
use reqwest::StatusCode;

async fn started(app: &TestApp) -> (Browser, String) {
    let mut olive = app.signed_in("olive", Role::Operator).await;
    olive.page("/verify").await;
    let r = olive
        .post("/verify", &[("number", "202-555-0143"), ("channel", "sms")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    (olive, location(&r))
}

fn refuse_code(status: u16, words: &str) -> Faults {
    Faults {
        rules: vec![Rule {
            count: 1,
            method: Some("POST".into()),
            path: Some("/Verification/".into()),
            fault: Fault::Status {
                status,
                error: Some(words.into()),
            },
        }],
        ..Faults::default()
    }
}

async fn verification(app: &TestApp, path: &str) -> (String, i64) {
    sqlx::query_as("SELECT status, wrong_attempts FROM verifications WHERE id = ?")
        .bind(path.rsplit('/').next().unwrap())
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_refusal_that_is_not_plainly_a_wrong_code_uses_no_try_and_shows_plivos_words() {
    let app = TestApp::spawn().await;
    let (mut olive, path) = started(&app).await;
    for (status, words) in [
        (400, "verification locked"),
        (403, "forbidden for this account"),
    ] {
        app.sandbox().set_faults(refuse_code(status, words));
        let r = olive
            .post(&format!("{path}/code"), &[("code", "123456")])
            .await;
        let page = r.text().await.unwrap();
        assert!(
            page.contains(&format!("Plivo refused the code: “{words}”")),
            "{page}"
        );
        assert!(page.contains("did not use up a try"));
        assert_eq!(verification(&app, &path).await, ("pending".into(), 0));
    }
    let recorded: Vec<(Option<i64>, String)> = sqlx::query_as(
        "SELECT plivo_status, json_extract(details, '$.error') FROM audit_events
         WHERE action = 'verification_completed' AND outcome = 'failed' ORDER BY id",
    )
    .fetch_all(&app.state.db.reader)
    .await
    .unwrap();
    assert_eq!(
        recorded,
        [
            (Some(400), "verification locked".to_owned()),
            (Some(403), "forbidden for this account".to_owned())
        ]
    );
}

#[tokio::test]
async fn plivo_saying_the_code_expired_closes_the_verification_without_a_try() {
    let app = TestApp::spawn().await;
    let (mut olive, path) = started(&app).await;
    app.sandbox()
        .set_faults(refuse_code(400, "otp has expired"));
    let r = olive
        .post(&format!("{path}/code"), &[("code", "123456")])
        .await;
    assert!(r.text().await.unwrap().contains("expired"));
    assert_eq!(verification(&app, &path).await, ("expired".into(), 0));
}

#[tokio::test]
async fn a_plain_wrong_code_uses_a_try() {
    let app = TestApp::spawn().await;
    let (mut olive, path) = started(&app).await;
    app.sandbox().set_faults(refuse_code(400, "invalid otp"));
    let r = olive
        .post(&format!("{path}/code"), &[("code", "123456")])
        .await;
    assert!(r.text().await.unwrap().contains("That code is not right"));
    assert_eq!(verification(&app, &path).await, ("pending".into(), 1));
}
