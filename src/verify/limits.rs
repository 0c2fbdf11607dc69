//! How often codes may be sent: once a minute per verification, a number of times per number
//! per day and per person per hour. Each send takes a slot before Plivo is asked (a claim).

use std::time::Duration;
use time::OffsetDateTime;

use sqlx::SqliteConnection;

use crate::{
    Result,
    db::{Timestamp, parse_timestamp, verifications},
    domain::{Channel, PhoneNumber},
};

/// The limits (configurable; defaults as in PRODUCT.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub resend_cooldown: Duration,
    pub per_number_per_day: u32,
    pub per_person_per_hour: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            resend_cooldown: Duration::from_secs(60),
            per_number_per_day: 10,
            per_person_per_hour: 30,
        }
    }
}

/// A send refused for now, with how long to wait and why, in plain words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limited {
    pub wait: Duration,
    pub reason: String,
}

impl Limited {
    /// "Try again in 3 minutes." (rounded up; seconds under a minute)
    pub fn wait_text(&self) -> String {
        Self::duration_text(self.wait)
    }

    /// "42 seconds", "3 minutes", "2 hours" (rounded up); "a minute" for exactly one.
    fn duration_text(wait: Duration) -> String {
        if wait == Duration::from_secs(60) {
            return "a minute".to_owned();
        }
        let secs = wait.as_secs().max(1);
        if secs < 60 {
            format!("{secs} second{}", if secs == 1 { "" } else { "s" })
        } else if secs < 3600 {
            let m = secs.div_ceil(60);
            format!("{m} minute{}", if m == 1 { "" } else { "s" })
        } else {
            let h = secs.div_ceil(3600);
            format!("{h} hour{}", if h == 1 { "" } else { "s" })
        }
    }

    pub fn message(&self) -> String {
        format!("{} Try again in {}.", self.reason, self.wait_text())
    }
}

fn until(now: OffsetDateTime, at: OffsetDateTime) -> Duration {
    Duration::try_from(at - now).unwrap_or(Duration::ZERO)
}

/// A send slot taken by [`Limits::claim`]: a row of `verification_sends`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendClaim(i64);

impl Limits {
    /// Takes a slot for sending a code for verification `id` to `number` by `user_id`, unless a
    /// limit refuses it: the verification's cooldown since its last send, the number's sends in
    /// 24 hours, the person's in an hour. `conn` must be the writer inside a transaction begun
    /// with `BEGIN IMMEDIATE`: the counts and the slot are one step, so sends asked for at the
    /// same moment are counted one after another. The caller commits.
    pub async fn claim(
        &self,
        conn: &mut SqliteConnection,
        id: &str,
        number: &PhoneNumber,
        user_id: i64,
        channel: Channel,
        now: OffsetDateTime,
    ) -> Result<Result<SendClaim, Limited>> {
        let cooldown =
            time::Duration::try_from(self.resend_cooldown).unwrap_or(time::Duration::MINUTE);
        let last: Option<String> = sqlx::query_scalar(
            "SELECT MAX(sent_at) FROM verification_sends WHERE verification_id = ?",
        )
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
        if let Some(last) = last.as_deref().and_then(parse_timestamp) {
            if last + cooldown > now {
                return Ok(Err(Limited {
                    wait: until(now, last + cooldown),
                    reason: format!(
                        "A code was sent less than {} ago; give it a moment to arrive.",
                        Limited::duration_text(self.resend_cooldown)
                    ),
                }));
            }
        }
        let day = time::Duration::DAY;
        let sends =
            verifications::sends_for_number(&mut *conn, number, Timestamp::from(now - day)).await?;
        if let Some(oldest) = over(&sends, self.per_number_per_day) {
            return Ok(Err(Limited {
                wait: until(now, oldest + day),
                reason: format!(
                    "This number has been sent {} codes in the last 24 hours, the most allowed.",
                    self.per_number_per_day
                ),
            }));
        }
        let hour = time::Duration::HOUR;
        let sends =
            verifications::sends_by_user(&mut *conn, user_id, Timestamp::from(now - hour)).await?;
        if let Some(oldest) = over(&sends, self.per_person_per_hour) {
            return Ok(Err(Limited {
                wait: until(now, oldest + hour),
                reason: format!(
                    "You have sent {} codes in the last hour, the most allowed.",
                    self.per_person_per_hour
                ),
            }));
        }
        let slot =
            verifications::record_send(conn, id, number, user_id, channel, Timestamp::from(now))
                .await?;
        Ok(Ok(SendClaim(slot)))
    }

    /// Gives a slot back: Plivo certainly sent nothing for it.
    pub async fn release(conn: &mut SqliteConnection, claim: SendClaim) -> Result<()> {
        verifications::forget_send(conn, claim.0).await
    }
}

/// With `limit` or more sends in the window (oldest first), the send that has to age out
/// before another is allowed.
fn over(sends: &[Timestamp], limit: u32) -> Option<OffsetDateTime> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if sends.len() < limit {
        return None;
    }
    sends.get(sends.len() - limit).map(|s| s.time())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_read_naturally() {
        let l = |s| Limited {
            wait: Duration::from_secs(s),
            reason: String::new(),
        };
        assert_eq!(l(42).wait_text(), "42 seconds");
        assert_eq!(l(61).wait_text(), "2 minutes");
        assert_eq!(l(3601).wait_text(), "2 hours");
    }

    #[test]
    fn the_oldest_send_that_must_age_out_is_found() {
        let sends: Vec<Timestamp> = (0..5)
            .map(|i| Timestamp::parse(&format!("2026-11-26T0{i}:00:00.000000Z")).unwrap())
            .collect();
        assert_eq!(over(&sends, 6), None);
        assert_eq!(
            over(&sends, 5),
            parse_timestamp("2026-11-26T00:00:00.000000Z")
        );
        assert_eq!(
            over(&sends, 2),
            parse_timestamp("2026-11-26T03:00:00.000000Z")
        );
    }
}
