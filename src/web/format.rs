//! How times and numbers are shown to people.

use time::OffsetDateTime;

use crate::db::{Timestamp, parse_timestamp};

/// "just now", "3 minutes ago", "in 12 minutes", "2 days ago".
pub fn relative(now: OffsetDateTime, then: OffsetDateTime) -> String {
    let seconds = (then - now).whole_seconds();
    let (amount, future) = (seconds.unsigned_abs(), seconds > 0);
    let (n, unit) = match amount {
        0..=44 => {
            return if future {
                "in a few seconds".into()
            } else {
                "just now".into()
            };
        }
        45..=5399 => (amount.div_ceil(60).max(1), "minute"),
        5400..=86_399 => (amount / 3600, "hour"),
        _ => (amount / 86_400, "day"),
    };
    let unit = if n == 1 {
        unit.to_owned()
    } else {
        format!("{unit}s")
    };
    if future {
        format!("in {n} {unit}")
    } else {
        format!("{n} {unit} ago")
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// "26 Nov 2026, 14:05 UTC"
pub fn exact(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{} {} {}, {:02}:{:02} UTC",
        t.day(),
        MONTHS[usize::from(u8::from(t.month()) - 1)],
        t.year(),
        t.hour(),
        t.minute()
    )
}

/// "26 Nov 2026, 14:05:09 UTC": the audit log's times, to the second, in the zone its date
/// filters use.
pub fn exact_seconds(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{} {} {}, {:02}:{:02}:{:02} UTC",
        t.day(),
        MONTHS[usize::from(u8::from(t.month()) - 1)],
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A stored time shown both ways: relative to now, exact, and machine-readable. Each form is
/// made only when a page prints it (a list of 50 rows prints one of its four times).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct When {
    now: OffsetDateTime,
    at: OffsetDateTime,
}

impl When {
    /// A time as stored (an audit event keeps its own text).
    pub fn from_stored(now: OffsetDateTime, stored: &str) -> Option<Self> {
        let t = parse_timestamp(stored)?;
        Some(Self::from_time(now, t))
    }

    /// A time read from a row.
    pub fn of(now: OffsetDateTime, at: Timestamp) -> Self {
        Self::from_time(now, at.time())
    }

    pub fn from_time(now: OffsetDateTime, at: OffsetDateTime) -> Self {
        Self { now, at }
    }

    /// "3 minutes ago"
    pub fn ago(&self) -> String {
        relative(self.now, self.at)
    }

    /// "26 Nov 2026, 14:05 UTC"
    pub fn exact(&self) -> String {
        exact(self.at)
    }

    /// "26 Nov 2026, 14:05:09 UTC"
    pub fn exact_seconds(&self) -> String {
        exact_seconds(self.at)
    }

    /// "2026-11-26T14:05:00.000000Z", for `<time datetime>`.
    pub fn iso(&self) -> String {
        crate::db::timestamp(self.at)
    }
}

/// "1,204"
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn relative_times_read_naturally() {
        let now = datetime!(2026-11-26 12:00 UTC);
        assert_eq!(relative(now, now), "just now");
        assert_eq!(
            relative(now, datetime!(2026-11-26 11:58 UTC)),
            "2 minutes ago"
        );
        assert_eq!(
            relative(now, datetime!(2026-11-26 11:59 UTC)),
            "1 minute ago"
        );
        assert_eq!(
            relative(now, datetime!(2026-11-26 12:12 UTC)),
            "in 12 minutes"
        );
        assert_eq!(
            relative(now, datetime!(2026-11-26 09:00 UTC)),
            "3 hours ago"
        );
        assert_eq!(relative(now, datetime!(2026-11-24 12:00 UTC)), "2 days ago");
        assert_eq!(
            exact(datetime!(2026-11-26 14:05 UTC)),
            "26 Nov 2026, 14:05 UTC"
        );
        assert_eq!(
            exact(datetime!(2027-01-05 03:07 UTC)),
            "5 Jan 2027, 03:07 UTC"
        );
        assert_eq!(
            exact(datetime!(2026-12-31 23:30 -01:00)),
            "1 Jan 2027, 00:30 UTC"
        );
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1204), "1,204");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
