//! What the base layout needs on every page: the signed-in person, the sandbox banner, the
//! CSRF token, a notice left by the previous request, and the asset URLs.

use tower_sessions::Session;

use crate::{
    auth::session::{CSRF, NOTICE, random_token},
    domain::Permission,
    web::error::AppError,
    web::{
        assets::{AssetUrls, URLS},
        csrf::FormToken,
        extract::CurrentUser,
        state::AppState,
    },
};

/// The signed-in person, as the header shows them.
#[derive(Debug, Clone)]
pub struct ChromeUser {
    pub name: String,
    pub role: &'static str,
    pub can_manage_users: bool,
    pub can_verify: bool,
    pub can_read_audit: bool,
}

/// Which navigation entry is the current page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    None,
    CallerIds,
    Verify,
    Audit,
    Users,
    Account,
}

/// The layout's data, a field of every page template.
#[derive(Debug)]
pub struct Chrome {
    pub user: Option<ChromeUser>,
    pub sandbox: bool,
    pub csrf: String,
    pub notice: Option<String>,
    pub nav: Nav,
    pub assets: &'static AssetUrls,
}

impl Chrome {
    /// For a signed-in page.
    pub async fn for_user(
        state: &AppState,
        user: &CurrentUser,
        nav: Nav,
    ) -> Result<Self, AppError> {
        let mut chrome = Self {
            user: None,
            sandbox: state.settings.is_sandbox(),
            csrf: csrf_token(&user.session).await?,
            notice: take_notice(&user.session).await?,
            nav: Nav::None,
            assets: &URLS,
        };
        chrome.user = Some(ChromeUser {
            name: user.user.username.clone(),
            role: user.role().label(),
            can_manage_users: user.role().can(Permission::ManageUsers),
            can_verify: user.role().can(Permission::Verify),
            can_read_audit: user.role().can(Permission::ReadAudit),
        });
        chrome.nav = nav;
        Ok(chrome)
    }

    /// For a page shown to someone not signed in (sign-in, setup): its forms carry the
    /// double-submit token, so showing them writes no session.
    pub async fn anonymous(
        state: &AppState,
        session: &Session,
        form: &FormToken,
    ) -> Result<Self, AppError> {
        Ok(Self {
            user: None,
            sandbox: state.settings.is_sandbox(),
            csrf: form.0.clone(),
            notice: take_notice(session).await?,
            nav: Nav::None,
            assets: &URLS,
        })
    }

    /// For error pages, which are rendered without the session.
    pub fn bare(sandbox: bool) -> Self {
        Self {
            user: None,
            sandbox,
            csrf: String::new(),
            notice: None,
            nav: Nav::None,
            assets: &URLS,
        }
    }

    /// Whether the navigation entry named `name` ("caller-ids", "users", "account") is the
    /// current page (for `aria-current`).
    pub fn is_current(&self, name: &str) -> bool {
        let current = match self.nav {
            Nav::None => "",
            Nav::CallerIds => "caller-ids",
            Nav::Verify => "verify",
            Nav::Audit => "audit",
            Nav::Users => "users",
            Nav::Account => "account",
        };
        current == name
    }
}

/// The session's CSRF token, created on first use.
pub async fn csrf_token(session: &Session) -> Result<String, AppError> {
    if let Some(token) = session.get::<String>(CSRF).await? {
        return Ok(token);
    }
    let token = random_token();
    session.insert(CSRF, &token).await?;
    Ok(token)
}

/// The notice left for this page, if any. Removing marks the session modified, and a modified
/// session is written to the database, so only remove what is there: a page view with no
/// notice writes nothing.
async fn take_notice(session: &Session) -> Result<Option<String>, AppError> {
    if session.get::<String>(NOTICE).await?.is_none() {
        return Ok(None);
    }
    Ok(session.remove::<String>(NOTICE).await?)
}

/// Leaves a notice for the next page ("User alice was created.").
pub async fn notify(session: &Session, text: impl Into<String>) -> Result<(), AppError> {
    session.insert(NOTICE, text.into()).await?;
    Ok(())
}
