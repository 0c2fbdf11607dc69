//! `callerdesk sandbox`: the Plivo sandbox on its own.

use super::CliError;
use super::args::SandboxArgs;
use crate::{
    clock::Clock,
    db::Db,
    plivo::{AuthToken, is_auth_id},
    sandbox::{Fault, Faults, Sandbox},
    startup::shutdown_signal,
};

/// `callerdesk sandbox`: serves the Plivo sandbox until Ctrl-C or SIGTERM.
pub async fn sandbox(args: SandboxArgs) -> Result<String, CliError> {
    let listen: std::net::SocketAddr = args.listen.parse().map_err(|_| {
        format!(
            "--listen must be an address and port such as 127.0.0.1:8081, not {:?}.",
            args.listen
        )
    })?;
    if !is_auth_id(&args.auth_id) {
        return Err("--auth-id must be MA or SA followed by 18 capital letters or digits.".into());
    }
    if !(0.0..=1.0).contains(&args.fail_ratio) {
        return Err("--fail-ratio must be between 0 and 1.".into());
    }
    let db = Db::open(&args.database).await.map_err(|e| e.to_string())?;
    let sandbox = Sandbox::new(
        db.clone(),
        Clock::system(),
        args.auth_id.clone(),
        AuthToken::new(args.auth_token.clone()),
    );
    if args.seed > 0 {
        sandbox
            .seed(args.seed)
            .await
            .map_err(|e| format!("Seeding the sandbox failed: {e}."))?;
    }
    sandbox.set_faults(Faults {
        latency_ms: args.latency_ms,
        failure_ratio: args.fail_ratio,
        ratio_fault: Some(Fault::Status {
            status: args.fail_status,
            error: None,
        }),
        rules: Vec::new(),
    });
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("Could not listen on {listen}: {e}."))?;
    let base = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    println!("The Plivo sandbox is listening at {base}/v1/");
    println!("Point callerdesk at it with:");
    println!(
        "  PLIVO_API_BASE={base}/v1/ PLIVO_AUTH_ID={} PLIVO_AUTH_TOKEN={} callerdesk",
        args.auth_id, args.auth_token
    );
    println!("Codes it \"sends\" are listed at {base}/__sandbox/outbox");
    let server = sandbox.spawn(listener);
    shutdown_signal().await;
    server.abort();
    db.close().await;
    Ok("The sandbox stopped.".into())
}
