//! The cache holds what Plivo answered, never what was asked for: after an edit, and after
//! "Check with Plivo now" (one GET; only Plivo's 404 marks a number removed).

use crate::helpers::TestApp;
use callerdesk::{
    domain::{PhoneNumber, Role},
    plivo::Update,
    sandbox::{Fault, Faults, Rule},
};
use reqwest::StatusCode;

const NUMBER: &str = "+12025551234";

async fn events(app: &TestApp, action: &str) -> Vec<(String, Option<String>)> {
    sqlx::query_as(
        "SELECT actor_name, details FROM audit_events WHERE action = ? AND phone_number = ? ORDER BY id",
    )
    .bind(action)
    .bind(NUMBER)
    .fetch_all(&app.state.db.reader)
    .await
    .unwrap()
}

async fn alias_and_removed(app: &TestApp) -> (String, Option<String>) {
    sqlx::query_as("SELECT alias, removed_at FROM caller_ids WHERE phone_number = ?")
        .bind(NUMBER)
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap()
}

#[tokio::test]
async fn checking_with_plivo_brings_in_a_change_made_there_and_says_who_asked() {
    let app = TestApp::spawn().await;
    app.verify_at_plivo(NUMBER, "Front Desk").await;
    app.sync().await.unwrap();
    let number = PhoneNumber::from_e164(NUMBER).unwrap();
    // Someone renames it in Plivo's console.
    app.state
        .plivo
        .update(
            &number,
            &Update {
                alias: Some("Reception".into()),
                subaccount: None,
            },
        )
        .await
        .unwrap();
    let mut olive = app.signed_in("olive", Role::Operator).await;
    olive.page("/caller-ids/12025551234").await;
    let r = olive.post("/caller-ids/12025551234/refresh", &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, page) = olive.page("/caller-ids/12025551234").await;
    assert!(page.contains("Plivo had different details"), "{page}");
    assert_eq!(alias_and_removed(&app).await, ("Reception".into(), None));
    let changed = events(&app, "caller_id_changed_at_plivo").await;
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].0, "olive");
    // Asked again: Plivo agrees with the cache, nothing more is recorded.
    olive.post("/caller-ids/12025551234/refresh", &[]).await;
    let (_, page) = olive.page("/caller-ids/12025551234").await;
    assert!(page.contains("Plivo confirms"), "{page}");
    assert_eq!(events(&app, "caller_id_changed_at_plivo").await.len(), 1);
}

#[tokio::test]
async fn only_plivos_404_marks_a_number_removed() {
    let app = TestApp::spawn().await;
    app.verify_at_plivo(NUMBER, "Front Desk").await;
    app.sync().await.unwrap();
    let mut olive = app.signed_in("olive", Role::Operator).await;
    olive.page("/caller-ids/12025551234").await;

    // Plivo failing (every try) says nothing about the number: it stays.
    app.sandbox().set_faults(Faults {
        rules: vec![Rule {
            count: 10,
            method: Some("GET".into()),
            path: Some("/VerifiedCallerId/12025551234".into()),
            fault: Fault::Status {
                status: 500,
                error: None,
            },
        }],
        ..Faults::default()
    });
    olive.post("/caller-ids/12025551234/refresh", &[]).await;
    let (_, page) = olive.page("/caller-ids/12025551234").await;
    assert!(page.contains("Nothing was changed."), "{page}");
    assert_eq!(alias_and_removed(&app).await.1, None);
    app.sandbox().set_faults(Faults::default());

    // Deleted in Plivo's console: Plivo answers 404, and then it is removed.
    app.state
        .plivo
        .delete(&PhoneNumber::from_e164(NUMBER).unwrap())
        .await
        .unwrap();
    olive.post("/caller-ids/12025551234/refresh", &[]).await;
    let (_, page) = olive.page("/caller-ids/12025551234").await;
    assert!(page.contains("no longer has this number"), "{page}");
    assert!(alias_and_removed(&app).await.1.is_some());
    assert_eq!(events(&app, "caller_id_removed_at_plivo").await.len(), 1);
}

async fn plivo_fields(app: &TestApp) -> (Option<String>, Option<String>) {
    let at_plivo = app
        .state
        .plivo
        .get(&PhoneNumber::from_e164(NUMBER).unwrap())
        .await
        .unwrap();
    (
        at_plivo.subaccount,
        at_plivo
            .modified_at
            .map(|t| callerdesk::db::Timestamp::from(t).to_string()),
    )
}

