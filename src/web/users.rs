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
use serde_json::json;
use sqlx::SqliteConnection;

use crate::{
    audit::{self, Action, NewEvent, Outcome, RequestMeta},
    auth::password,
    db::{
        timestamp,
        users::{self, User},
    },
    domain::{Password, Permission, Role, Username},
    web::error::AppError,
    web::{
        extract::{ClientMeta, CurrentUser},
        format::When,
        layout::{Chrome, Nav, notify},
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
    fn when(&self, at: &str) -> Option<When> {
        When::from_stored(self.now, at)
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
    let hash = password::hash(&password).await?;
    let now = state.clock.now();
    let mut tx = state.db.writer.begin().await?;
    let Some(_) = users::insert(&mut tx, &username, &hash, role, true, &timestamp(now)).await?
    else {
        drop(tx);
        let taken = format!("There is already a user called {username}. Choose another name.");
        let form = AddForm {
            password: String::new(),
            ..form
        };
        let page = page(&state, &me, form, Some(taken), None).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    audit::append(
        &mut tx,
        now,
        NewEvent::new(me.actor(), &meta, Action::UserCreated, Outcome::Succeeded)
            .with_details(json!({ "username": username.as_str(), "role": role.as_str() })),
    )
    .await?;
    tx.commit().await?;
    notify(
        &me.session,
        format!(
            "{username} was added as {role}. Give them the temporary password; they will choose their own when they first sign in."
        ),
    )
    .await?;
    Ok(Redirect::to("/users").into_response())
}

/// Loads the user an action is about, inside the writer's transaction.
async fn target(conn: &mut SqliteConnection, id: i64) -> Result<User, AppError> {
    users::by_id(conn, id).await?.ok_or(AppError::NotFound)
}

/// Whether changing `user` would leave no active admin.
async fn is_last_active_admin(conn: &mut SqliteConnection, user: &User) -> Result<bool, AppError> {
    Ok(user.role() == Role::Admin && !user.disabled && users::active_admins(conn).await? <= 1)
}

async fn refuse(me: &CurrentUser, text: String) -> Result<Response, AppError> {
    notify(&me.session, text).await?;
    Ok(Redirect::to("/users").into_response())
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
    let mut tx = state.db.writer.begin().await?;
    let user = target(&mut tx, id).await?;
    if user.role() == role {
        return refuse(&me, format!("{} is already {role}.", user.username)).await;
    }
    if is_last_active_admin(&mut tx, &user).await? {
        return refuse(
            &me,
            format!(
                "{} is the only active admin, so they stay admin. Make someone else admin first.",
                user.username
            ),
        )
        .await;
    }
    users::set_role(&mut tx, id, role).await?;
    append(
        &mut tx,
        &state,
        &me,
        &meta,
        Action::UserRoleChanged,
        json!({
            "username": user.username, "old": user.role().as_str(), "new": role.as_str()
        }),
    )
    .await?;
    tx.commit().await?;
    notify(&me.session, format!("{} is now {role}.", user.username)).await?;
    Ok(Redirect::to("/users").into_response())
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
        Err(e) => return refuse(&me, format!("The password was not reset. {e}")).await,
    };
    let hash = password::hash(&password).await?;
    let mut tx = state.db.writer.begin().await?;
    let user = target(&mut tx, id).await?;
    users::set_password(&mut tx, id, &hash, true).await?;
    append(
        &mut tx,
        &state,
        &me,
        &meta,
        Action::UserPasswordReset,
        json!({ "username": user.username }),
    )
    .await?;
    tx.commit().await?;
    notify(
        &me.session,
        format!(
            "{}'s password was reset and they were signed out everywhere. They will choose a new password when they next sign in.",
            user.username
        ),
    )
    .await?;
    Ok(Redirect::to("/users").into_response())
}

/// `POST /users/{id}/disable`: the user can't sign in and their sessions end.
pub async fn disable(
    State(state): State<AppState>,
    me: CurrentUser,
    ClientMeta(meta): ClientMeta,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    me.require(Permission::ManageUsers)?;
    let mut tx = state.db.writer.begin().await?;
    let user = target(&mut tx, id).await?;
    if user.disabled {
        return refuse(&me, format!("{} is already disabled.", user.username)).await;
    }
    if is_last_active_admin(&mut tx, &user).await? {
        return refuse(
            &me,
            format!(
                "{} is the only active admin and can't be disabled. Make someone else admin first.",
                user.username
            ),
        )
        .await;
    }
    users::set_disabled(&mut tx, id, true).await?;
    append(
        &mut tx,
        &state,
        &me,
        &meta,
        Action::UserDisabled,
        json!({ "username": user.username }),
    )
    .await?;
    tx.commit().await?;
    notify(
        &me.session,
        format!("{} was disabled and signed out everywhere.", user.username),
    )
    .await?;
    Ok(Redirect::to("/users").into_response())
}

/// `POST /users/{id}/enable`
pub async fn enable(
    State(state): State<AppState>,
    me: CurrentUser,
    ClientMeta(meta): ClientMeta,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    me.require(Permission::ManageUsers)?;
    let mut tx = state.db.writer.begin().await?;
    let user = target(&mut tx, id).await?;
    if !user.disabled {
        return refuse(&me, format!("{} is already active.", user.username)).await;
    }
    users::set_disabled(&mut tx, id, false).await?;
    append(
        &mut tx,
        &state,
        &me,
        &meta,
        Action::UserEnabled,
        json!({ "username": user.username }),
    )
    .await?;
    tx.commit().await?;
    notify(&me.session, format!("{} can sign in again.", user.username)).await?;
    Ok(Redirect::to("/users").into_response())
}

async fn append(
    conn: &mut SqliteConnection,
    state: &AppState,
    me: &CurrentUser,
    meta: &RequestMeta,
    action: Action,
    details: serde_json::Value,
) -> Result<(), AppError> {
    audit::append(
        conn,
        state.clock.now(),
        NewEvent::new(me.actor(), meta, action, Outcome::Succeeded).with_details(details),
    )
    .await?;
    Ok(())
}
