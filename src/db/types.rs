//! How domain types cross the database boundary: each is stored as text and read back as the
//! type, so no row carries a status or a number as a plain string for the code above to
//! re-parse. An enum's stored words are its `as_str()`; reading a word it does not know is an
//! error, not a guess.

use std::borrow::Cow;

use sqlx::{
    Decode, Encode, Sqlite, Type,
    encode::IsNull,
    error::BoxDynError,
    sqlite::{SqliteArgumentValue, SqliteTypeInfo, SqliteValueRef},
};

use crate::domain::{Channel, PhoneNumber, Role, VerificationStatus};

use super::sync_runs::{SyncRunStatus, Trigger};

/// Stores each listed enum as its `as_str()`, and reads it back by finding the one of its
/// `ALL` with that word.
macro_rules! stored_as_text {
    ($($ty:ty),+ $(,)?) => {$(
        impl Type<Sqlite> for $ty {
            fn type_info() -> SqliteTypeInfo {
                <str as Type<Sqlite>>::type_info()
            }
        }

        impl<'q> Encode<'q, Sqlite> for $ty {
            fn encode_by_ref(
                &self,
                args: &mut Vec<SqliteArgumentValue<'q>>,
            ) -> Result<IsNull, BoxDynError> {
                args.push(SqliteArgumentValue::Text(Cow::Borrowed(self.as_str())));
                Ok(IsNull::No)
            }
        }

        impl<'r> Decode<'r, Sqlite> for $ty {
            fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
                let word = <&str as Decode<Sqlite>>::decode(value)?;
                <$ty>::ALL
                    .into_iter()
                    .find(|known| known.as_str() == word)
                    .ok_or_else(|| format!("{word:?} is not a {}", stringify!($ty)).into())
            }
        }
    )+};
}

stored_as_text!(Role, Channel, VerificationStatus, SyncRunStatus, Trigger);

impl Type<Sqlite> for PhoneNumber {
    fn type_info() -> SqliteTypeInfo {
        <str as Type<Sqlite>>::type_info()
    }
}

impl<'q> Encode<'q, Sqlite> for PhoneNumber {
    fn encode_by_ref(
        &self,
        args: &mut Vec<SqliteArgumentValue<'q>>,
    ) -> Result<IsNull, BoxDynError> {
        args.push(SqliteArgumentValue::Text(Cow::Owned(
            self.as_str().to_owned(),
        )));
        Ok(IsNull::No)
    }
}

impl<'r> Decode<'r, Sqlite> for PhoneNumber {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<Sqlite>>::decode(value)?;
        Ok(PhoneNumber::from_e164(text)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;

    #[tokio::test]
    async fn every_stored_word_reads_back_as_what_was_written() {
        let dir = tempfile::TempDir::new().unwrap();
        let db = Db::open(&dir.path().join("t.db")).await.unwrap();
        async fn round<T>(db: &Db, value: T) -> T
        where
            T: for<'q> Encode<'q, Sqlite>
                + for<'r> Decode<'r, Sqlite>
                + Type<Sqlite>
                + Send
                + Unpin
                + 'static,
        {
            sqlx::query_scalar("SELECT ?")
                .bind(value)
                .fetch_one(&db.reader)
                .await
                .unwrap()
        }
        for role in Role::ALL {
            assert_eq!(round(&db, role).await, role);
        }
        for channel in Channel::ALL {
            assert_eq!(round(&db, channel).await, channel);
        }
        for status in VerificationStatus::ALL {
            assert_eq!(round(&db, status).await, status);
        }
        for status in SyncRunStatus::ALL {
            assert_eq!(round(&db, status).await, status);
        }
        for trigger in Trigger::ALL {
            assert_eq!(round(&db, trigger).await, trigger);
        }
        let number = PhoneNumber::from_e164("+12025550143").unwrap();
        assert_eq!(round(&db, number.clone()).await, number);
        // A word that is not one of ours is an error, not a default.
        let unknown: Result<VerificationStatus, _> = sqlx::query_scalar("SELECT 'paused'")
            .fetch_one(&db.reader)
            .await;
        assert!(unknown.is_err());
    }
}
