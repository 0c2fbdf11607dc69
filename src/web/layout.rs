//! What the base layout needs on every page: the signed-in person, the sandbox banner, the
//! CSRF token, a notice left by the previous request, and the asset URLs.

use tower_sessions::Session;

use crate::{
    domain::Permission,
    web::error::AppError,
    web::{
        assets::{AssetUrls, URLS},
        csrf::FormToken,
        extract::CurrentUser,
        session,
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

impl ChromeUser {
    pub fn of(user: &crate::db::users::User) -> Self {
        let role = user.role();
        Self {
            name: user.username.clone(),
            role: role.label(),
            can_manage_users: role.can(Permission::ManageUsers),
            can_verify: role.can(Permission::Verify),
            can_read_audit: role.can(Permission::ReadAudit),
        }
    }
}

/// Who is signed in on a request that ended in an error page, found inside the session layer
/// and handed out to the page's renderer (which runs outside it).
#[derive(Debug, Clone)]
pub struct ErrorChrome {
    pub user: ChromeUser,
    /// The session's form token, for the sign-out button (empty if it has none).
    pub csrf: String,
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
    pub notice: Option<session::Notice>,
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
            csrf: session::csrf_token(&user.session).await?,
            notice: session::take_notice(&user.session).await?,
            nav: Nav::None,
            assets: &URLS,
        };
        chrome.user = Some(ChromeUser::of(&user.user));
        chrome.nav = nav;
        Ok(chrome)
    }

    /// For an error page shown to someone signed in: their name and navigation stay, so the
    /// way on is where it always is.
    pub fn for_error(sandbox: bool, who: ErrorChrome) -> Self {
        Self {
            user: Some(who.user),
            csrf: who.csrf,
            ..Self::bare(sandbox)
        }
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
            notice: session::take_notice(session).await?,
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
