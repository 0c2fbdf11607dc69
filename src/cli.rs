//! The subcommands: `serve` (the default), `user …` and `audit verify`. Each prints plain
//! sentences and exits non-zero on failure.

use std::{io::BufRead, path::Path, process::ExitCode};
use tracing_subscriber::EnvFilter;

use crate::{
    accounts::{AccountError, Accounts},
    audit::{self, Actor, ChainStatus, Who},
    clock::Clock,
    config::{AuditCommand, Cli, Command, SandboxArgs, ServeArgs, Settings, UserCommand},
    db::{Db, timestamp, users},
    domain::{Password, Role, Username},
    plivo::{AuthToken, is_auth_id},
    startup::{Application, shutdown_signal},
};

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        None => match ServeArgs::from_env() {
            Ok(args) => serve(args).await,
            Err(e) => {
                eprintln!("callerdesk: {e}");
                ExitCode::from(2)
            }
        },
        Some(Command::Serve(args)) => serve(*args).await,
        Some(Command::User { database, command }) => {
            init_logging("warn,sqlx=error");
            finish(user(&database.database, command).await)
        }
        Some(Command::Sync(args)) => {
            init_logging("warn,sqlx=error");
            sync(*args).await
        }
        Some(Command::Backup { database, path }) => {
            init_logging("warn,sqlx=error");
            finish(backup(&database.database, &path).await)
        }
        Some(Command::Generate {
            database,
            audit_events,
            sandbox_caller_ids,
            measure_append,
            writers,
        }) => {
            init_logging("warn,sqlx=error");
            let mut said = generate(&database.database, audit_events, sandbox_caller_ids).await;
            if measure_append > 0 {
                said = match said {
                    Ok(_) => measure(&database.database, measure_append, writers).await,
                    failed => failed,
                };
            }
            finish(said)
        }
        Some(Command::Sandbox(args)) => {
            init_logging("info,sqlx=warn");
            finish(sandbox(args).await)
        }
        Some(Command::Audit { database, command }) => {
            init_logging("warn,sqlx=error");
            match command {
                AuditCommand::Verify => audit_verify(&database.database).await,
                AuditCommand::Export {
                    format,
                    since,
                    until,
                } => finish_quietly(audit_export(&database.database, &format, since, until).await),
            }
        }
    }
}

