//! The home page (`/`). It will hold the caller ID list; until that exists it greets the person
//! and says what their role lets them do.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;

use crate::{
    domain::{Permission, Role},
    error::AppError,
    web::{
        extract::CurrentUser,
        layout::{Chrome, Nav},
        state::AppState,
    },
};

#[derive(Template, WebTemplate)]
#[template(path = "home/page.html")]
pub struct HomePage {
    chrome: Chrome,
    role: Role,
    can_manage_users: bool,
}

/// `GET /`
pub async fn show(State(state): State<AppState>, me: CurrentUser) -> Result<HomePage, AppError> {
    me.require(Permission::ViewCallerIds)?;
    Ok(HomePage {
        chrome: Chrome::for_user(&state, &me, Nav::CallerIds).await?,
        role: me.role(),
        can_manage_users: me.role().can(Permission::ManageUsers),
    })
}
