//! "Check with Plivo now" on a caller ID's page: one GET to Plivo, and the cache follows the
//! answer. Only Plivo's 404 marks a number removed.

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
