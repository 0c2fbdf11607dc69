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

use crate::{
    audit::{self, Action, NewEvent, Outcome},
    auth::{
        password,
        session::{SIGNED_IN, SignedIn},
    },
    db::users,
    domain::Password,
    error::AppError,
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
    let stored = users::password_hash(&state.db.reader, me.user.id).await?;
    let current_ok = password::verify(form.current, stored).await;
    let new = match Password::parse(&form.new) {
        Ok(_) if form.new != form.confirm => {
            Err("The two new passwords are different. Type the same password twice.".to_owned())
        }
        other => other.map_err(|e| e.to_string()),
    };
    let new = match (current_ok, new) {
        (true, Ok(new)) => new,
        (current_ok, new) => {
            let page = AccountPage {
                chrome: Chrome::for_user(&state, &me, Nav::Account).await?,
                must_change: me.user.must_change_password,
                current_error: (!current_ok)
                    .then(|| "That is not your current password.".to_owned()),
                new_error: new.err(),
            };
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    let hash = password::hash(&new).await?;
    let now = state.clock.now();
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
