//! Group commit: writes that arrive together share one transaction and one fsync.
//!
//! Every write used to be its own committed transaction on the one writer connection, so
//! writes from many people queued one fsync behind another. The committer task takes the
//! writes waiting in its queue and opens one `BEGIN IMMEDIATE` transaction for them; each
//! write in turn gets the connection inside a savepoint of its own (a [`GroupedWrite`], used
//! like a transaction), and hands it back by committing or by being dropped. The task then
//! commits once and only then answers each caller's `commit()`: nothing is acknowledged before
//! it is on disk (`synchronous=FULL`). A write that fails or is dropped is rolled back to its
//! savepoint and fails alone; the others in its group still commit. The audit chain's order is
//! the commit order: each write reads the head its predecessors in the group left, so a
//! group's events get consecutive ids and chain as before.
//!
//! A write holds the connection only for its own statements, as a transaction did. Long
//! writes (a sync's batches) and migrations use the writer pool directly; the committer holds
//! the writer connection only while a group runs.

use sqlx::{Executor, Sqlite, SqliteConnection, SqlitePool, pool::PoolConnection};
use std::{
    ops::{Deref, DerefMut},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};
use tokio::sync::{mpsc, oneshot};

/// The most writes one group takes: enough to absorb a burst, few enough that the first
/// write in a group is not kept waiting long for the last.
const MOST_IN_A_GROUP: usize = 64;

type Turn = oneshot::Sender<GroupedWrite>;

/// Queues writes for the group-commit task. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Committer {
    queue: mpsc::UnboundedSender<Turn>,
    /// Groups committed so far.
    groups: Arc<AtomicU64>,
}

/// The writer connection, inside this write's savepoint of the group's transaction. Statements
/// run on it as on a transaction (`&mut *write`); [`GroupedWrite::commit`] keeps them and waits
/// for the group's commit; dropping it rolls them back.
#[derive(Debug)]
pub struct GroupedWrite {
    conn: Option<PoolConnection<Sqlite>>,
    back: Option<oneshot::Sender<(PoolConnection<Sqlite>, bool)>>,
    committed: Option<oneshot::Receiver<Result<(), String>>>,
}

fn stopped(when: &str) -> sqlx::Error {
    sqlx::Error::Protocol(format!("the database writer stopped {when}"))
}

impl Committer {
    /// Starts the task that commits groups through `writer` (the one-connection pool).
    pub fn start(writer: SqlitePool) -> Self {
        let (queue, waiting) = mpsc::unbounded_channel();
        let groups = Arc::new(AtomicU64::new(0));
        tokio::spawn(run(writer, waiting, groups.clone()));
        Self { queue, groups }
    }

    /// How many groups have been committed (each one fsync).
    pub fn groups(&self) -> u64 {
        self.groups.load(Ordering::Relaxed)
    }

    /// Waits for this write's turn in the next group.
    pub async fn begin(&self) -> sqlx::Result<GroupedWrite> {
        let (turn, given) = oneshot::channel();
        self.queue
            .send(turn)
            .map_err(|_| stopped("before the write was queued"))?;
        given
            .await
            .map_err(|_| stopped("before the write's turn came"))
    }
}

impl GroupedWrite {
    /// Keeps this write's changes and waits until its group is committed (on disk).
    pub async fn commit(mut self) -> sqlx::Result<()> {
        let committed = self.committed.take();
        self.hand_back(true);
        match committed {
            Some(committed) => match committed.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(sqlx::Error::Protocol(format!(
                    "the write was not committed: {e}"
                ))),
                Err(_) => Err(stopped("before the group was committed")),
            },
            None => Err(stopped("before the group was committed")),
        }
    }

    fn hand_back(&mut self, keep: bool) {
        if let (Some(conn), Some(back)) = (self.conn.take(), self.back.take()) {
            // The task is waiting for it; if it is gone, the connection returns to the pool.
            let _ = back.send((conn, keep));
        }
    }
}

impl Drop for GroupedWrite {
    fn drop(&mut self) {
        self.hand_back(false);
    }
}

// `conn` is taken only by `commit` and `drop`, which end the write: while anyone can deref it,
// it is there.
impl Deref for GroupedWrite {
    type Target = SqliteConnection;
    #[expect(clippy::expect_used, reason = "present until the write ends")]
    fn deref(&self) -> &SqliteConnection {
        self.conn
            .as_ref()
            .expect("a grouped write holds the connection until it ends")
    }
}

impl DerefMut for GroupedWrite {
    #[expect(clippy::expect_used, reason = "present until the write ends")]
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.conn
            .as_mut()
            .expect("a grouped write holds the connection until it ends")
    }
}

/// Takes groups off the queue until every [`Committer`] is dropped.
async fn run(
    writer: SqlitePool,
    mut waiting: mpsc::UnboundedReceiver<Turn>,
    groups: Arc<AtomicU64>,
) {
    while let Some(first) = waiting.recv().await {
        // Let writers woken by the last commit queue their next write before this group is
        // cut: without it, groups alternate between one write and all the others.
        tokio::task::yield_now().await;
        let mut group = vec![first];
        while group.len() < MOST_IN_A_GROUP {
            match waiting.try_recv() {
                Ok(turn) => group.push(turn),
                Err(_) => break,
            }
        }
        let count = group.len();
        match commit_group(&writer, group).await {
            Ok(()) => {
                groups.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::error!(error = %e, writes = count, "a group of writes could not be committed");
            }
        }
    }
}

/// Runs one group in one transaction, then answers each write that kept its changes.
async fn commit_group(writer: &SqlitePool, group: Vec<Turn>) -> sqlx::Result<()> {
    let mut conn = writer.acquire().await?;
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    let mut kept = Vec::with_capacity(group.len());
    let mut failure = None;
    // Each write runs in a savepoint; one round trip ends a write's savepoint and opens the
    // next one's.
    let mut ending: Option<&str> = None;
    for turn in group {
        let opening = match ending {
            None => "SAVEPOINT one_write".to_owned(),
            Some(end) => format!("{end}; SAVEPOINT one_write"),
        };
        if let Err(e) = conn.execute(opening.as_str()).await {
            failure = Some(e);
            break;
        }
        let (back, returned) = oneshot::channel();
        let (committed, answer) = oneshot::channel();
        // A caller that has gone away drops the write at once, which hands the connection back.
        let _ = turn.send(GroupedWrite {
            conn: Some(conn),
            back: Some(back),
            committed: Some(answer),
        });
        let keep;
        (conn, keep) = returned
            .await
            .map_err(|_| stopped("while a write held the connection"))?;
        ending = Some(if keep {
            kept.push(committed);
            "RELEASE one_write"
        } else {
            "ROLLBACK TO one_write; RELEASE one_write"
        });
    }
    if let (None, Some(end)) = (&failure, ending) {
        failure = conn.execute(end).await.err();
    }
    let result = match failure {
        None => sqlx::query("COMMIT").execute(&mut *conn).await.map(|_| ()),
        Some(e) => Err(e),
    };
    if result.is_err() {
        // Nothing of the group is kept; the connection goes back to the pool clean.
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
    }
    let answer = result.as_ref().map(|_| ()).map_err(ToString::to_string);
    for committed in kept {
        let _ = committed.send(answer.clone());
    }
    result
}
