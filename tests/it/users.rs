//! The users page and the account page.

use crate::helpers::{PASSWORD, TestApp, location};
use callerdesk::domain::Role;
use reqwest::StatusCode;

async fn user_id(app: &TestApp, name: &str) -> i64 {
    sqlx::query_scalar("SELECT id FROM users WHERE username = ?")
        .bind(name)
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap()
}

#[tokio::test]
async fn an_admin_adds_a_user_who_must_choose_a_password_at_first_sign_in() {
    let app = TestApp::spawn().await;
    let mut admin = app.signed_in("ada", Role::Admin).await;
    admin.page("/users").await;
    let added = admin
        .post(
            "/users",
            &[
                ("username", "otto"),
                ("role", "operator"),
                ("password", "temporary-pass-1"),
            ],
        )
        .await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    let (_, body) = admin.page("/users").await;
    assert!(body.contains("otto was added as Operator"), "{body}");
    assert!(body.contains("Temporary password"));

    let mut otto = app.browser();
    let signed_in = otto.sign_in("otto", "temporary-pass-1").await;
    assert_eq!(location(&signed_in), "/account");
    // Anything else sends them back to choose a password.
    let elsewhere = otto.get("/").await;
    assert_eq!(location(&elsewhere), "/account");
    otto.page("/account").await;
    let changed = otto
        .post(
            "/account/password",
            &[
                ("current", "temporary-pass-1"),
                ("new", PASSWORD),
                ("confirm", PASSWORD),
            ],
        )
        .await;
    assert_eq!(changed.status(), StatusCode::SEE_OTHER);
    let (status, _) = otto.page("/").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn adding_a_user_explains_what_is_wrong_next_to_the_field() {
    let app = TestApp::spawn().await;
    let mut admin = app.signed_in("ada", Role::Admin).await;
    admin.page("/users").await;
    let bad = admin
        .post(
            "/users",
            &[
                ("username", "two words"),
                ("role", "auditor"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = bad.text().await.unwrap();
    assert!(body.contains("no spaces"), "{body}");
    assert!(body.contains("at least 12 characters"));
    assert!(body.contains(r#"aria-describedby="new-username-error""#));

    let taken = admin
        .post(
            "/users",
            &[
                ("username", "ADA"),
                ("role", "auditor"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(taken.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        taken
            .text()
            .await
            .unwrap()
            .contains("already a user called ADA")
    );
}

#[tokio::test]
async fn the_last_active_admin_cannot_be_disabled_or_demoted() {
    let app = TestApp::spawn().await;
    let mut admin = app.signed_in("ada", Role::Admin).await;
    let me = user_id(&app, "ada").await;
    admin.page("/users").await;

    let r = admin.post(&format!("/users/{me}/disable"), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = admin
        .post(&format!("/users/{me}/role"), &[("role", "auditor")])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, body) = admin.page("/users").await;
    assert!(body.contains("only active admin"), "{body}");

    let (disabled, role): (bool, String) =
        sqlx::query_as("SELECT disabled, role FROM users WHERE id = ?")
            .bind(me)
            .fetch_one(&app.state.db.reader)
            .await
            .unwrap();
    assert!(!disabled);
    assert_eq!(role, "admin");

    // With a second admin, the first may step down.
    app.add_user("bea", Role::Admin).await;
    admin
        .post(&format!("/users/{me}/role"), &[("role", "operator")])
        .await;
    let role: String = sqlx::query_scalar("SELECT role FROM users WHERE id = ?")
        .bind(me)
        .fetch_one(&app.state.db.reader)
        .await
        .unwrap();
    assert_eq!(role, "operator");
    // And loses the users page at once.
    assert_eq!(admin.get("/users").await.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_and_enabling_lets_them_back() {
    let app = TestApp::spawn().await;
    let mut admin = app.signed_in("ada", Role::Admin).await;
    let mut op = app.signed_in("olaf", Role::Operator).await;
    let olaf = user_id(&app, "olaf").await;
    assert_eq!(op.get("/").await.status(), StatusCode::OK);

    admin.page("/users").await;
    admin.post(&format!("/users/{olaf}/disable"), &[]).await;
    let r = op.get("/").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&r).starts_with("/login"));
    let mut again = app.browser();
    assert_eq!(
        again.sign_in("olaf", PASSWORD).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );

    admin.post(&format!("/users/{olaf}/enable"), &[]).await;
    assert_eq!(
        again.sign_in("olaf", PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );

    let actions: Vec<String> = app
        .audit_actions()
        .await
        .into_iter()
        .map(|(a, ..)| a)
        .collect();
    assert!(actions.contains(&"user_disabled".to_owned()));
    assert!(actions.contains(&"user_enabled".to_owned()));
}

#[tokio::test]
async fn resetting_a_password_ends_sessions_and_requires_a_new_password() {
    let app = TestApp::spawn().await;
    let mut admin = app.signed_in("ada", Role::Admin).await;
    let mut op = app.signed_in("olaf", Role::Operator).await;
    let olaf = user_id(&app, "olaf").await;

    admin.page("/users").await;
    let r = admin
        .post(
            &format!("/users/{olaf}/password"),
            &[("password", "a-temporary-one")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(location(&op.get("/").await).starts_with("/login"));

    let mut fresh = app.browser();
    assert_eq!(
        fresh.sign_in("olaf", PASSWORD).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let r = fresh.sign_in("olaf", "a-temporary-one").await;
    assert_eq!(location(&r), "/account");
}

#[tokio::test]
async fn changing_your_password_needs_the_current_one() {
    let app = TestApp::spawn().await;
    let mut me = app.signed_in("ivy", Role::Auditor).await;
    me.page("/account").await;
    let wrong = me
        .post(
            "/account/password",
            &[
                ("current", "not my password"),
                ("new", "brand new password"),
                ("confirm", "brand new password"),
            ],
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("not your current password")
    );

    let mismatch = me
        .post(
            "/account/password",
            &[
                ("current", PASSWORD),
                ("new", "brand new password"),
                ("confirm", "brand new passw0rd"),
            ],
        )
        .await;
    assert_eq!(mismatch.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let ok = me
        .post(
            "/account/password",
            &[
                ("current", PASSWORD),
                ("new", "brand new password"),
                ("confirm", "brand new password"),
            ],
        )
        .await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    // This session goes on; the old password no longer works.
    assert_eq!(me.get("/").await.status(), StatusCode::OK);
    assert_eq!(
        app.browser().sign_in("ivy", PASSWORD).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert!(
        app.audit_actions()
            .await
            .iter()
            .any(|(a, ..)| a == "password_changed")
    );
}