#[tokio::test]
async fn after_an_edit_the_cache_holds_plivos_answer() {
    let app = TestApp::spawn().await;
    app.verify_at_plivo(NUMBER, "Front Desk").await;
    app.sync().await.unwrap();
    let mut olive = app.signed_in("olive", Role::Operator).await;
    olive.page("/caller-ids/12025551234").await;
    let r = olive
        .post(
            "/caller-ids/12025551234",
            &[
                ("alias", "Front Desk"),
                ("subaccount", "sa2b3c4d5e6f7g8h9j0k"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (subaccount, modified) = plivo_fields(&app).await;
    let cached: (String, Option<String>) = sqlx::query_as(
        "SELECT subaccount, plivo_modified_at FROM caller_ids WHERE phone_number = ?",
    )
    .bind(NUMBER)
    .fetch_one(&app.state.db.reader)
    .await
    .unwrap();
    assert_eq!(Some(cached.0), subaccount);
    // Plivo's own time of the change, which only its answer carries.
    assert_eq!(cached.1, modified);
    assert!(modified.is_some());
    // The next sync finds nothing changed "at Plivo".
    assert_eq!(app.sync().await.unwrap().counts.changed, 0);
}

#[tokio::test]
async fn clearing_a_subaccount_is_refused_next_to_the_field_and_nothing_is_sent() {
    let app = TestApp::spawn().await;
    app.verify_at_plivo(NUMBER, "Front Desk").await;
    let mut olive = app.signed_in("olive", Role::Operator).await;
    app.sync().await.unwrap();
    olive.page("/caller-ids/12025551234").await;
    olive
        .post(
            "/caller-ids/12025551234",
            &[
                ("alias", "Front Desk"),
                ("subaccount", "SA2B3C4D5E6F7G8H9J0K"),
            ],
        )
        .await;
    let sent_before = app.sandbox().requests().len();
    let r = olive
        .post(
            "/caller-ids/12025551234",
            &[("alias", "Front Desk"), ("subaccount", "")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = r.text().await.unwrap();
    assert!(page.contains("back to the main account"), "{page}");
    assert_eq!(app.sandbox().requests().len(), sent_before);
    assert_eq!(
        plivo_fields(&app).await.0.as_deref(),
        Some("SA2B3C4D5E6F7G8H9J0K")
    );
    let requested: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE action = 'caller_id_updated' AND outcome = 'requested'",
    )
    .fetch_one(&app.state.db.reader)
    .await
    .unwrap();
    assert_eq!(requested, 1, "only the first edit was sent");
}

#[tokio::test]
async fn what_plivos_verify_answer_leaves_out_is_filled_in_and_said_to_be_inferred() {
    let app = TestApp::spawn().await;
    let mut olive = app.signed_in("olive", Role::Operator).await;
    olive.page("/verify").await;
    let r = olive
        .post(
            "/verify",
            &[
                ("number", "202-555-1234"),
                ("channel", "sms"),
                ("subaccount", "SA2B3C4D5E6F7G8H9J0K"),
            ],
        )
        .await;
    let path = crate::helpers::location(&r);
    let (_, page) = olive.page(&path).await;
    let marker = "the code sent is <code>";
    let at = page.find(marker).unwrap() + marker.len();
    let code: String = page[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    olive
        .post(&format!("{path}/code"), &[("code", &code)])
        .await;
    // The sandbox's answer, like Plivo's fixtures, has no subaccount: it comes from the form.
    let (subaccount, inferred): (String, String) = sqlx::query_as(
        "SELECT json_extract(details, '$.subaccount'), json_extract(details, '$.inferred')
         FROM audit_events WHERE action = 'verification_completed' AND outcome = 'succeeded'",
    )
    .fetch_one(&app.state.db.reader)
    .await
    .unwrap();
    assert_eq!(subaccount, "SA2B3C4D5E6F7G8H9J0K");
    assert_eq!(inferred, r#"["subaccount"]"#);
    assert_eq!(
        plivo_fields(&app).await.0.as_deref(),
        Some("SA2B3C4D5E6F7G8H9J0K")
    );
}

#[tokio::test]
async fn with_sub_account_credentials_no_subaccount_is_offered_or_sent() {
    use callerdesk::{clock::Clock, db::Db, plivo::AuthToken, sandbox::Sandbox};
    const SUB_ACCOUNT: &str = "SA0123456789ABCDEFGH";
    let plivo_dir = tempfile::tempdir().unwrap();
    let sandbox = Sandbox::new(
        Db::open(&plivo_dir.path().join("plivo.db")).await.unwrap(),
        Clock::system(),
        SUB_ACCOUNT.into(),
        AuthToken::new("sub-token".into()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    sandbox.spawn(listener);
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let mut args = crate::helpers::serve_args(dir.path().join("callerdesk.db"));
    args.plivo_auth_id = Some(SUB_ACCOUNT.into());
    args.plivo_auth_token = Some("sub-token".into());
    args.plivo_api_base = format!("{base}/v1/");
    let app = TestApp::spawn_with(dir, args).await;
    let mut olive = app.signed_in("olive", Role::Operator).await;
    let (_, form) = olive.page("/verify").await;
    assert!(!form.contains(r#"name="subaccount""#), "{form}");
    // A subaccount sent anyway (an old form, a hand-made request) is not passed on: the
    // sandbox, like Plivo, refuses one from a sub-account, and the start succeeds.
    let r = olive
        .post(
            "/verify",
            &[
                ("number", "202-555-1234"),
                ("channel", "sms"),
                ("subaccount", "SA2B3C4D5E6F7G8H9J0K"),
            ],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "{}",
        r.text().await.unwrap()
    );
    let sent = sandbox.outbox();
    assert_eq!(sent.len(), 1);
}
