//! Restrictions kept by the store: set, replaced, bounded, listed, lifted by hand and by
//! time, per user, with nothing else changed (issue 21's first steps: no route reads
//! them yet).

use super::*;
use kickout::limits::MAX_RESTRICTIONS;

pub async fn restrictions_hold_until_they_lift<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock).build();
    let app = app(&auth);
    let session = auth.login("10001", "web").await.unwrap();
    let note = kickout::Note::new("spam").unwrap();
    let set = auth
        .with_note(note.clone())
        .restrict("10001", "content", 2, secs(60))
        .await
        .unwrap();
    assert_eq!(
        (set.scope.as_str(), set.level.get(), set.until_ms),
        ("content", 2, T0 + 60_000)
    );
    let held = auth.restrictions("10001").await.unwrap();
    assert_eq!(held, vec![set.clone()]);
    assert_eq!(held[0].note.as_ref(), Some(&note));
    // The sessions are not ended.
    assert!(me(&app, session.token.as_str()).await.is_ok());
    // Another user is not restricted; the latest word per scope stands.
    assert!(auth.restrictions("10002").await.unwrap().is_empty());
    auth.restrict("10001", "content", 1, secs(30))
        .await
        .unwrap();
    let held = auth.restrictions("10001").await.unwrap();
    assert_eq!(
        (held.len(), held[0].level.get(), held[0].note.as_ref()),
        (1, 1, None)
    );
    // It lifts by itself.
    clock.advance(secs(30));
    assert!(auth.restrictions("10001").await.unwrap().is_empty());
    assert!(!auth.unrestrict("10001", "content").await.unwrap());
    // And by hand.
    auth.restrict("10001", "chat", 3, secs(60)).await.unwrap();
    assert!(auth.unrestrict("10001", "chat").await.unwrap());
    assert!(auth.restrictions("10001").await.unwrap().is_empty());
}

pub async fn bad_restrictions_change_nothing<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock).build();
    let field = |r: Result<kickout::restriction::Restriction, Error>| match r {
        Err(Error::InvalidInput { field }) => field,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        field(auth.restrict("1", "Content", 1, secs(60)).await),
        "scope"
    );
    assert_eq!(field(auth.restrict("1", "", 1, secs(60)).await), "scope");
    assert_eq!(
        field(auth.restrict("1", &"a".repeat(65), 1, secs(60)).await),
        "scope"
    );
    assert_eq!(
        field(auth.restrict("1", "content", 0, secs(60)).await),
        "level"
    );
    assert_eq!(
        field(auth.restrict("1", "content", 6, secs(60)).await),
        "level"
    );
    assert_eq!(
        field(auth.restrict("1", "content", 1, Duration::ZERO).await),
        "duration"
    );
    assert_eq!(
        field(auth.restrict("", "content", 1, secs(60)).await),
        "user_id"
    );
    assert!(auth.restrictions("1").await.unwrap().is_empty());
    // A bounded number of scopes per user: one more is refused, an existing one changes.
    for i in 0..MAX_RESTRICTIONS {
        auth.restrict("1", &format!("s{i}"), 1, secs(60))
            .await
            .unwrap();
    }
    assert_eq!(
        field(auth.restrict("1", "extra", 1, secs(60)).await),
        "scopes"
    );
    auth.restrict("1", "s0", 5, secs(120)).await.unwrap();
    let held = auth.restrictions("1").await.unwrap();
    assert_eq!(held.len(), MAX_RESTRICTIONS);
    assert!(held.iter().all(|r| r.scope.as_str() != "extra"));
    // Once they lift, there is room again.
    clock.advance(secs(60));
    auth.restrict("1", "extra", 1, secs(60)).await.unwrap();
    let scopes: Vec<_> = auth
        .restrictions("1")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.scope.to_string())
        .collect();
    assert_eq!(scopes, vec!["extra".to_owned(), "s0".to_owned()]);
}
