//! The command line: `serve` (the default) and the other subcommands, one module each. Each
//! prints plain sentences; a failure is one sentence on standard error and a non-zero exit.

pub mod args;
mod audit;
mod backup;
mod generate;
mod sandbox;
mod serve;
mod sync;
mod user;

use std::{path::Path, process::ExitCode};
use tracing_subscriber::EnvFilter;

use crate::{
    config::{ConfigError, ServeArgs},
    db::{Db, OpenError},
};
use args::{AuditCommand, Cli, Command};

/// Why a subcommand did not do what was asked, in one sentence.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A setting can't be used (exit status 2, like a usage error).
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error("There is no database at {0}. Set CALLERDESK_DATABASE or --database to its path.")]
    NoDatabase(String),
    /// Anything else, already said in words.
    #[error("{0}")]
    Refused(String),
}

impl From<String> for CliError {
    fn from(sentence: String) -> Self {
        CliError::Refused(sentence)
    }
}

impl From<&str> for CliError {
    fn from(sentence: &str) -> Self {
        CliError::Refused(sentence.to_owned())
    }
}

impl CliError {
    fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Config(_) => ExitCode::from(2),
            _ => ExitCode::FAILURE,
        }
    }
}

/// What a subcommand that ran has to say.
pub enum Said {
    /// On standard output; exit 0.
    Done(String),
    /// On standard error, because standard output was data; exit 0.
    Aside(String),
    /// On standard output, and exit 1: it ran, and what it found is a failure (a broken chain).
    Found(String),
    /// Nothing more to say (the server has stopped).
    Nothing,
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> ExitCode {
    let outcome = match cli.command {
        None => match ServeArgs::from_env() {
            Ok(args) => serve::serve(args).await,
            Err(e) => {
                eprintln!("callerdesk: {e}");
                return ExitCode::from(2);
            }
        },
        Some(Command::Serve(args)) => serve::serve(*args).await,
        Some(Command::User { database, command }) => {
            init_logging("warn,sqlx=error");
            user::run(&database.database, command).await.map(Said::Done)
        }
        Some(Command::Sync(args)) => {
            init_logging("warn,sqlx=error");
            sync::sync(*args).await.map(Said::Done)
        }
        Some(Command::Backup {
            database,
            path,
            audit,
        }) => {
            init_logging("warn,sqlx=error");
            backup::backup(&database.database, &path, &audit)
                .await
                .map(Said::Done)
        }
        Some(Command::Generate {
            database,
            audit_events,
            sandbox_caller_ids,
            measure_append,
            writers,
        }) => {
            init_logging("warn,sqlx=error");
            generate::run(
                &database.database,
                audit_events,
                sandbox_caller_ids,
                measure_append,
                writers,
            )
            .await
            .map(Said::Done)
        }
        Some(Command::Sandbox(args)) => {
            init_logging("info,sqlx=warn");
            sandbox::sandbox(args).await.map(Said::Done)
        }
        Some(Command::Audit { database, command }) => {
            init_logging("warn,sqlx=error");
            match command {
                AuditCommand::Verify {
                    checkpoints,
                    public_key,
                } => {
                    audit::verify(
                        &database.database,
                        checkpoints.as_deref().zip(public_key.as_deref()),
                    )
                    .await
                }
                AuditCommand::Keygen { path } => audit::keygen(&path).map(Said::Done),
                AuditCommand::Checkpoint { audit } => {
                    audit::checkpoint(&database.database, &audit).await
                }
                AuditCommand::Export {
                    format,
                    since,
                    until,
                } => audit::export(&database.database, &format, since, until)
                    .await
                    .map(Said::Aside),
            }
        }
    };
    match outcome {
        Ok(Said::Done(message)) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Ok(Said::Aside(message)) => {
            eprintln!("{message}");
            ExitCode::SUCCESS
        }
        Ok(Said::Found(message)) => {
            println!("{message}");
            ExitCode::FAILURE
        }
        Ok(Said::Nothing) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("callerdesk: {e}");
            e.exit_code()
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

/// Opens an existing database for a command that must not create one.
async fn open_existing(path: &Path) -> Result<Db, CliError> {
    if !path.exists() {
        return Err(CliError::NoDatabase(path.display().to_string()));
    }
    Ok(Db::open(path).await?)
}
