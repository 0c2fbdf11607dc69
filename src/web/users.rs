//! The users page (admins): list, add, change role, reset password, disable and enable.

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
    accounts::AccountError,
    audit::{RequestMeta, Who},
    db::users::{self, User},
    domain::{Password, Permission, Role, Username},
    web::error::AppError,
    web::{
        extract::{ClientMeta, CurrentUser},
        format::When,
        layout::{Chrome, Nav},
        session::notify,
        state::AppState,
    },
};

#[derive(Template, WebTemplate)]
#[template(path = "users/page.html")]
struct UsersPage {
    chrome: Chrome,
    users: Vec<User>,
    me: i64,
    now: time::OffsetDateTime,
    roles: [Role; 3],
    form: AddForm,
    username_error: Option<String>,
    password_error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct AddForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
}

impl UsersPage {
    /// A stored time as "3 minutes ago", with the exact time for a tooltip.
    fn when(&self, at: &crate::db::Timestamp) -> When {
        When::of(self.now, *at)
    }
}

async fn page(
    state: &AppState,
    me: &CurrentUser,
    form: AddForm,
    username_error: Option<String>,
    password_error: Option<String>,
) -> Result<UsersPage, AppError> {
    Ok(UsersPage {
        chrome: Chrome::for_user(state, me, Nav::Users).await?,
        users: users::list(&state.db.reader).await?,
        me: me.user.id,
        now: state.clock.now(),
        roles: Role::ALL,
        form,
        username_error,
        password_error,
    })
}

/// `GET /users`
pub async fn list(State(state): State<AppState>, me: CurrentUser) -> Result<Response, AppError> {
    me.require(Permission::ManageUsers)?;
    Ok(page(&state, &me, AddForm::default(), None, None)
        .await?
        .into_response())
}

/// `POST /users`: adds a user with a temporary password, to be changed at first sign-in.
pub async fn add(
    State(state): State<AppState>,
    me: CurrentUser,
    ClientMeta(meta): ClientMeta,
    Form(form): Form<AddForm>,
) -> Result<Response, AppError> {
    me.require(Permission::ManageUsers)?;
    let role: Role = form
        .role
        .parse()
        .map_err(|e: crate::domain::UnknownRole| AppError::BadRequest(e.to_string()))?;
    let (username, password) = match (
        Username::parse(&form.username),
        Password::parse(&form.password),
    ) {
        (Ok(u), Ok(p)) => (u, p),
        (u, p) => {
            let u = u.err().map(|e| e.to_string());
            let p = p.err().map(|e| e.to_string());
            let page = page(
                &state,
                &me,
                AddForm {
                    password: String::new(),
                    ..form
                },
                u,
                p,
            )
            .await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
    };
    match state
        .accounts
        .create(&who(&me, meta), &username, &password, role, true)
        .await
    {
        Ok(_) => {}
        Err(taken @ AccountError::NameTaken(_)) => {
            let form = AddForm {
                password: String::new(),
                ..form
            };
            let page = page(&state, &me, form, Some(taken.to_string()), None).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
        Err(e) => return Err(e.into()),
    }
    notify(
        &me.session,
        format!(
            "{username} was added as {role}. Give them the temporary password; they will choose their own when they first sign in."
        ),
    )
    .await?;
    Ok(Redirect::to("/users").into_response())
}

/// The signed-in admin, as the account use cases record them.
fn who(me: &CurrentUser, meta: RequestMeta) -> Who {
    Who::new(me.actor(), meta)
}

/// Back to the users page with `text` as the notice: what was done, or why not.
async fn done(me: &CurrentUser, text: String) -> Result<Response, AppError> {
    notify(&me.session, text).await?;
    Ok(Redirect::to("/users").into_response())
}

/// A refusal in words goes back to the page as its notice; anything else is an error.
async fn refused(me: &CurrentUser, e: AccountError) -> Result<Response, AppError> {
    match e {
        AccountError::Database(_) | AccountError::Hash(_) | AccountError::NoSuchUser => {
            Err(e.into())
        }
        refusal => done(me, refusal.to_string()).await,
    }
}

#[derive(Debug, Deserialize)]
pub struct RoleForm {
    role: String,
}

/// `POST /users/{id}/role`
pub async fn change_role(
    State(state): State<AppState>,
    me: CurrentUser,
    ClientMeta(meta): ClientMeta,
    Path(id): Path<i64>,
    Form(form): Form<RoleForm>,
) -> Result<Response, AppError> {
    me.require(Permission::ManageUsers)?;
    let role: Role = form
        .role
        .parse()
        .map_err(|e: crate::domain::UnknownRole| AppError::BadRequest(e.to_string()))?;
    match state.accounts.change_role(&who(&me, meta), id, role).await {
        Ok(user) => done(&me, format!("{} is now {role}.", user.username)).await,
        Err(e) => refused(&me, e).await,
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    password: String,
}

/// `POST /users/{id}/password`: sets a temporary password and ends the user's sessions.
pub async fn reset_password(
    State(state): State<AppState>,
    me: CurrentUser,
    ClientMeta(meta): ClientMeta,
    Path(id): Path<i64>,
    Form(form): Form<PasswordForm>,
) -> Result<Response, AppError> {
    me.require(Permission::ManageUsers)?;
    let password = match Password::parse(&form.password) {
        Ok(p) => p,
        Err(e) => return done(&me, format!("The password was not reset. {e}")).await,
    };
    match state
        .accounts
        .reset_password(&who(&me, meta), id, &password, true)
        .await
    {
        Ok(user) => {
            done(
                &me,
                format!(
                    "{}'s password was reset and they were signed out everywhere. They will choose a new password when they next sign in.",
                    user.username
                ),
            )
            .await
        }
        Err(e) => refused(&me, e).await,
    }
}

/// `POST /users/{id}/disable`: the user can't sign in and their sessions end.
pub async fn disable(
    State(state): State<AppState>,
    me: CurrentUser,
    ClientMeta(meta): ClientMeta,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    set_disabled(&state, &me, meta, id, true).await
}

/// `POST /users/{id}/two-step/reset`: someone lost their phone and recovery codes.
pub async fn reset_two_step(
    State(state): State<AppState>,
    me: CurrentUser,
    ClientMeta(meta): ClientMeta,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    me.require(Permission::ManageUsers)?;
    match state.accounts.reset_two_step(&who(&me, meta), id).await {
        Ok(user) => {
            done(
                &me,
                format!(
                    "{}'s two-step sign-in was reset: they sign in with their password alone until they set up their app again.",
                    user.username
                ),
            )
            .await
        }
        Err(e) => refused(&me, e).await,
    }
}

/// `POST /users/{id}/enable`
pub async fn enable(
    State(state): State<AppState>,
    me: CurrentUser,
    ClientMeta(meta): ClientMeta,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    set_disabled(&state, &me, meta, id, false).await
}

async fn set_disabled(
    state: &AppState,
    me: &CurrentUser,
    meta: RequestMeta,
    id: i64,
    disabled: bool,
) -> Result<Response, AppError> {
    me.require(Permission::ManageUsers)?;
    match state
        .accounts
        .set_disabled(&who(me, meta), id, disabled)
        .await
    {
        Ok(user) if disabled => {
            let text = format!("{} was disabled and signed out everywhere.", user.username);
            done(me, text).await
        }
        Ok(user) => done(me, format!("{} can sign in again.", user.username)).await,
        Err(e) => refused(me, e).await,
    }
}