fn init_logging(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn finish(result: Result<String, String>) -> ExitCode {
    match result {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("callerdesk: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Like [`finish`], for commands whose standard output is data: success prints nothing more.
fn finish_quietly(result: Result<String, String>) -> ExitCode {
    match result {
        Ok(message) => {
            eprintln!("{message}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("callerdesk: {message}");
            ExitCode::FAILURE
        }
    }
}

/// A `--since`/`--until` value: a date (UTC midnight; for `until`, the next midnight) or an
/// RFC 3339 time.
fn moment(value: &str, end_of_day: bool) -> Result<time::OffsetDateTime, String> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(value, &Rfc3339) {
        return Ok(t);
    }
    let day = time::Date::parse(
        value,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| {
        format!("{value:?} is not a date like 2026-11-26 or a time like 2026-11-26T14:00:00Z.")
    })?;
    let day = if end_of_day {
        day.next_day().unwrap_or(day)
    } else {
        day
    };
    Ok(day.midnight().assume_utc())
}

/// `callerdesk audit export`: the log to standard output; the export is itself an event.
async fn audit_export(
    database: &Path,
    format: &str,
    since: Option<String>,
    until: Option<String>,
) -> Result<String, String> {
    use crate::audit::{export, query::Filter};
    use tokio::io::AsyncWriteExt;
    let format = export::Format::parse(format).ok_or("--format must be csv or jsonl.")?;
    let filter = Filter {
        since: since.as_deref().map(|s| moment(s, false)).transpose()?,
        until: until.as_deref().map(|s| moment(s, true)).transpose()?,
        ..Filter::default()
    };
    let db = open_existing(database).await?;
    let stdout = std::sync::Arc::new(tokio::sync::Mutex::new(tokio::io::stdout()));
    let exported = export::export_recorded(
        &db,
        &Who::command_line(),
        &Clock::system(),
        &filter,
        format,
        |chunk| {
            let stdout = stdout.clone();
            async move { stdout.lock().await.write_all(&chunk).await.is_ok() }
        },
    )
    .await;
    let _ = stdout.lock().await.flush().await;
    db.close().await;
    let rows = exported.map_err(|e| format!("The audit log could not be exported: {e}."))?;
    Ok(format!("Exported {rows} events."))
}

/// `callerdesk backup PATH`: `VACUUM INTO` from a read-only connection, then checks the copy.
async fn backup(database: &Path, path: &Path) -> Result<String, String> {
    use sqlx::{Connection, sqlite::SqliteConnectOptions};
    if !database.exists() {
        return Err(format!("There is no database at {}.", database.display()));
    }
    if path.exists() {
        return Err(format!(
            "{} already exists; callerdesk never overwrites a file. Choose a new name.",
            path.display()
        ));
    }
    let target = path
        .to_str()
        .ok_or("The backup path must be valid UTF-8.")?;
    let source = SqliteConnectOptions::new()
        .filename(database)
        .read_only(true)
        .busy_timeout(std::time::Duration::from_secs(30));
    let mut conn = sqlx::SqliteConnection::connect_with(&source)
        .await
        .map_err(|e| format!("The database could not be opened: {e}."))?;
    sqlx::query("VACUUM INTO ?")
        .bind(target)
        .execute(&mut conn)
        .await
        .map_err(|e| format!("The copy could not be written: {e}."))?;
    conn.close().await.map_err(|e| e.to_string())?;

    let copy = SqliteConnectOptions::new().filename(path).read_only(true);
    let pool = sqlx::SqlitePool::connect_with(copy)
        .await
        .map_err(|e| format!("The copy was written but could not be opened: {e}."))?;
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&pool)
        .await
        .map_err(|e| format!("The copy could not be checked: {e}."))?;
    let chain = audit::verify_chain(&pool)
        .await
        .map_err(|e| format!("The copy's audit log could not be read: {e}."))?;
    pool.close().await;
    if integrity != "ok" {
        return Err(format!(
            "The copy at {} failed SQLite's integrity check: {integrity}.",
            path.display()
        ));
    }
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    match chain {
        ChainStatus::Intact { events } => Ok(format!(
            "Wrote {} ({:.1} MB): integrity ok, audit chain intact ({events} events).",
            path.display(),
            size as f64 / 1_048_576.0
        )),
        broken => Err(format!(
            "The copy at {} was written, but its audit chain is {broken}.",
            path.display()
        )),
    }
}

/// `callerdesk generate`: made-up data for benchmarks.
async fn generate(
    database: &Path,
    audit_events: u64,
    sandbox_caller_ids: u32,
) -> Result<String, String> {
    let db = Db::open(database).await.map_err(|e| e.to_string())?;
    let now = Clock::system().now();
    if audit_events > 0 {
        crate::audit::sample::generate(
            &db.writer,
            audit_events,
            now,
            time::Duration::milliseconds(50),
        )
        .await
        .map_err(|e| format!("Generating events failed: {e}."))?;
    }
    if sandbox_caller_ids > 0 {
        crate::sandbox::store::seed(&db, sandbox_caller_ids, &timestamp(now))
            .await
            .map_err(|e| format!("Seeding the sandbox failed: {e}."))?;
    }
    db.close().await;
    Ok(format!(
        "Added {audit_events} audit events; the sandbox holds at least {sandbox_caller_ids} caller IDs."
    ))
}

/// The audit append benchmark (`generate --measure-append`).
async fn measure(database: &Path, events: u64, writers: u64) -> Result<String, String> {
    let db = Db::open(database).await.map_err(|e| e.to_string())?;
    let figures =
        crate::audit::sample::measure_append(&db.writer, events, writers, Clock::system().now())
            .await
            .map_err(|e| format!("Appending events failed: {e}."))?;
    db.close().await;
    Ok(figures.to_string())
}

async fn serve(args: ServeArgs) -> ExitCode {
    let settings = match Settings::from_args(&args) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("callerdesk: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging("info,sqlx=warn,tower_http=info");
    let sandbox = settings.is_sandbox();
    let app = match Application::build(settings, Clock::system()).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("callerdesk: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Printed, not logged: the setup link carries a one-time secret.
    println!("callerdesk is running at {}", app.url());
    if sandbox {
        println!("Sandbox mode: no Plivo credentials are set, so no real messages are sent.");
    }
    if let Some(setup) = app.setup_url() {
        println!("No users yet. Open this link to create the first admin account (it works once):");
        println!("  {setup}");
    }
    match app.run_until(shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("callerdesk: the server stopped: {e}.");
            ExitCode::FAILURE
        }
    }
}

/// `callerdesk sync`: one run, its summary printed; exit 1 if it failed or could not start.
async fn sync(args: ServeArgs) -> ExitCode {
    let settings = match Settings::from_args(&args) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("callerdesk: {e}");
            return ExitCode::from(2);
        }
    };
    let db = match Db::open(&settings.database).await {
        Ok(db) => db,
        Err(e) => {
            eprintln!("callerdesk: {e}");
            return ExitCode::FAILURE;
        }
    };
    let clock = Clock::system();
    let (plivo, _sandbox, sandbox_task) =
        match crate::startup::plivo_for(&settings, &db, &clock).await {
            Ok(parts) => parts,
            Err(e) => {
                eprintln!("callerdesk: {e}");
                return ExitCode::FAILURE;
            }
        };
    let syncer = crate::sync::Syncer {
        db: db.clone(),
        plivo,
        clock,
        pages_in_flight: settings.sync_pages_in_flight,
    };
    let result = syncer
        .run(crate::sync::Trigger::CommandLine, Actor::command_line())
        .await;
    if let Some(task) = sandbox_task {
        task.abort();
    }
    db.close().await;
    match result {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("callerdesk: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `callerdesk sandbox`: serves the Plivo sandbox until Ctrl-C or SIGTERM.
async fn sandbox(args: SandboxArgs) -> Result<String, String> {
    use crate::sandbox::{Fault, Faults, Sandbox};
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

/// Opens an existing database for a command that must not create one.
async fn open_existing(path: &Path) -> Result<Db, String> {
    if !path.exists() {
        return Err(format!(
            "There is no database at {}. Set CALLERDESK_DATABASE or --database to its path.",
            path.display()
        ));
    }
    Db::open(path).await.map_err(|e| e.to_string())
}

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

async fn user(database: &Path, command: UserCommand) -> Result<String, String> {
    let db = if matches!(command, UserCommand::Add { .. }) {
        Db::open(database).await.map_err(|e| e.to_string())?
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
        } => {
            let username = Username::parse(&name).map_err(|e| e.to_string())?;
            let role = Role::from(role);
            let password = read_password(password_stdin)?;
            accounts
                .create(&who, &username, &password, role, false)
                .await
                .map(|_| format!("Added {username} as {role}."))
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
                    u.last_sign_in_at.as_deref().unwrap_or("never")
                ));
            }
            Ok(out)
        }
    };
    db.close().await;
    result
}

/// The account called `name`, or a sentence saying there is none.
async fn find(accounts: &Accounts, name: &str) -> Result<crate::db::users::User, String> {
    accounts.by_name(name).await.map_err(|e| match e {
        AccountError::NoSuchUser => format!("There is no user called {name}."),
        other => format!("The database could not be read: {other}."),
    })
}

async fn audit_verify(database: &Path) -> ExitCode {
    let db = match open_existing(database).await {
        Ok(db) => db,
        Err(e) => {
            eprintln!("callerdesk: {e}");
            return ExitCode::FAILURE;
        }
    };
    let status = audit::verify_chain(&db.reader).await;
    db.close().await;
    match status {
        Ok(status @ ChainStatus::Intact { .. }) => {
            println!("{status}");
            ExitCode::SUCCESS
        }
        Ok(status @ ChainStatus::Broken { .. }) => {
            println!("{status}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("callerdesk: the audit log could not be read: {e}.");
            ExitCode::FAILURE
        }
    }
}
