//! A copy of every committed event, sent outside the box as it happens: to a syslog receiver
//! (RFC 5424 messages over TCP, octet-counting framing as RFC 6587 describes) and/or to an
//! append-only JSON Lines file for a log shipper.
//!
//! Each destination has a cursor in `audit_forwarding`: the last event it has taken. A
//! forwarder reads the events after it, in order, sends them, and moves the cursor on only once
//! they are delivered, so an outage leaves events waiting in the database (nothing is dropped,
//! and no one's action waits for the receiver) and a restart goes on from the cursor. Delivery
//! is at least once: after a failure, events the receiver may already hold are sent again, with
//! the same id and hash, for it to recognise.
//!
//! Plain TCP syslog has no acknowledgement, so "delivered" to a syslog receiver means written
//! on a connection that was still open at the next look (a closed one is noticed before the
//! next batch is sent, and what was written since the previous look is sent again). A receiver
//! killed with events in its socket buffer loses them, as with any TCP syslog sender; the
//! signed checkpoints still vouch for them.

use sqlx::SqlitePool;
use std::{path::PathBuf, time::Duration};
use time::OffsetDateTime;
use tokio::{io::AsyncWriteExt, net::TcpStream};

use super::{EVENT_COLUMNS, StoredEvent};
use crate::{
    clock::Clock,
    db::{Db, timestamp},
};

/// Events read and sent at a time.
const BATCH: i64 = 500;
/// How often a forwarder with nothing to send looks for new events.
const LOOK_EVERY: Duration = Duration::from_millis(250);
/// A backlog older than this is a warning on the audit page and in the log.
pub const LATE_AFTER: Duration = Duration::from_secs(300);

/// Where events are forwarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// `tcp://HOST:PORT`
    Syslog { host: String, port: u16 },
    /// An append-only JSON Lines file.
    File(PathBuf),
}

impl Destination {
    /// Parses `CALLERDESK_AUDIT_SYSLOG`: `tcp://HOST:PORT`.
    pub fn syslog(value: &str) -> Result<Self, String> {
        let url = url::Url::parse(value.trim())
            .ok()
            .filter(|u| u.scheme() == "tcp" && (u.path().is_empty() || u.path() == "/"));
        match url
            .as_ref()
            .and_then(|u| Some((u.host_str()?.to_owned(), u.port()?)))
        {
            Some((host, port)) => Ok(Destination::Syslog {
                host: host.trim_matches(['[', ']']).to_owned(),
                port,
            }),
            None => Err(format!(
                "must be tcp://HOST:PORT, such as tcp://logs.example.com:6514, not {value:?}."
            )),
        }
    }

    /// The cursor's name in `audit_forwarding`, and how the page names the destination.
    pub fn name(&self) -> String {
        match self {
            Destination::Syslog { host, port } => format!("syslog tcp://{host}:{port}"),
            Destination::File(path) => format!("file {}", path.display()),
        }
    }
}

/// How far a destination has got, for the audit page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub destination: String,
    /// Events committed but not yet taken.
    pub waiting: i64,
    /// When the oldest waiting event was committed (its time), if any wait.
    pub oldest_waiting: Option<String>,
    /// When the destination last took an event.
    pub last_taken_at: Option<String>,
}

impl Progress {
    /// Whether events have waited longer than [`LATE_AFTER`].
    pub fn is_late(&self, now: OffsetDateTime) -> bool {
        self.oldest_waiting
            .as_deref()
            .and_then(crate::db::parse_timestamp)
            .is_some_and(|t| now - t > LATE_AFTER)
    }
}

/// The progress of `destination`.
pub async fn progress(pool: &SqlitePool, destination: &Destination) -> sqlx::Result<Progress> {
    let name = destination.name();
    let (through, last_taken_at) = cursor(pool, &name).await?;
    // Ids run 1, 2, 3… without gaps: what waits is the head less the cursor.
    let (waiting, oldest_waiting): (i64, Option<String>) = sqlx::query_as(
        "SELECT COALESCE((SELECT MAX(id) FROM audit_events), 0) - ?,
                (SELECT occurred_at FROM audit_events WHERE id > ? ORDER BY id LIMIT 1)",
    )
    .bind(through)
    .bind(through)
    .fetch_one(pool)
    .await?;
    Ok(Progress {
        destination: name,
        waiting,
        oldest_waiting,
        last_taken_at,
    })
}

