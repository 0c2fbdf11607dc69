//! "Sync now" and the sync status shown above the caller ID list.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    extract::{Query, State},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use sqlx::SqliteExecutor;

use crate::{
    db::sync_runs,
    domain::Permission,
    sync::SyncError,
    web::error::AppError,
    web::{
        extract::CurrentUser,
        format::{When, thousands},
        htmx::Htmx,
        session::notify,
        state::AppState,
    },
};

/// What the status area shows.
#[derive(Debug, Clone)]
pub enum SyncView {
    Running {
        run_id: i64,
        pages_done: i64,
        pages_total: Option<i64>,
        started_by: String,
        started: Option<When>,
    },
    Idle {
        last_success: Option<(When, String)>,
        /// The most recent run, when it failed: when, and why in plain words.
        last_failure: Option<(When, String)>,
    },
}

/// The status fragment; also included in the list page.
#[derive(Template, WebTemplate)]
#[template(path = "sync/status_partial.html")]
pub struct SyncStatus {
    pub view: SyncView,
    pub can_sync: bool,
    pub csrf: String,
    /// A message from the last action ("A sync is already running…").
    pub message: Option<String>,
}

impl SyncStatus {
    pub async fn load(
        state: &AppState,
        db: impl SqliteExecutor<'_>,
        me: &CurrentUser,
        csrf: String,
    ) -> Result<Self, AppError> {
        Ok(Self {
            view: view(state, db).await?,
            can_sync: me.role().can(Permission::SyncNow),
            csrf,
            message: None,
        })
    }

    fn running_id(&self) -> Option<i64> {
        match self.view {
            SyncView::Running { run_id, .. } => Some(run_id),
            SyncView::Idle { .. } => None,
        }
    }
}

pub async fn view(state: &AppState, db: impl SqliteExecutor<'_>) -> Result<SyncView, AppError> {
    let now = state.clock.now();
    let sync_runs::Summary {
        running,
        last,
        succeeded,
        current,
    } = sync_runs::summary(db).await?;
    if let Some(run) = running {
        return Ok(SyncView::Running {
            run_id: run.id,
            pages_done: run.pages_done,
            pages_total: run.pages_total,
            started_by: run.started_by,
            started: Some(When::of(now, run.started_at)),
        });
    }
    let last_success = succeeded.map(|run| {
        let when = When::of(now, run.finished_at.unwrap_or(run.started_at));
        let n = thousands(current);
        (
            when,
            format!("{n} caller ID{}", if current == 1 { "" } else { "s" }),
        )
    });
    let last_failure = last
        .filter(|run| run.status == sync_runs::SyncRunStatus::Failed)
        .map(|run| {
            let when = When::of(now, run.finished_at.unwrap_or(run.started_at));
            (
                when,
                run.error
                    .unwrap_or_else(|| "It stopped for an unknown reason.".into()),
            )
        });
    Ok(SyncView::Idle {
        last_success,
        last_failure,
    })
}

/// `POST /sync`: starts a run in the background.
pub async fn start(
    State(state): State<AppState>,
    me: CurrentUser,
    htmx: Htmx,
) -> Result<Response, AppError> {
    me.require(Permission::SyncNow)?;
    let syncer = state.syncer.clone();
    let message = match syncer.claim(crate::sync::Trigger::Manual, me.actor()).await {
        Ok(claimed) => {
            state.tasks.spawn(async move {
                match syncer.execute(claimed).await {
                    Ok(summary) => tracing::info!(run = summary.run_id, "{summary}"),
                    Err(e) => tracing::warn!(error = %e, "manual sync failed"),
                }
            });
            None
        }
        Err(e @ SyncError::AlreadyRunning { .. }) => Some(e.to_string()),
        Err(e) => return Err(AppError::Internal(e.into())),
    };
    if htmx.request {
        let csrf = crate::web::session::csrf_token(&me.session).await?;
        let mut status = SyncStatus::load(&state, &state.db.reader, &me, csrf).await?;
        status.message = message;
        return Ok(status.into_response());
    }
    notify(
        &me.session,
        message.unwrap_or_else(|| "Sync started. Reload this page to see its progress.".into()),
    )
    .await?;
    Ok(Redirect::to("/").into_response())
}

#[derive(Debug, Deserialize)]
pub struct StatusQuery {
    /// The run the page was showing as running.
    watching: Option<i64>,
}

/// `GET /sync/status`: the status fragment; when the run being watched has finished, it also
/// tells the page (`HX-Trigger: sync-finished`) so the list reloads.
pub async fn status(
    State(state): State<AppState>,
    me: CurrentUser,
    Query(query): Query<StatusQuery>,
) -> Result<Response, AppError> {
    me.require(Permission::ViewCallerIds)?;
    let csrf = crate::web::session::csrf_token(&me.session).await?;
    let status = SyncStatus::load(&state, &state.db.reader, &me, csrf).await?;
    let finished = query.watching.is_some() && status.running_id() != query.watching;
    let mut response = status.into_response();
    if finished {
        response.headers_mut().insert(
            "hx-trigger",
            axum::http::HeaderValue::from_static("sync-finished"),
        );
    }
    Ok(response)
}
