//! Signing in and out, and the first-run setup that creates the first admin.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form,
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use tower_sessions::Session;

use crate::{
    accounts::{AccountError, SecondStep, SignIn},
    audit::{Action, NewEvent, Outcome},
    auth::throttle,
    db::users,
    domain::{Password, Username},
    web::error::AppError,
    web::{
        csrf::FormToken,
        extract::{ClientMeta, CurrentUser},
        layout::Chrome,
        session::notify,
        session::{self, SecondStepDue, SignedIn},
        state::AppState,
    },
};

/// The message for an unknown user and a wrong password alike.
const WRONG_CREDENTIALS: &str = "That username and password don't match. Check them and try again.";

#[derive(Template, WebTemplate)]
#[template(path = "auth/login.html")]
pub struct LoginPage {
    chrome: Chrome,
    username: String,
    next: String,
    error: Option<String>,
    first_run: bool,
    /// The single sign-on button's wording, when it is set up.
    sso: Option<String>,
    /// Whether everyone may sign in with a password (else: break-glass accounts only).
    passwords: bool,
}

impl LoginPage {
    /// The sign-in page, with `error` when the last try failed.
    pub async fn new(
        state: &AppState,
        session: &Session,
        form_token: &FormToken,
        next: String,
        error: Option<String>,
    ) -> Result<Self, AppError> {
        Ok(Self {
            chrome: Chrome::anonymous(state, session, form_token).await?,
            username: String::new(),
            next,
            error,
            first_run: users::count(&state.db.reader).await? == 0,
            sso: state.sso.as_ref().map(|s| s.name().to_owned()),
            passwords: state.settings.sign_in.password_signin,
        })
    }
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    signed_out: Option<String>,
}

/// Where to go after signing in: `next` when it is a path on this site, else `/`. A path starts
/// with one `/` not followed by `/` or `\\`, and holds no backslash, control character or
/// whitespace, as sent or percent-decoded: browsers read `/\\host`, `//host` and `/<tab>/host` as
/// another site, and a line break can't be put in a header.
pub fn safe_next(next: Option<&str>) -> String {
    fn local(path: &str) -> bool {
        let mut chars = path.chars();
        chars.next() == Some('/')
            && !matches!(chars.next(), Some('/' | '\\'))
            && !path
                .chars()
                .any(|c| c == '\\' || c.is_control() || c.is_whitespace())
    }
    let Some(next) = next else {
        return "/".to_owned();
    };
    // Every layer of percent-encoding must be a local path too (`%2F%2F`, `%252F`).
    let mut layer = std::borrow::Cow::Borrowed(next);
    for _ in 0..4 {
        if !local(&layer) {
            return "/".to_owned();
        }
        let decoded: String = percent_decode(&layer);
        if decoded == *layer {
            return next.to_owned();
        }
        layer = std::borrow::Cow::Owned(decoded);
    }
    "/".to_owned()
}

