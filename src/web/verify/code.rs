//! The code page: entering the code, sending a new one, cancelling.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;

use crate::{
    db::verifications::{self, Verification},
    domain::{Permission, VerificationStatus},
    plivo::Channel,
    verify::{CodeOutcome, MAX_WRONG_CODES, ResendOutcome},
    web::error::AppError,
    web::{
        extract::{ClientMeta, CurrentUser},
        format::When,
        htmx::Htmx,
        layout::{Chrome, Nav},
        session::{notify, warn},
        state::AppState,
    },
};

use super::person;

/// The code page's view of a verification.
#[derive(Template, WebTemplate)]
#[template(path = "verify/code.html")]
pub struct CodePage {
    chrome: Chrome,
    v: Verification,
    number_display: String,
    digits: String,
    channel_label: &'static str,
    started: Option<When>,
    expires: Option<When>,
    /// Seconds left, for the countdown script.
    seconds_left: i64,
    attempts_left: i64,
    can_act: bool,
    sandbox_code: Option<String>,
    code_error: Option<String>,
    message: Option<String>,
    restart_query: String,
    /// Whether Plivo confirmed sending a code.
    code_sent: bool,
    /// Seconds until a new code may be sent (0: now), for the button's countdown.
    resend_wait: i64,
    /// When a new code may be sent, in words, while that is still to come.
    resend_at: Option<String>,
}

async fn code_page(
    state: &AppState,
    me: &CurrentUser,
    v: Verification,
    code_error: Option<String>,
    message: Option<String>,
) -> Result<CodePage, AppError> {
    let now = state.clock.now();
    let expires_at = v.expires_at.time();
    let sandbox_code = match (&state.sandbox, &v.plivo_uuid) {
        (Some(sandbox), Some(uuid)) if v.status.is_pending() => sandbox.code_for(uuid),
        _ => None,
    };
    let restart_query = restart_query(&v);
    let cooldown = time::Duration::try_from(state.verifier.limits.resend_cooldown)
        .unwrap_or(time::Duration::MINUTE);
    let resend_from = v.last_sent_at.map(|at| at.time() + cooldown);
    // Rounded up: a button that enables itself a moment early meets a refusal.
    let resend_wait = resend_from.map_or(0, |at| {
        let ms = u128::try_from((at - now).whole_milliseconds()).unwrap_or(0);
        i64::try_from(ms.div_ceil(1000)).unwrap_or(0)
    });
    Ok(CodePage {
        code_sent: v.plivo_uuid.is_some(),
        resend_wait,
        resend_at: resend_from
            .filter(|_| resend_wait > 0)
            .map(crate::web::format::exact_seconds),
        chrome: Chrome::for_user(state, me, Nav::Verify).await?,
        number_display: v.phone_number.international(),
        digits: v.phone_number.digits().to_owned(),
        channel_label: v.channel.label(),
        started: Some(When::of(now, v.started_at)),
        expires: Some(When::from_time(now, expires_at)),
        seconds_left: (expires_at - now).whole_seconds().max(0),
        attempts_left: MAX_WRONG_CODES - v.wrong_attempts,
        can_act: me.role().can(Permission::Verify),
        sandbox_code,
        code_error,
        message,
        restart_query,
        v,
    })
}

/// The "Verify a number" form's query that fills in what this verification was started with.
fn restart_query(v: &Verification) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("number", v.phone_number.as_str());
    q.append_pair("alias", &v.alias);
    q.append_pair("channel", v.channel.as_str());
    q.append_pair("subaccount", &v.subaccount);
    q.finish()
}

async fn load(state: &AppState, id: &str) -> Result<Verification, AppError> {
    let id: String = id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(40)
        .collect();
    verifications::by_id(&state.db.reader, &id)
        .await?
        .ok_or(AppError::NotFound)
}

/// `GET /verify/{id}`
pub async fn show(
    State(state): State<AppState>,
    me: CurrentUser,
    Path(id): Path<String>,
) -> Result<CodePage, AppError> {
    me.require(Permission::ViewCallerIds)?;
    let mut v = load(&state, &id).await?;
    // Past its expiry but not yet marked (that runs every 30 s): mark it now, so the page
    // offers only "Start again", never a code box that can no longer work.
    if v.status.is_pending() && v.expires_at.time() <= state.clock.now() {
        state.verifier.expire_overdue().await?;
        v = load(&state, &id).await?;
    }
    code_page(&state, &me, v, None, None).await
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

/// What was typed as a code: 4 to 8 digits once spaces and dashes are gone.
fn parse_code(raw: &str) -> Result<String, &'static str> {
    let code: String = raw
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if code.is_empty() {
        Err("Type the code the phone received.")
    } else if !code.chars().all(|c| c.is_ascii_digit()) {
        Err("The code is made of digits only.")
    } else if !(4..=8).contains(&code.len()) {
        Err("The code has 4 to 8 digits. Check it and type it again.")
    } else {
        Ok(code)
    }
}

