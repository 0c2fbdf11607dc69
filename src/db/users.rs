//! Staff accounts.

use sqlx::{FromRow, SqliteConnection, SqlitePool};

use super::Timestamp;
use crate::domain::{Role, Username};

/// A row of `users`, without the password hash.
#[derive(Debug, Clone, FromRow)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    pub must_change_password: bool,
    pub session_epoch: i64,
    pub created_at: Timestamp,
    pub last_sign_in_at: Option<Timestamp>,
    /// Whether the account signs in with a second step (an authenticator app, confirmed).
    pub two_step: bool,
    /// The provider's id for the person (`sub`), once linked to single sign-on.
    pub oidc_subject: Option<String>,
    /// Created at a first single sign-on, from the person's groups.
    pub provisioned: bool,
    /// May sign in with a password when password sign-in is off.
    pub break_glass: bool,
}

impl User {
    pub fn role(&self) -> Role {
        self.role
    }
}

const COLUMNS: &str = "id, username, role, disabled, must_change_password, session_epoch, \
                       created_at, last_sign_in_at, oidc_subject, provisioned, break_glass, \
                       EXISTS (SELECT 1 FROM two_step t \
                               WHERE t.user_id = users.id AND t.confirmed_at IS NOT NULL) \
                       AS two_step";

/// How many users exist (disabled ones included).
pub async fn count(conn: impl sqlx::SqliteExecutor<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(conn)
        .await
}

pub async fn by_id(conn: impl sqlx::SqliteExecutor<'_>, id: i64) -> sqlx::Result<Option<User>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE id = ?"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

pub async fn by_name(
    conn: impl sqlx::SqliteExecutor<'_>,
    name: &str,
) -> sqlx::Result<Option<User>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE username = ?"))
        .bind(name)
        .fetch_optional(conn)
        .await
}

/// The stored hash of a user's password.
pub async fn password_hash(pool: &SqlitePool, id: i64) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT password_hash FROM users WHERE id = ?")
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// Every user, by name.
pub async fn list(db: impl sqlx::SqliteExecutor<'_>) -> sqlx::Result<Vec<User>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM users ORDER BY username COLLATE NOCASE"
    ))
    .fetch_all(db)
    .await
}

/// Adds a user; `Ok(None)` when the name is taken.
pub async fn insert(
    conn: &mut SqliteConnection,
    username: &Username,
    password_hash: &str,
    role: Role,
    must_change_password: bool,
    now: Timestamp,
) -> sqlx::Result<Option<i64>> {
    let result = sqlx::query(
        "INSERT INTO users (username, password_hash, role, must_change_password, created_at)
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(username.as_str())
    .bind(password_hash)
    .bind(role)
    .bind(must_change_password)
    .bind(now)
    .execute(conn)
    .await;
    match result {
        Ok(done) => Ok(Some(done.last_insert_rowid())),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Sets a password and ends the user's sessions.
pub async fn set_password(
    conn: &mut SqliteConnection,
    id: i64,
    password_hash: &str,
    must_change_password: bool,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE users SET password_hash = ?, must_change_password = ?,
                          session_epoch = session_epoch + 1
         WHERE id = ?",
    )
    .bind(password_hash)
    .bind(must_change_password)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Stores a new hash of the same password (made with today's parameters): nothing else about
/// the account, its sessions included, changes.
pub async fn upgrade_password_hash(
    conn: &mut SqliteConnection,
    id: i64,
    password_hash: &str,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
        .bind(password_hash)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn set_role(conn: &mut SqliteConnection, id: i64, role: Role) -> sqlx::Result<()> {
    sqlx::query("UPDATE users SET role = ? WHERE id = ?")
        .bind(role)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Disables (ending their sessions) or enables a user.
pub async fn set_disabled(
    conn: &mut SqliteConnection,
    id: i64,
    disabled: bool,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE users SET disabled = ?,
                          session_epoch = session_epoch + CASE WHEN ? THEN 1 ELSE 0 END
         WHERE id = ?",
    )
    .bind(disabled)
    .bind(disabled)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn record_sign_in(
    conn: &mut SqliteConnection,
    id: i64,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE users SET last_sign_in_at = ? WHERE id = ?")
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The account linked to `subject` at `issuer`.
pub async fn by_subject(
    conn: impl sqlx::SqliteExecutor<'_>,
    issuer: &str,
    subject: &str,
) -> sqlx::Result<Option<User>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM users WHERE oidc_issuer = ? AND oidc_subject = ?"
    ))
    .bind(issuer)
    .bind(subject)
    .fetch_optional(conn)
    .await
}

/// Links an account to `subject` at `issuer` (single sign-on).
pub async fn link(
    conn: &mut SqliteConnection,
    id: i64,
    issuer: &str,
    subject: &str,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE users SET oidc_issuer = ?, oidc_subject = ? WHERE id = ?")
        .bind(issuer)
        .bind(subject)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Marks an account as created by single sign-on (it follows its groups).
pub async fn set_provisioned(conn: &mut SqliteConnection, id: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE users SET provisioned = 1 WHERE id = ?")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Marks an account as break-glass (it may sign in with a password when password sign-in
/// is off).
pub async fn set_break_glass(conn: &mut SqliteConnection, id: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE users SET break_glass = 1 WHERE id = ?")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Active (not disabled) admins, read inside the writer's transaction so the last-admin rule
/// can't race.
pub async fn active_admins(conn: &mut SqliteConnection) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0")
        .fetch_one(conn)
        .await
}
