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
    accounts::SignIn,
    auth::throttle,
    domain::Password,
    web::error::AppError,
    web::{
        extract::{ClientMeta, CurrentUser},
        layout::{Chrome, Nav},
        session::{self, notify},
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
    let refused = |current_error: Option<String>, new_error: Option<String>| async {
        let page = AccountPage {
            chrome: Chrome::for_user(&state, &me, Nav::Account).await?,
            must_change: me.user.must_change_password,
            current_error,
            new_error,
        };
        Ok::<_, AppError>((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
    };
    // The new password is checked first: a typo there costs no password check.
    let new = match Password::parse(&form.new) {
        Ok(_) if form.new != form.confirm => {
            let why = "The two new passwords are different. Type the same password twice.";
            return refused(None, Some(why.to_owned())).await;
        }
        Ok(new) => new,
        Err(e) => return refused(None, Some(e.to_string())).await,
    };
    match state
        .accounts
        .change_own_password(&me.user, form.current, &new, &meta)
        .await?
    {
        SignIn::Succeeded(_) => {}
        SignIn::Refused => {
            return refused(Some("That is not your current password.".into()), None).await;
        }
        SignIn::Throttled(wait) => {
            let why = format!(
                "Too many wrong passwords. Try again in {}.",
                throttle::minutes_text(wait)
            );
            return refused(Some(why), None).await;
        }
    }
    // Setting the password bumped the epoch, ending every session; keep this one.
    session::keep_after_epoch_bump(&me.session, me.user.session_epoch + 1).await?;
    notify(
        &me.session,
        "Your password was changed. Any other place you were signed in has been signed out.",
    )
    .await?;
    Ok(Redirect::to("/").into_response())
}