async fn cursor(pool: &SqlitePool, name: &str) -> sqlx::Result<(i64, Option<String>)> {
    Ok(sqlx::query_as(
        "SELECT taken_through, last_taken_at FROM audit_forwarding WHERE destination = ?",
    )
    .bind(name)
    .fetch_optional(pool)
    .await?
    .unwrap_or((0, None)))
}

async fn advance(db: &Db, name: &str, through: i64, at: OffsetDateTime) -> sqlx::Result<()> {
    let mut write = db.write().await?;
    sqlx::query(
        "INSERT INTO audit_forwarding (destination, taken_through, last_taken_at) VALUES (?, ?, ?)
         ON CONFLICT (destination) DO UPDATE
         SET taken_through = MAX(taken_through, excluded.taken_through),
             last_taken_at = excluded.last_taken_at",
    )
    .bind(name)
    .bind(through)
    .bind(timestamp(at))
    .execute(&mut *write)
    .await?;
    write.commit().await
}

/// An RFC 5424 message for `event`, framed by its length (RFC 6587 octet counting): facility
/// 13 (log audit), severity 6 (informational); the event's id and hash in structured data; the
/// event itself, as in a JSON Lines export, as the message.
pub fn syslog_frame(event: &StoredEvent, hostname: &str) -> Vec<u8> {
    let escape = |v: &str| {
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace(']', "\\]")
    };
    let json = serde_json::to_string(event).unwrap_or_default();
    let message = format!(
        "<110>1 {} {} callerdesk {} {} [callerdesk@32473 id=\"{}\" hash=\"{}\"] {}",
        event.occurred_at,
        if hostname.is_empty() { "-" } else { hostname },
        std::process::id(),
        event.action,
        event.id,
        escape(&event.hash),
        json
    );
    let mut framed = format!("{} ", message.len()).into_bytes();
    framed.extend_from_slice(message.as_bytes());
    framed
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(255)
        .collect()
}

/// One destination's connection or file, and what it has been sent but not yet counted as
/// taken.
struct Sender {
    destination: Destination,
    hostname: String,
    stream: Option<TcpStream>,
    /// Events written on the current connection since the last look found it open.
    unconfirmed: Option<i64>,
}

impl Sender {
    /// Sends `events` in order. For syslog, answers the last id now known to be taken (the
    /// previous batch's, once the connection proved still open), which may lag behind.
    async fn send(&mut self, events: &[StoredEvent]) -> std::io::Result<Option<i64>> {
        match &self.destination {
            Destination::File(path) => {
                let mut lines = Vec::new();
                for e in events {
                    serde_json::to_writer(&mut lines, e)?;
                    lines.push(b'\n');
                }
                let path = path.clone();
                tokio::task::spawn_blocking(move || {
                    use std::io::Write;
                    let mut file = std::fs::OpenOptions::new()
                        .append(true)
                        .create(true)
                        .open(&path)?;
                    file.write_all(&lines)?;
                    file.sync_data()
                })
                .await
                .map_err(std::io::Error::other)??;
                Ok(events.last().map(|e| e.id))
            }
            Destination::Syslog { .. } => {
                let confirmed = self.confirm()?;
                let mut frames = Vec::new();
                for e in events {
                    frames.extend(syslog_frame(e, &self.hostname));
                }
                let stream = self.connect().await?;
                stream.write_all(&frames).await?;
                stream.flush().await?;
                if let Some(last) = events.last() {
                    self.unconfirmed = Some(last.id);
                }
                Ok(confirmed)
            }
        }
    }

    /// With nothing new to send: the last id known to be taken, if the connection proved open.
    fn idle(&mut self) -> std::io::Result<Option<i64>> {
        match self.destination {
            Destination::File(_) => Ok(None),
            Destination::Syslog { .. } => self.confirm(),
        }
    }

    /// Looks at the connection without waiting: a receiver never writes to it, so anything
    /// readable is the receiver closing it. Open: everything written so far was taken.
    fn confirm(&mut self) -> std::io::Result<Option<i64>> {
        let Some(stream) = &self.stream else {
            return Ok(None);
        };
        let mut probe = [0u8; 64];
        match stream.try_read(&mut probe) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(self.unconfirmed.take()),
            Ok(0) => Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "the receiver closed the connection",
            )),
            Ok(_) => Ok(self.unconfirmed.take()),
            Err(e) => Err(e),
        }
    }

    async fn connect(&mut self) -> std::io::Result<&mut TcpStream> {
        if self.stream.is_none() {
            let Destination::Syslog { host, port } = &self.destination else {
                return Err(std::io::Error::other("not a syslog destination"));
            };
            let stream = tokio::time::timeout(
                Duration::from_secs(5),
                TcpStream::connect((host.as_str(), *port)),
            )
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "connecting timed out")
            })??;
            stream.set_nodelay(true)?;
            self.stream = Some(stream);
        }
        self.stream
            .as_mut()
            .ok_or_else(|| std::io::Error::other("no connection"))
    }

    /// After a failure: the next send starts on a new connection, from the cursor.
    fn reset(&mut self) {
        self.stream = None;
        self.unconfirmed = None;
    }
}

