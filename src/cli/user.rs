//! `callerdesk user …`: staff accounts from the server's shell, through the same use cases as
//! the users page (`accounts`).

use std::{io::BufRead, path::Path};

use super::{CliError, args::UserCommand, open_existing};
use crate::{
    accounts::{AccountError, Accounts},
    audit::Who,
    clock::Clock,
    db::{Db, users},
    domain::{Password, Role, Username},
};

fn read_password(from_stdin: bool) -> Result<Password, String> {
    let typed = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("Could not read the password from standard input: {e}."))?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        let first = rpassword::prompt_password("New password: ")
            .map_err(|e| format!("Could not read the password: {e}."))?;
        let second = rpassword::prompt_password("Same password again: ")
            .map_err(|e| format!("Could not read the password: {e}."))?;
        if first != second {
            return Err("The two passwords are different; nothing was changed.".into());
        }
        first
    };
    Password::parse(&typed).map_err(|e| e.to_string())
}

pub async fn run(database: &Path, command: UserCommand) -> Result<String, CliError> {
    let db = if matches!(command, UserCommand::Add { .. }) {
        Db::open(database).await?
    } else {
        open_existing(database).await?
    };
    let accounts = Accounts::new(db.clone(), Clock::system());
    let who = Who::command_line();
    let said = |e: AccountError| match e {
        AccountError::NoSuchUser => "There is no user by that name.".to_owned(),
        AccountError::Database(e) => format!("The database could not be updated: {e}."),
        other => other.to_string(),
    };
    let result = match command {
        UserCommand::Add {
            name,
            role,
            password_stdin,
            break_glass,
        } => {
            let username = Username::parse(&name).map_err(|e| e.to_string())?;
            let role = Role::from(role);
            let password = read_password(password_stdin)?;
            accounts
                .create_with(&who, &username, &password, role, false, break_glass)
                .await
                .map(|_| {
                    if break_glass {
                        format!("Added {username} as {role}, a break-glass account: it may sign in with its password even when password sign-in is off.")
                    } else {
                        format!("Added {username} as {role}.")
                    }
                })
                .map_err(said)
        }
        UserCommand::ResetTwoStep { name } => {
            let user = find(&accounts, &name).await?;
            accounts
                .reset_two_step(&who, user.id)
                .await
                .map(|user| {
                    format!(
                        "Removed {}'s authenticator app and recovery codes; they sign in with their password alone until they set up a new one.",
                        user.username
                    )
                })
                .map_err(said)
        }
        UserCommand::Passwd {
            name,
            password_stdin,
        } => {
            let user = find(&accounts, &name).await?;
            let password = read_password(password_stdin)?;
            accounts
                .reset_password(&who, user.id, &password, false)
                .await
                .map(|user| {
                    format!(
                        "Set a new password for {}; their sessions have ended.",
                        user.username
                    )
                })
                .map_err(said)
        }
        UserCommand::Disable { name } => {
            let user = find(&accounts, &name).await?;
            accounts
                .set_disabled(&who, user.id, true)
                .await
                .map(|user| format!("Disabled {}; their sessions have ended.", user.username))
                .map_err(said)
        }
        UserCommand::Enable { name } => {
            let user = find(&accounts, &name).await?;
            accounts
                .set_disabled(&who, user.id, false)
                .await
                .map(|user| format!("Enabled {}.", user.username))
                .map_err(said)
        }
        UserCommand::List => {
            let all = users::list(&db.reader)
                .await
                .map_err(|e| format!("The database could not be read: {e}."))?;
            if all.is_empty() {
                return Ok("No users yet.".into());
            }
            let mut out = format!(
                "{:<24} {:<9} {:<9} {}",
                "NAME", "ROLE", "STATUS", "LAST SIGN-IN"
            );
            for u in all {
                out.push_str(&format!(
                    "\n{:<24} {:<9} {:<9} {}",
                    u.username,
                    u.role().as_str(),
                    if u.disabled { "disabled" } else { "active" },
                    u.last_sign_in_at
                        .map_or_else(|| "never".to_owned(), |t| t.to_string())
                ));
            }
            Ok(out)
        }
    };
    db.close().await;
    Ok(result?)
}

/// The account called `name`, or a sentence saying there is none.
async fn find(accounts: &Accounts, name: &str) -> Result<crate::db::users::User, String> {
    accounts.by_name(name).await.map_err(|e| match e {
        AccountError::NoSuchUser => format!("There is no user called {name}."),
        other => format!("The database could not be read: {other}."),
    })
}
