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
//! Most writes are one audit event and nothing else (a request recorded before Plivo is called,
//! a sign-out, a refusal). Those don't take a turn with the connection: [`Committer::append`]
//! queues the events themselves, and the committer numbers and hashes them after the head it
//! knows and inserts a group's worth in one statement, so they cost the group no round trip of
//! their own. Before a write that runs its own statements takes its turn, the events before it
//! are inserted, so its own appends read the head from the table as always.
//!
//! A write holds the connection only for its own statements, as a transaction did. Long
//! writes (a sync's batches) and migrations use the writer pool directly; the committer holds
//! the writer connection only while a group runs.

use crate::audit::{self, Head, NewEvent, StoredEvent};
use sqlx::{Executor, Sqlite, SqliteConnection, SqlitePool, pool::PoolConnection};
use std::{
    ops::{Deref, DerefMut},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

/// The most writes one group takes: enough to absorb a burst, few enough that the first
/// write in a group is not kept waiting long for the last.
const MOST_IN_A_GROUP: usize = 64;

/// What waits in the committer's queue.
enum Job {
    /// A write that runs its own statements: it is handed the connection in turn.
    Turn(oneshot::Sender<GroupedWrite>),
    /// Audit events and nothing else (a request recorded before Plivo is called, a sign-out, a
    /// refusal): the committer numbers, hashes and inserts them itself, so they cost the group
    /// no round trip of their own.
    Events {
        now: OffsetDateTime,
        events: Vec<NewEvent>,
        stored: StoredAnswer,
    },
}

/// Where the committer answers its own appends: what was stored, once it is on disk.
type StoredAnswer = oneshot::Sender<Result<Vec<StoredEvent>, String>>;

/// Queues writes for the group-commit task. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Committer {
    queue: mpsc::UnboundedSender<Job>,
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
            .send(Job::Turn(turn))
            .map_err(|_| stopped("before the write was queued"))?;
        given
            .await
            .map_err(|_| stopped("before the write's turn came"))
    }

    /// Appends `events` (all at `now`) in the next group, as a write of their own, and answers
    /// them as stored once the group is on disk.
    pub async fn append(
        &self,
        now: OffsetDateTime,
        events: Vec<NewEvent>,
    ) -> sqlx::Result<Vec<StoredEvent>> {
        let (stored, answer) = oneshot::channel();
        self.queue
            .send(Job::Events {
                now,
                events,
                stored,
            })
            .map_err(|_| stopped("before the events were queued"))?;
        match answer.await {
            Ok(Ok(stored)) => Ok(stored),
            Ok(Err(e)) => Err(sqlx::Error::Protocol(format!(
                "the events were not committed: {e}"
            ))),
            Err(_) => Err(stopped("before the group was committed")),
        }
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
    mut waiting: mpsc::UnboundedReceiver<Job>,
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
async fn commit_group(writer: &SqlitePool, jobs: Vec<Job>) -> sqlx::Result<()> {
    let mut conn = writer.acquire().await?;
    sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
    let mut group = Group {
        conn: Some(conn),
        ..Group::default()
    };
    let mut result = group.run(jobs).await;
    if result.is_ok() {
        result = sqlx::query("COMMIT")
            .execute(group.conn()?)
            .await
            .map(|_| ());
    }
    if result.is_err() {
        // Nothing of the group is kept; the connection goes back to the pool clean.
        if let Ok(conn) = group.conn() {
            let _ = sqlx::query("ROLLBACK").execute(conn).await;
        }
    }
    let answer = result.as_ref().map(|_| ()).map_err(ToString::to_string);
    for committed in group.kept {
        let _ = committed.send(answer.clone());
    }
    for (stored, events) in group.appended {
        let _ = stored.send(answer.clone().map(|()| events));
    }
    result
}

/// One group's progress through its jobs.
#[derive(Default)]
struct Group {
    /// The writer connection, inside the group's transaction; a write holds it during its turn.
    conn: Option<PoolConnection<Sqlite>>,
    /// Answers owed to the writes that kept their changes.
    kept: Vec<oneshot::Sender<Result<(), String>>>,
    /// Answers owed to the committer's own appends, with what each stored.
    appended: Vec<(StoredAnswer, Vec<StoredEvent>)>,
    /// How the last write's savepoint is to end, not yet sent: it goes with the next statement.
    ending: Option<&'static str>,
    /// Events chained but not yet inserted.
    pending: Vec<StoredEvent>,
    /// The chain's head after `pending`, while the committer knows it (a write's own appends
    /// move it without telling).
    head: Option<Head>,
}

impl Group {
    fn conn(&mut self) -> sqlx::Result<&mut SqliteConnection> {
        self.conn
            .as_deref_mut()
            .ok_or_else(|| stopped("while a write held the connection"))
    }

    async fn run(&mut self, jobs: Vec<Job>) -> sqlx::Result<()> {
        for job in jobs {
            match job {
                Job::Events {
                    now,
                    events,
                    stored,
                } => self.chain(now, events, stored).await?,
                Job::Turn(turn) => self.turn(turn).await?,
            }
        }
        self.end_savepoint().await?;
        self.flush().await
    }

    async fn end_savepoint(&mut self) -> sqlx::Result<()> {
        if let Some(end) = self.ending.take() {
            self.conn()?.execute(end).await?;
        }
        Ok(())
    }

    /// Numbers and hashes the events after the head the committer knows (or reads).
    async fn chain(
        &mut self,
        now: OffsetDateTime,
        events: Vec<NewEvent>,
        stored: StoredAnswer,
    ) -> sqlx::Result<()> {
        self.end_savepoint().await?;
        let head = match self.head.take() {
            Some(head) => head,
            None => audit::head(self.conn()?).await?,
        };
        let chained = audit::chain(head.clone(), now, events);
        self.head = Some(
            chained
                .last()
                .map_or(head, |last| (last.id, last.hash.clone())),
        );
        self.pending.extend(chained.iter().cloned());
        self.appended.push((stored, chained));
        Ok(())
    }

    /// Inserts the chained events, in one statement per batch.
    async fn flush(&mut self) -> sqlx::Result<()> {
        if !self.pending.is_empty() {
            let pending = std::mem::take(&mut self.pending);
            audit::insert_stored(self.conn()?, &pending).await?;
        }
        Ok(())
    }

    /// Hands the connection to one write inside a savepoint, and takes it back.
    async fn turn(&mut self, turn: oneshot::Sender<GroupedWrite>) -> sqlx::Result<()> {
        if !self.pending.is_empty() {
            // The write's own appends read the head from the table, which must hold every
            // event before them.
            self.end_savepoint().await?;
            self.flush().await?;
        }
        self.head = None;
        // One round trip ends the last write's savepoint and opens this one's.
        let opening = match self.ending.take() {
            None => "SAVEPOINT one_write".to_owned(),
            Some(end) => format!("{end}; SAVEPOINT one_write"),
        };
        self.conn()?.execute(opening.as_str()).await?;
        let conn = self
            .conn
            .take()
            .ok_or_else(|| stopped("while a write held the connection"))?;
        let (back, returned) = oneshot::channel();
        let (committed, answer) = oneshot::channel();
        // A caller that has gone away drops the write at once, which hands the connection back.
        let _ = turn.send(GroupedWrite {
            conn: Some(conn),
            back: Some(back),
            committed: Some(answer),
        });
        let (conn, keep) = returned
            .await
            .map_err(|_| stopped("while a write held the connection"))?;
        self.conn = Some(conn);
        self.ending = Some(if keep {
            self.kept.push(committed);
            "RELEASE one_write"
        } else {
            "ROLLBACK TO one_write; RELEASE one_write"
        });
        Ok(())
    }
}
