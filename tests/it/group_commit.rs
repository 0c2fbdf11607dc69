//! Group commit: writes that arrive together share one transaction, each in its own savepoint,
//! and a write that fails takes only itself down.

use callerdesk::{
    audit::{self, Action, ChainStatus, Outcome, Who},
    clock::Clock,
    db::Db,
};
use std::sync::Arc;

async fn event_ids(db: &Db) -> Vec<(i64, Option<String>)> {
    sqlx::query_as("SELECT id, phone_number FROM audit_events ORDER BY id")
        .fetch_all(&db.reader)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_failing_write_in_a_group_leaves_the_rest_committed() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("callerdesk.db")).await.unwrap();
    let now = Clock::system().now();
    let before = db.groups_committed();

    // One write holds the writer while 30 more queue behind it: those 30 become one group,
    // a third of them events on their own.
    let holding = db.write().await.unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(31));
    let writes: Vec<_> = (0..30)
        .map(|i| {
            let (db, barrier) = (db.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let number = format!("+1202555{i:04}");
                let event = Who::system()
                    .event(Action::CallerIdUpdated, Outcome::Succeeded)
                    .with_number(&number);
                if i % 3 == 2 {
                    // An event on its own, which the committer chains and inserts itself,
                    // between writes that run their own statements.
                    let stored = db.append(now, event).await?;
                    return Ok(Some(stored));
                }
                let mut w = db.write().await?;
                audit::append(&mut w, now, event).await?;
                if i == 13 {
                    // A constraint violation after its event: the whole write must go.
                    sqlx::query(
                        "INSERT INTO subaccounts (auth_id, name, enabled, listed_at) VALUES ('SA', 'x', 2, 't')",
                    )
                    .execute(&mut *w)
                    .await?;
                }
                w.commit().await.map(|()| None)
            })
        })
        .collect();
    barrier.wait().await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    holding.commit().await.unwrap();

    let mut failed = Vec::new();
    let mut answered = Vec::new();
    for (i, write) in writes.into_iter().enumerate() {
        match write.await.unwrap() {
            Ok(stored) => answered.extend(stored),
            Err(_) => failed.push(i),
        }
    }
    assert_eq!(failed, vec![13], "only the bad write fails");
    assert_eq!(
        db.groups_committed() - before,
        2,
        "the held write's group, then one group of 30"
    );
    let events = event_ids(&db).await;
    assert_eq!(events.len(), 29);
    assert!(
        events
            .iter()
            .enumerate()
            .all(|(i, (id, _))| *id == i as i64 + 1),
        "consecutive ids: {events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|(_, n)| n.as_deref() == Some("+12025550013")),
        "the failed write's event was rolled back"
    );
    let status = audit::verify_chain(&db.reader).await.unwrap();
    assert_eq!(status, ChainStatus::Intact { events: 29 });
    // The events appended on their own were answered with what was stored.
    assert_eq!(answered.len(), 10);
    for stored in answered {
        let (number, hash): (Option<String>, String) =
            sqlx::query_as("SELECT phone_number, hash FROM audit_events WHERE id = ?")
                .bind(stored.id)
                .fetch_one(&db.reader)
                .await
                .unwrap();
        assert_eq!((number, hash), (stored.phone_number, stored.hash));
    }
}

#[tokio::test]
async fn a_dropped_write_is_rolled_back_and_the_writer_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&dir.path().join("callerdesk.db")).await.unwrap();
    let now = Clock::system().now();
    {
        let mut w = db.write().await.unwrap();
        let event = Who::system().event(Action::CallerIdDeleted, Outcome::Requested);
        audit::append(&mut w, now, event).await.unwrap();
        // Dropped without commit, as when a request is cancelled.
    }
    let mut w = db.write().await.unwrap();
    let event = Who::system().event(Action::CallerIdDeleted, Outcome::Succeeded);
    audit::append(&mut w, now, event).await.unwrap();
    w.commit().await.unwrap();
    let events = event_ids(&db).await;
    assert_eq!(events.len(), 1);
}
