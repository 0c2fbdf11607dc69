//! The account page: change your own password, and turn on two-step sign-in (an
//! authenticator app, with recovery codes shown once).

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
    accounts::{AccountError, Confirmed, NewRecoveryCodes, SignIn},
    auth::{throttle, two_step},
    domain::Password,
    web::error::AppError,
    web::{
        extract::{ClientMeta, CurrentUser, must_set_up_two_step},
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
    /// Recovery codes left, when two-step sign-in is on.
    two_step: Option<i64>,
    /// The single sign-on provider this session came through: passwords and second steps are
    /// its business then.
    provider: Option<String>,
    /// Why new recovery codes were not made.
    codes_error: Option<String>,
}

impl AccountPage {
    async fn of(
        state: &AppState,
        me: &CurrentUser,
        current_error: Option<String>,
        new_error: Option<String>,
    ) -> Result<Self, AppError> {
        let two_step = if me.user.two_step {
            Some(state.accounts.recovery_codes_left(&me.user).await?)
        } else {
            None
        };
        Ok(Self {
            chrome: Chrome::for_user(state, me, Nav::Account).await?,
            must_change: me.user.must_change_password,
            current_error,
            new_error,
            two_step,
            provider: me.provider.clone(),
            codes_error: None,
        })
    }
}

/// `GET /account`
pub async fn show(State(state): State<AppState>, me: CurrentUser) -> Result<AccountPage, AppError> {
    AccountPage::of(&state, &me, None, None).await
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
        let page = AccountPage::of(&state, &me, current_error, new_error).await?;
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
        SignIn::Succeeded(_) | SignIn::SecondStepDue(_) => {}
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

#[derive(Template, WebTemplate)]
#[template(path = "account/two_step.html")]
pub struct TwoStepPage {
    chrome: Chrome,
    /// Set up before anything else (`CALLERDESK_REQUIRE_TWO_STEP`).
    required: bool,
    /// While an app is being set up: the QR code (SVG) and the seed as text.
    setup: Option<Setup>,
    error: Option<String>,
}

pub struct Setup {
    qr_svg: String,
    seed_text: String,
}

impl TwoStepPage {
    async fn of(
        state: &AppState,
        me: &CurrentUser,
        error: Option<String>,
    ) -> Result<Self, AppError> {
        let setup = state
            .accounts
            .pending_seed(&me.user)
            .await?
            .and_then(|seed| {
                let address = two_step::setup_address(&seed, &me.user.username)?;
                Some(Setup {
                    qr_svg: two_step::qr_svg(&address)?,
                    seed_text: two_step::seed_text(&seed),
                })
            });
        Ok(Self {
            chrome: Chrome::for_user(state, me, Nav::Account).await?,
            required: must_set_up_two_step(state, &me.user, me.provider.is_some()),
            setup,
            error,
        })
    }
}

/// `GET /account/two-step`: setting up an authenticator app, step by step.
pub async fn two_step_page(
    State(state): State<AppState>,
    me: CurrentUser,
) -> Result<Response, AppError> {
    if me.user.two_step {
        return Ok(Redirect::to("/account").into_response());
    }
    Ok(TwoStepPage::of(&state, &me, None).await?.into_response())
}

/// `POST /account/two-step`: a new seed to scan (replacing one not confirmed).
pub async fn begin_two_step(
    State(state): State<AppState>,
    me: CurrentUser,
) -> Result<Response, AppError> {
    match state.accounts.begin_two_step(&me.user).await {
        Ok(_) => Ok(Redirect::to("/account/two-step").into_response()),
        Err(AccountError::TwoStepAlreadyOn(_)) => Ok(Redirect::to("/account").into_response()),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "account/recovery_codes.html")]
pub struct RecoveryCodesPage {
    chrome: Chrome,
    codes: Vec<String>,
    /// New codes for an app already on (not the first ones).
    replaced: bool,
}

/// `POST /account/two-step/confirm`: the app's current code turns it on; the recovery codes
/// are shown this once.
pub async fn confirm_two_step(
    State(state): State<AppState>,
    me: CurrentUser,
    ClientMeta(meta): ClientMeta,
    Form(form): Form<CodeForm>,
) -> Result<Response, AppError> {
    let code: String = form.code.chars().take(64).collect();
    match state
        .accounts
        .confirm_two_step(&me.user, &code, &meta)
        .await?
    {
        Confirmed::On(codes) => Ok(RecoveryCodesPage {
            chrome: Chrome::for_user(&state, &me, Nav::Account).await?,
            codes,
            replaced: false,
        }
        .into_response()),
        Confirmed::WrongCode => {
            let why = "That code does not match. Type the 6 digits the app shows for callerdesk now (a new code comes every 30 seconds).";
            let page = TwoStepPage::of(&state, &me, Some(why.to_owned())).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Confirmed::NothingToConfirm => Ok(Redirect::to("/account/two-step").into_response()),
    }
}

/// `POST /account/two-step/recovery-codes`: ten new recovery codes, against the app's current
/// code; the old ones stop working.
pub async fn replace_recovery_codes(
    State(state): State<AppState>,
    me: CurrentUser,
    ClientMeta(meta): ClientMeta,
    Form(form): Form<CodeForm>,
) -> Result<Response, AppError> {
    let code: String = form.code.chars().take(64).collect();
    let why = match state
        .accounts
        .replace_recovery_codes(&me.user, &code, &meta)
        .await?
    {
        NewRecoveryCodes::Made(codes) => {
            return Ok(RecoveryCodesPage {
                chrome: Chrome::for_user(&state, &me, Nav::Account).await?,
                codes,
                replaced: true,
            }
            .into_response());
        }
        NewRecoveryCodes::Refused(why) => why.to_owned(),
        NewRecoveryCodes::Throttled(wait) => format!(
            "Too many wrong codes and passwords. Try again in {}.",
            throttle::minutes_text(wait)
        ),
    };
    let mut page = AccountPage::of(&state, &me, None, None).await?;
    page.codes_error = Some(why);
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}
