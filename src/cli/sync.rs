//! `callerdesk sync`: one reconciliation run, its summary printed.

use super::CliError;
use crate::{
    audit::Actor,
    clock::Clock,
    config::{ServeArgs, Settings},
    db::Db,
    sync::{Syncer, Trigger},
};

/// One run; an error if it failed or could not start.
pub async fn sync(args: ServeArgs) -> Result<String, CliError> {
    let settings = Settings::from_args(&args)?;
    let db = Db::open(&settings.database).await?;
    let clock = Clock::system();
    let (plivo, _sandbox, sandbox_task) = crate::startup::plivo_for(&settings, &db, &clock)
        .await
        .map_err(|e| e.to_string())?;
    let syncer = Syncer {
        db: db.clone(),
        plivo,
        clock,
        pages_in_flight: settings.sync_pages_in_flight,
    };
    let result = syncer
        .run(Trigger::CommandLine, Actor::command_line())
        .await;
    if let Some(task) = sandbox_task {
        task.abort();
    }
    db.close().await;
    Ok(result.map_err(|e| e.to_string())?.to_string())
}