/// `POST /verify/{id}/code`
pub async fn submit_code(
    State(state): State<AppState>,
    me: CurrentUser,
    ClientMeta(meta): ClientMeta,
    Path(id): Path<String>,
    htmx: Htmx,
    Form(form): Form<CodeForm>,
) -> Result<Response, AppError> {
    me.require(Permission::Verify)?;
    let v = load(&state, &id).await?;
    let code = match parse_code(&form.code) {
        Ok(code) => code,
        Err(why) => {
            let page = code_page(&state, &me, v, Some(why.into()), None).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    let outcome = state
        .verifier
        .submit_code(&person(&me, meta), &v.id, &code)
        .await?;
    let (status, code_error, message) = match outcome {
        CodeOutcome::Verified => {
            if !htmx.request {
                return Ok(Redirect::to(&format!("/verify/{}", v.id)).into_response());
            }
            (StatusCode::OK, None, None)
        }
        CodeOutcome::WrongCode { attempts_left } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(format!(
                "That code is not right. Check it against the message and try again: {attempts_left} {} left.",
                if attempts_left == 1 { "try" } else { "tries" }
            )),
            None,
        ),
        CodeOutcome::VerifiedAfterEnd { status } => (
            StatusCode::OK,
            None,
            Some(format!(
                "Plivo accepted the code, so the number is now a verified caller ID. This verification had already ended ({}) while the code was being checked; the audit log records both.",
                if status.is_some_and(VerificationStatus::is_cancelled) {
                    "someone cancelled it"
                } else {
                    "it ran out of time"
                }
            )),
        ),
        CodeOutcome::Busy => (
            StatusCode::CONFLICT,
            None,
            Some("Another code for this verification is being checked right now. Wait a moment, then look at the page again.".into()),
        ),
        CodeOutcome::Locked => (StatusCode::OK, None, None),
        CodeOutcome::Expired => (StatusCode::OK, None, Some("Too late: this verification expired, so the code was not checked.".into())),
        CodeOutcome::NotPending => (StatusCode::OK, None, Some("This verification is no longer waiting for a code.".into())),
        CodeOutcome::NotSent => (
            StatusCode::OK,
            None,
            Some("Plivo has not confirmed sending a code for this verification, so there is nothing to check. Send a new code.".into()),
        ),
        CodeOutcome::PlivoFailed(message) => (StatusCode::OK, None, Some(format!("The code was not checked. {message}"))),
        CodeOutcome::PlivoRefusedCode(words) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(format!(
                "Plivo refused the code: “{words}”. This did not use up a try. Check the code and enter it again, or send a new one."
            )),
            None,
        ),
    };
    let v = load(&state, &v.id).await?;
    Ok((
        status,
        code_page(&state, &me, v, code_error, message).await?,
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct ResendForm {
    #[serde(default)]
    channel: String,
}

/// `POST /verify/{id}/resend`
pub async fn resend(
    State(state): State<AppState>,
    me: CurrentUser,
    ClientMeta(meta): ClientMeta,
    Path(id): Path<String>,
    Form(form): Form<ResendForm>,
) -> Result<Response, AppError> {
    me.require(Permission::Verify)?;
    let v = load(&state, &id).await?;
    let channel = Channel::parse(&form.channel).unwrap_or(Channel::Sms);
    match state
        .verifier
        .resend(&person(&me, meta), &v.id, channel)
        .await?
    {
        ResendOutcome::Sent => {
            notify(
                &me.session,
                format!(
                    "A new code is on its way by {}. The earlier code no longer works.",
                    channel.label()
                ),
            )
            .await?;
        }
        // Nothing was sent: said as a warning, not as news.
        ResendOutcome::Limited(limited) => warn(&me.session, limited.message()).await?,
        ResendOutcome::NotPending => {
            warn(
                &me.session,
                "No new code was sent: this verification is no longer waiting for a code.",
            )
            .await?;
        }
        ResendOutcome::PlivoFailed(message) => {
            warn(&me.session, format!("No new code was sent. {message}")).await?;
        }
    }
    Ok(Redirect::to(&format!("/verify/{}", v.id)).into_response())
}

#[derive(Deserialize)]
pub struct CancelForm {
    /// `edit`: "Wrong number?": back to the form, filled in, to correct it.
    #[serde(default)]
    then: String,
}

/// `POST /verify/{id}/cancel`
pub async fn cancel(
    State(state): State<AppState>,
    me: CurrentUser,
    ClientMeta(meta): ClientMeta,
    Path(id): Path<String>,
    Form(form): Form<CancelForm>,
) -> Result<Response, AppError> {
    me.require(Permission::Verify)?;
    let v = load(&state, &id).await?;
    let cancelled = state.verifier.cancel(&person(&me, meta), &v.id).await?;
    let number = v.phone_number.international();
    if form.then == "edit" {
        notify(
            &me.session,
            if cancelled {
                format!("The verification of {number} was cancelled. Correct the number below and send a new code.")
            } else {
                "That verification had already ended. Check the number below and send a new code.".to_owned()
            },
        )
        .await?;
        return Ok(Redirect::to(&format!("/verify?{}", restart_query(&v))).into_response());
    }
    notify(
        &me.session,
        if cancelled {
            format!("The verification of {number} was cancelled. A code already sent will not work here.")
        } else {
            "This verification had already ended.".to_owned()
        },
    )
    .await?;
    Ok(Redirect::to("/").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_4_to_8_digits_with_spaces_forgiven() {
        assert_eq!(parse_code(" 123 456 ").as_deref(), Ok("123456"));
        assert_eq!(parse_code("12-34").as_deref(), Ok("1234"));
        assert!(parse_code("").is_err());
        assert!(parse_code("123").is_err());
        assert!(parse_code("123456789").is_err());
        assert!(parse_code("12a456").is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_typed_code_is_accepted_as_digits_or_refused_in_words(raw in "\\PC{0,40}|[0-9 \\-]{0,20}") {
            match parse_code(&raw) {
                Ok(code) => proptest::prop_assert!(
                    (4..=8).contains(&code.len()) && code.chars().all(|c| c.is_ascii_digit())
                ),
                Err(why) => proptest::prop_assert!(why.ends_with('.')),
            }
        }
    }
}