/// `%XX` sequences decoded, anything undecodable (bad UTF-8) replaced.
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// `GET /login`
pub async fn login_form(
    State(state): State<AppState>,
    session: Session,
    form_token: FormToken,
    Query(query): Query<LoginQuery>,
) -> Result<Response, AppError> {
    if session::signed_in(&session).await?.is_some() {
        return Ok(Redirect::to(&safe_next(query.next.as_deref())).into_response());
    }
    let mut page = LoginPage::new(
        &state,
        &session,
        &form_token,
        safe_next(query.next.as_deref()),
        None,
    )
    .await?;
    if query.signed_out.is_some() {
        let said = match &page.sso {
            Some(name) => format!(
                "You have signed out of callerdesk. You may still be signed in to {name} in this browser."
            ),
            None => "You have signed out.".to_owned(),
        };
        page.chrome.notice = Some(session::Notice::news(said));
    }
    Ok(page.into_response())
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

/// `POST /login`
pub async fn login(
    State(state): State<AppState>,
    session: Session,
    form_token: FormToken,
    ClientMeta(meta): ClientMeta,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    let username: String = form.username.trim().chars().take(64).collect();
    let next = safe_next(form.next.as_deref());
    let user = match state
        .accounts
        .sign_in(&username, form.password, &meta)
        .await?
    {
        SignIn::Succeeded(user) => user,
        SignIn::SecondStepDue(user) => {
            session::await_second_step(
                &session,
                SecondStepDue {
                    user_id: user.id,
                    epoch: user.session_epoch,
                    since: state.clock.now().unix_timestamp(),
                    next,
                },
            )
            .await?;
            return Ok(Redirect::to("/login/two-step").into_response());
        }
        SignIn::Refused => {
            let message = match &state.sso {
                Some(sso) if !state.settings.sign_in.password_signin => format!(
                    "That name and password don't match a break-glass account. Everyone else signs in with {}.",
                    sso.name()
                ),
                _ => WRONG_CREDENTIALS.to_owned(),
            };
            return login_refused(&state, &session, &form_token, username, next, message).await;
        }
        SignIn::Throttled(wait) => {
            let message = format!(
                "Too many failed sign-ins. Try again in {}.",
                throttle::minutes_text(wait)
            );
            return login_refused(&state, &session, &form_token, username, next, message).await;
        }
    };
    let now = state.clock.now();

    session::sign_in(&session, SignedIn::of(&user, now.unix_timestamp(), None)).await?;
    if user.must_change_password {
        // The account page itself says why they are there.
        return Ok(Redirect::to("/account").into_response());
    }
    Ok(Redirect::to(&next).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "auth/two_step.html")]
struct SecondStepPage {
    chrome: Chrome,
    error: Option<String>,
}

/// `GET /login/two-step`: the code from the authenticator app, after the right password.
pub async fn second_step_form(
    State(state): State<AppState>,
    session: Session,
    form_token: FormToken,
) -> Result<Response, AppError> {
    let now = state.clock.now().unix_timestamp();
    if session::second_step_due(&session, now).await?.is_none() {
        return Ok(Redirect::to("/login").into_response());
    }
    Ok(SecondStepPage {
        chrome: Chrome::anonymous(&state, &session, &form_token).await?,
        error: None,
    }
    .into_response())
}

#[derive(Deserialize)]
pub struct SecondStepForm {
    #[serde(default)]
    code: String,
}

/// `POST /login/two-step`
pub async fn second_step(
    State(state): State<AppState>,
    session: Session,
    form_token: FormToken,
    ClientMeta(meta): ClientMeta,
    Form(form): Form<SecondStepForm>,
) -> Result<Response, AppError> {
    let now = state.clock.now().unix_timestamp();
    let Some(due) = session::second_step_due(&session, now).await? else {
        session::forget_second_step(&session).await?;
        let why = "That sign-in took more than 5 minutes. Sign in again.".to_owned();
        let page = LoginPage::new(&state, &session, &form_token, "/".into(), Some(why)).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    let code: String = form.code.chars().take(64).collect();
    let error = match state
        .accounts
        .second_step(due.user_id, due.epoch, &code, &meta)
        .await?
    {
        SecondStep::Passed(user) => {
            session::forget_second_step(&session).await?;
            session::sign_in(&session, SignedIn::of(&user, now, None)).await?;
            if user.must_change_password {
                return Ok(Redirect::to("/account").into_response());
            }
            return Ok(Redirect::to(&due.next).into_response());
        }
        SecondStep::Refused(why) => why.to_owned(),
        SecondStep::Throttled(wait) => format!(
            "Too many failed sign-ins. Try again in {}.",
            throttle::minutes_text(wait)
        ),
    };
    let page = SecondStepPage {
        chrome: Chrome::anonymous(&state, &session, &form_token).await?,
        error: Some(error),
    };
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

/// The sign-in page again, with the name typed and why it failed.
async fn login_refused(
    state: &AppState,
    session: &Session,
    form_token: &FormToken,
    username: String,
    next: String,
    error: String,
) -> Result<Response, AppError> {
    let mut page = LoginPage::new(state, session, form_token, next, Some(error)).await?;
    page.username = username;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

/// `POST /logout`
pub async fn logout(
    State(state): State<AppState>,
    user: CurrentUser,
    ClientMeta(meta): ClientMeta,
) -> Result<Response, AppError> {
    let mut event = NewEvent::new(user.actor(), &meta, Action::SignOut, Outcome::Succeeded);
    if let Some(provider) = &user.provider {
        event = event.with_details(serde_json::json!({
            "provider": provider,
            "subject": user.user.oidc_subject,
        }));
    }
    state.db.append(state.clock.now(), event).await?;
    session::end(&user.session).await?;
    // The session is gone, so the notice travels in the address.
    Ok(Redirect::to("/login?signed_out=1").into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "auth/setup.html")]
struct SetupPage {
    chrome: Chrome,
    token: String,
    username: String,
    username_error: Option<String>,
    password_error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "auth/setup_closed.html")]
struct SetupClosedPage {
    chrome: Chrome,
}

#[derive(Debug, Deserialize)]
pub struct SetupQuery {
    #[serde(default)]
    token: String,
}

/// `GET /setup?token=…`
pub async fn setup_form(
    State(state): State<AppState>,
    session: Session,
    form_token: FormToken,
    Query(query): Query<SetupQuery>,
) -> Result<Response, AppError> {
    let chrome = Chrome::anonymous(&state, &session, &form_token).await?;
    if !state.setup.accepts(&query.token) {
        return Ok((StatusCode::NOT_FOUND, SetupClosedPage { chrome }).into_response());
    }
    Ok(SetupPage {
        chrome,
        token: query.token,
        username: String::new(),
        username_error: None,
        password_error: None,
    }
    .into_response())
}

#[derive(Deserialize)]
pub struct SetupForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

/// `POST /setup`: creates the first admin and kills the token.
pub async fn setup(
    State(state): State<AppState>,
    session: Session,
    form_token: FormToken,
    ClientMeta(meta): ClientMeta,
    Form(form): Form<SetupForm>,
) -> Result<Response, AppError> {
    if !state.setup.accepts(&form.token) {
        let chrome = Chrome::anonymous(&state, &session, &form_token).await?;
        return Ok((StatusCode::NOT_FOUND, SetupClosedPage { chrome }).into_response());
    }
    let username = Username::parse(&form.username);
    let password = match Password::parse(&form.password) {
        Ok(_) if form.password != form.confirm => {
            Err("The two passwords are different. Type the same password twice.".to_owned())
        }
        other => other.map_err(|e| e.to_string()),
    };
    let (username, password) = match (username, password) {
        (Ok(u), Ok(p)) => (u, p),
        (u, p) => {
            return Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                SetupPage {
                    chrome: Chrome::anonymous(&state, &session, &form_token).await?,
                    token: form.token,
                    username: form.username,
                    username_error: u.err().map(|e| e.to_string()),
                    password_error: p.err(),
                },
            )
                .into_response());
        }
    };
    let user = match state.accounts.set_up(&username, &password, &meta).await {
        Ok(user) => user,
        Err(AccountError::AlreadySetUp) => {
            state.setup.close();
            let chrome = Chrome::anonymous(&state, &session, &form_token).await?;
            return Ok((StatusCode::NOT_FOUND, SetupClosedPage { chrome }).into_response());
        }
        Err(e) => return Err(e.into()),
    };
    state.setup.close();
    tracing::info!("first admin created; the setup link no longer works");
    // The person who just chose the password is the admin: no second sign-in.
    session::sign_in(
        &session,
        SignedIn::of(&user, state.clock.now().unix_timestamp(), None),
    )
    .await?;
    notify(
        &session,
        format!(
            "Welcome, {username}. Your admin account is ready and you are signed in. Start with \"Sync now\" to bring in the caller IDs Plivo already has."
        ),
    )
    .await?;
    Ok(Redirect::to("/").into_response())
}
