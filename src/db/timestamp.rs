//! Times as every table stores them: UTC, RFC 3339 with exactly six fractional digits
//! (`2026-11-26T00:26:36.123456Z`), which sort as text, so SQL compares them with `<`.
//! [`Timestamp`] is that form as a type: rows read it, statements bind it, and it is written
//! and read by hand (pages show one per row, and `time`'s general formatter and parser were a
//! tenth of the audit page's work).

use std::{borrow::Cow, fmt};

use sqlx::{
    Decode, Encode, Sqlite, Type,
    encode::IsNull,
    error::BoxDynError,
    sqlite::{SqliteArgumentValue, SqliteTypeInfo, SqliteValueRef},
};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// A moment, in UTC to the microsecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl From<OffsetDateTime> for Timestamp {
    fn from(t: OffsetDateTime) -> Self {
        let t = t.to_offset(UtcOffset::UTC);
        // Kept to what is stored, so a value compares the same before and after a round trip.
        let micros = t.nanosecond() / 1_000 * 1_000;
        Self(t.replace_nanosecond(micros).unwrap_or(t))
    }
}

impl Timestamp {
    /// The moment itself.
    pub fn time(self) -> OffsetDateTime {
        self.0
    }

    /// Reads the stored form (any RFC 3339 time, more slowly, for text written elsewhere).
    pub fn parse(s: &str) -> Option<Self> {
        Self::parse_stored(s).or_else(|| {
            OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .ok()
                .map(Self::from)
        })
    }

    /// `YYYY-MM-DDTHH:MM:SS.ffffffZ` exactly.
    fn parse_stored(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 27
            || b[4] != b'-'
            || b[7] != b'-'
            || b[10] != b'T'
            || b[13] != b':'
            || b[16] != b':'
            || b[19] != b'.'
            || b[26] != b'Z'
        {
            return None;
        }
        let num = |from: usize, to: usize| -> Option<u32> {
            b[from..to].iter().try_fold(0u32, |n, &c| {
                c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
            })
        };
        let year = i32::try_from(num(0, 4)?).ok()?;
        let month = Month::try_from(u8::try_from(num(5, 7)?).ok()?).ok()?;
        let day = u8::try_from(num(8, 10)?).ok()?;
        let date = Date::from_calendar_date(year, month, day).ok()?;
        let time = Time::from_hms_micro(
            u8::try_from(num(11, 13)?).ok()?,
            u8::try_from(num(14, 16)?).ok()?,
            u8::try_from(num(17, 19)?).ok()?,
            num(20, 26)?,
        )
        .ok()?;
        Some(Self(PrimitiveDateTime::new(date, time).assume_utc()))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.microsecond()
        )
    }
}

impl Type<Sqlite> for Timestamp {
    fn type_info() -> SqliteTypeInfo {
        <str as Type<Sqlite>>::type_info()
    }
}

impl<'q> Encode<'q, Sqlite> for Timestamp {
    fn encode_by_ref(
        &self,
        args: &mut Vec<SqliteArgumentValue<'q>>,
    ) -> Result<IsNull, BoxDynError> {
        args.push(SqliteArgumentValue::Text(Cow::Owned(self.to_string())));
        Ok(IsNull::No)
    }
}

impl<'r> Decode<'r, Sqlite> for Timestamp {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<Sqlite>>::decode(value)?;
        Timestamp::parse(text).ok_or_else(|| format!("{text:?} is not a stored time").into())
    }
}

/// A time in the stored form, as text (for the audit log, whose events keep their text).
pub fn timestamp(t: OffsetDateTime) -> String {
    Timestamp::from(t).to_string()
}

/// Reads a stored time back.
pub fn parse_timestamp(s: &str) -> Option<OffsetDateTime> {
    Timestamp::parse(s).map(Timestamp::time)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn timestamps_are_utc_with_microseconds_and_round_trip() {
        let t = datetime!(2026-11-26 01:02:03.123456789 +02:00);
        let s = timestamp(t);
        assert_eq!(s, "2026-11-25T23:02:03.123456Z");
        assert_eq!(
            parse_timestamp(&s).unwrap(),
            datetime!(2026-11-25 23:02:03.123456 UTC)
        );
        assert_eq!(
            parse_timestamp("2026-11-25T23:02:03Z").unwrap(),
            datetime!(2026-11-25 23:02:03 UTC)
        );
        assert_eq!(parse_timestamp("2026-13-25T23:02:03.000000Z"), None);
        assert_eq!(parse_timestamp("yesterday"), None);
    }

    proptest::proptest! {
        /// Stored times are compared as text in SQL, so the hand-written format must match the
        /// one every existing row was written with, and read back to the same moment.
        #[test]
        fn timestamps_match_the_format_rows_were_written_with(
            seconds in 0_i64..7_258_118_400, nanos in 0_u32..1_000_000_000, offset in -43_200_i32..43_200
        ) {
            let t = OffsetDateTime::from_unix_timestamp(seconds).unwrap()
                .replace_nanosecond(nanos).unwrap()
                .to_offset(UtcOffset::from_whole_seconds(offset).unwrap());
            let written = t.to_offset(UtcOffset::UTC).format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
            )).unwrap();
            proptest::prop_assert_eq!(timestamp(t), written.clone());
            let back = Timestamp::parse(&written).unwrap();
            proptest::prop_assert_eq!(back, Timestamp::from(t));
            proptest::prop_assert_eq!(back.to_string(), written);
        }
    }
}
