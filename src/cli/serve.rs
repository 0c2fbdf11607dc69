//! `callerdesk serve` (the default): the web app until Ctrl-C or SIGTERM.

use super::{CliError, Said, init_logging};
use crate::{
    clock::Clock,
    config::{ServeArgs, Settings},
    startup::{Application, shutdown_signal},
};

/// Serves until a shutdown signal; prints the address and, while no user exists, the
/// one-time setup link.
pub async fn serve(args: ServeArgs) -> Result<Said, CliError> {
    let settings = Settings::from_args(&args)?;
    init_logging("info,sqlx=warn,tower_http=info");
    let sandbox = settings.is_sandbox();
    let sign_in = settings.sign_in.clone();
    let app = Application::build(settings, Clock::system())
        .await
        .map_err(|e| e.to_string())?;
    // Printed, not logged: the setup link carries a one-time secret.
    println!("callerdesk is running at {}", app.url());
    if sandbox {
        println!("Sandbox mode: no Plivo credentials are set, so no real messages are sent.");
    }
    if let Some(oidc) = &sign_in.oidc {
        println!(
            "Single sign-on: \"Sign in with {}\" through {}. Register {} as the redirect URI there.",
            oidc.name, oidc.issuer, oidc.redirect_url
        );
        if !sign_in.password_signin {
            println!("Password sign-in is off except for break-glass accounts.");
        }
    }
    if let Some(setup) = app.setup_url() {
        println!("No users yet. Open this link to create the first admin account (it works once):");
        println!("  {setup}");
    }
    app.run_until(shutdown_signal())
        .await
        .map_err(|e| format!("the server stopped: {e}."))?;
    Ok(Said::Nothing)
}
