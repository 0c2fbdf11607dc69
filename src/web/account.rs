//! The account page: change your own password.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use serde_json::json;

use crate::{
    audit::{self, Action, NewEvent, Outcome},
    auth::{
        password,
        session::{SIGNED_IN, SignedIn},
        throttle::{self, Decided},
    },
    db::users,
    domain::Password,
    web::error::AppError,
    web::{
        extract::{ClientMeta, CurrentUser},
        layout::{Chrome, Nav, notify},
        state::AppState,
    },
};

#[derive(Template, WebTemplate)]
#[template(path = "account/page.html")]
pub struct AccountPage {
    chrome: Chrome,
    must_change: bool,
    current_error: Option<String>,
    new_error: Option<String>,
}

/// `GET /account`
pub async fn show(State(state): State<AppState>, me: CurrentUser) -> Result<AccountPage, AppError> {
    Ok(AccountPage {
        chrome: Chrome::for_user(&state, &me, Nav::Account).await?,
        must_change: me.user.must_change_password,
        current_error: None,
        new_error: None,
    })
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    confirm: String,
}

/// `POST /account/password`: asks for the current password; ends the user's other sessions.
pub async fn change_password(
    State(state): State<AppState>,
    me: CurrentUser,
    ClientMeta(meta): ClientMeta,
    Form(form): Form<PasswordForm>,
) -> Result<Response, AppError> {
    let now = state.clock.now();
    let refused = |current_error: String, new_error: Option<String>| async {
        let page = AccountPage {
            chrome: Chrome::for_user(&state, &me, Nav::Account).await?,
            must_change: me.user.must_change_password,
            current_error: Some(current_error),
            new_error,
        };
        Ok::<_, AppError>((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
    };
    let failed_event = |reason: &str| {
        NewEvent::new(me.actor(), &meta, Action::PasswordChanged, Outcome::Failed)
            .with_details(json!({ "reason": reason }))
    };
    // The current password is a password guess: it takes a slot like a sign-in does, from the
    // same allowance of the account's name.
    let ip = meta.client_ip.clone().unwrap_or_else(|| "unknown".into());
    let (claim, mut tx) = throttle::claim_or_wait(
        &state.db,
        &state.sign_in_waiting,
        &me.user.username,
        &ip,
        || state.clock.now(),
    )
    .await?;
    let attempt = match claim {
        Decided::Granted(attempt) => {
            tx.commit().await?;
            attempt
        }
        Decided::Throttled(wait) => {
            audit::append(&mut tx, now, failed_event("too many wrong passwords")).await?;
            tx.commit().await?;
            return refused(
                format!(
                    "Too many wrong passwords. Try again in {}.",
                    throttle::minutes_text(wait)
                ),
                None,
            )
            .await;
        }
    };
    let stored = users::password_hash(&state.db.reader, me.user.id).await?;
    let current_ok = password::verify(form.current, stored).await;
    let new = match Password::parse(&form.new) {
        Ok(_) if form.new != form.confirm => {
            Err("The two new passwords are different. Type the same password twice.".to_owned())
        }
        other => other.map_err(|e| e.to_string()),
    };
    let mut tx = state.db.writer.begin().await?;
    if !current_ok {
        throttle::failed(&mut tx, attempt).await?;
        audit::append(&mut tx, now, failed_event("wrong current password")).await?;
        tx.commit().await?;
        state.sign_in_waiting.wake();
        return refused("That is not your current password.".to_owned(), new.err()).await;
    }
    throttle::succeeded(&mut tx, attempt, &me.user.username).await?;
    tx.commit().await?;
    state.sign_in_waiting.wake();
    let new = match new {
        Ok(new) => new,
        Err(why) => {
            let page = AccountPage {
                chrome: Chrome::for_user(&state, &me, Nav::Account).await?,
                must_change: me.user.must_change_password,
                current_error: None,
                new_error: Some(why),
            };
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    let hash = password::hash(&new).await?;
    let mut tx = state.db.writer.begin().await?;
    users::set_password(&mut tx, me.user.id, &hash, false).await?;
    audit::append(
        &mut tx,
        now,
        NewEvent::new(
            me.actor(),
            &meta,
            Action::PasswordChanged,
            Outcome::Succeeded,
        ),
    )
    .await?;
    tx.commit().await?;
    // Setting the password bumped the epoch, ending every session; keep this one.
    if let Some(mut signed_in) = me.session.get::<SignedIn>(SIGNED_IN).await? {
        signed_in.epoch = me.user.session_epoch + 1;
        me.session.insert(SIGNED_IN, signed_in).await?;
    }
    notify(
        &me.session,
        "Your password was changed. Any other place you were signed in has been signed out.",
    )
    .await?;
    Ok(Redirect::to("/").into_response())
}