/// Forwards every committed event to `destination`, in order, until the task is stopped.
pub async fn run(destination: Destination, db: Db, clock: Clock) {
    let name = destination.name();
    let mut sender = Sender {
        hostname: hostname(),
        destination,
        stream: None,
        unconfirmed: None,
    };
    let mut backoff = Duration::from_millis(250);
    let mut warned_late = None::<tokio::time::Instant>;
    loop {
        let result = forward_some(&db, &name, &mut sender, &clock).await;
        match result {
            Ok(true) => backoff = Duration::from_millis(250),
            Ok(false) => tokio::time::sleep(LOOK_EVERY).await,
            Err(e) => {
                sender.reset();
                let late = match progress(&db.reader, &sender.destination).await {
                    Ok(p) => p.is_late(clock.now()),
                    Err(_) => false,
                };
                if late && warned_late.is_none_or(|at| at.elapsed() > Duration::from_secs(60)) {
                    tracing::warn!(destination = %name, error = %e, "audit events have waited more than 5 minutes to be forwarded");
                    warned_late = Some(tokio::time::Instant::now());
                } else {
                    tracing::debug!(destination = %name, error = %e, "audit events could not be forwarded; trying again");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// Sends the next batch after the cursor; answers whether there was one.
async fn forward_some(
    db: &Db,
    name: &str,
    sender: &mut Sender,
    clock: &Clock,
) -> Result<bool, String> {
    let (through, _) = cursor(&db.reader, name).await.map_err(|e| e.to_string())?;
    // What was written but not yet confirmed is past the cursor too: send after it.
    let from = sender.unconfirmed.unwrap_or(through).max(through);
    let events: Vec<StoredEvent> = sqlx::query_as(&format!(
        "SELECT {EVENT_COLUMNS} FROM audit_events WHERE id > ? ORDER BY id LIMIT ?"
    ))
    .bind(from)
    .bind(BATCH)
    .fetch_all(&db.reader)
    .await
    .map_err(|e| e.to_string())?;
    let taken = if events.is_empty() {
        sender.idle()
    } else {
        sender.send(&events).await
    }
    .map_err(|e| e.to_string())?;
    if let Some(taken) = taken {
        advance(db, name, taken, clock.now())
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(!events.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_syslog_address_is_tcp_host_and_port() {
        assert_eq!(
            Destination::syslog("tcp://127.0.0.1:5514"),
            Ok(Destination::Syslog {
                host: "127.0.0.1".into(),
                port: 5514
            })
        );
        for bad in [
            "udp://127.0.0.1:514",
            "tcp://host",
            "logs:514",
            "tcp://h:1/x",
        ] {
            assert!(Destination::syslog(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_frame_is_its_length_then_an_rfc5424_message() {
        let event = StoredEvent {
            id: 7,
            occurred_at: "2026-12-02T10:00:00.000000Z".into(),
            actor_id: None,
            actor_name: "system".into(),
            client_ip: None,
            user_agent: None,
            request_id: None,
            action: "sync_finished".into(),
            phone_number: None,
            verification_id: None,
            outcome: "succeeded".into(),
            plivo_api_id: None,
            plivo_status: None,
            details: Some("{\"a\":\"é\"}".into()),
            prev_hash: "0".repeat(64),
            hash: "ab".repeat(32),
        };
        let frame = String::from_utf8(syslog_frame(&event, "box")).unwrap();
        let (length, message) = frame.split_once(' ').unwrap();
        assert_eq!(length.parse::<usize>().unwrap(), message.len());
        assert!(message.starts_with("<110>1 2026-12-02T10:00:00.000000Z box callerdesk "));
        assert!(message.contains(&format!(
            " sync_finished [callerdesk@32473 id=\"7\" hash=\"{}\"] {{",
            "ab".repeat(32)
        )));
        let json = &message[message.find("] ").unwrap() + 2..];
        let back: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(back["id"], 7);
    }
}
