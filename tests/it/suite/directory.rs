//! The directory of live sessions: paging, exactly-once walks, counts, kickout-all.

use std::collections::{HashMap, HashSet};

use super::*;
use kickout::SessionId;

/// Every session id a walk in pages of `limit` lists, in order.
async fn walk<S: Stores, M: Mode<S>>(
    auth: &Auth<S, M>,
    limit: usize,
    class: Option<&str>,
) -> Vec<SessionId> {
    let (mut ids, mut cursor) = (Vec::new(), None::<String>);
    for _ in 0..10_000 {
        let page = auth.online(cursor.as_deref(), limit, class).await.unwrap();
        assert!(page.sessions.len() <= limit);
        ids.extend(page.sessions.iter().map(|s| s.info.session_id));
        match page.next {
            Some(next) => cursor = Some(next.to_string()),
            None => return ids,
        }
    }
    panic!("the walk did not end");
}

pub async fn the_directory_lists_every_live_session_once<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock)
        .device_class("ios", "mobile")
        .device_class("android", "mobile")
        .build();
    assert!(walk(&auth, 10, None).await.is_empty(), "empty at first");
    let mut live: HashMap<SessionId, &str> = HashMap::new();
    let devices = ["ios", "android", "web", "mac"];
    for u in 0..40 {
        for device in devices.iter().take(u % 4 + 1) {
            let login = auth.login(&format!("u{u}"), device).await.unwrap();
            live.insert(login.session.session_id, device);
        }
    }
    // Some end: a kickout, a logout, one session by id.
    for id in auth
        .sessions("u3")
        .await
        .unwrap()
        .iter()
        .map(|s| s.info.session_id)
    {
        live.remove(&id);
    }
    auth.kickout("u3").await.unwrap();
    let gone = auth.login("u5", "web").await.unwrap();
    auth.logout(gone.token.as_str()).await.unwrap();
    let by_id = auth.sessions("u7").await.unwrap()[0].info.session_id;
    auth.kickout_session(by_id).await.unwrap();
    live.remove(&by_id);
    for limit in [1, 7, 1000] {
        let ids = walk(&auth, limit, None).await;
        let unique: HashSet<_> = ids.iter().copied().collect();
        assert_eq!(unique.len(), ids.len(), "listed once (limit {limit})");
        let want: HashSet<_> = live.keys().copied().collect();
        assert_eq!(unique, want, "limit {limit}");
    }
    let mobile: HashSet<_> = walk(&auth, 5, Some("mobile")).await.into_iter().collect();
    let want: HashSet<_> = live
        .iter()
        .filter(|(_, d)| **d == "ios" || **d == "android")
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(mobile, want);
    let count = auth.online_count().await.unwrap();
    assert_eq!(count.sessions, live.len());
    assert_eq!(count.users, 39, "u3 has none left");
    // Past their lifetime, sessions leave the directory.
    clock.advance(secs(3601));
    assert!(walk(&auth, 50, None).await.is_empty());
    assert_eq!(auth.online_count().await.unwrap().sessions, 0);
}

pub async fn a_walk_lists_sessions_live_throughout_exactly_once<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock).build();
    let mut stable = HashSet::new();
    for u in 0..60 {
        stable.insert(
            auth.login(&format!("s{u}"), "web")
                .await
                .unwrap()
                .session
                .session_id,
        );
    }
    let mut churn = Vec::new();
    let (mut seen, mut cursor) = (Vec::new(), None::<String>);
    let mut n = 0;
    loop {
        let page = auth.online(cursor.as_deref(), 4, None).await.unwrap();
        seen.extend(page.sessions.iter().map(|s| s.info.session_id));
        // Logins and logouts between the pages.
        n += 1;
        churn.push(auth.login(&format!("c{n}"), "web").await.unwrap());
        if n % 2 == 0 {
            let old = churn.remove(0);
            auth.logout(old.token.as_str()).await.unwrap();
        }
        match page.next {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    let unique: HashSet<_> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "nothing twice");
    assert!(stable.is_subset(&unique), "every session live throughout");
}

pub async fn kickout_all_ends_every_session<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store.clone(), &clock).build();
    // Another instance on the same store.
    let other = K::builder(store, &clock).build();
    let app = app(&other);
    let mut tokens = Vec::new();
    for u in 0..25 {
        for d in ["web", "phone"] {
            tokens.push(auth.login(&format!("k{u}"), d).await.unwrap().token);
        }
    }
    let watched = other.authenticate(tokens[0].as_str()).await.unwrap();
    let mut watch = other.watch(&watched);
    assert_eq!(auth.kickout_all().await.unwrap(), 50);
    for token in &tokens {
        assert_eq!(me(&app, token.as_str()).await, err(Reason::KickedOut));
    }
    let ended = tokio::time::timeout(secs(5), watch.ended()).await.unwrap();
    assert_eq!(ended, Reason::KickedOut);
    assert_eq!(auth.online_count().await.unwrap().sessions, 0);
    let fresh = auth.login("k1", "web").await.unwrap();
    assert_eq!(me(&app, fresh.token.as_str()).await, Ok("k1:web".into()));
    assert_eq!(auth.online_count().await.unwrap().sessions, 1);
    let noted = auth.with_note(kickout::Note::new("incident").unwrap());
    assert_eq!(noted.kickout_all().await.unwrap(), 1);
    let refused = other.authenticate(fresh.token.as_str()).await.unwrap_err();
    assert_eq!(refused.note().map(kickout::Note::code), Some("incident"));
}

pub async fn bad_directory_requests_are_refused<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock).build();
    auth.login("10001", "web").await.unwrap();
    for limit in [0, 1001] {
        assert!(matches!(
            auth.online(None, limit, None).await,
            Err(Error::InvalidInput { field: "limit" })
        ));
    }
    // The last two: a session id of another tag than the cursor's (tag 0), and a
    // spelling of a `jti` no page writes (its padding).
    for cursor in [
        "",
        "nope",
        "zzzz.x",
        "0001.a b",
        &"0".repeat(100),
        "0001.AAAAAAAAAAAAAAAAAAA",
        "0001.AAAAAAAAAAAAAAA=",
    ] {
        assert!(
            matches!(
                auth.online(Some(cursor), 10, None).await,
                Err(Error::InvalidInput { field: "cursor" })
            ),
            "{cursor:?}"
        );
    }
    assert!(auth.online(None, 10, Some("")).await.is_err());
    // A cursor of the right shape past everything: an empty last page.
    assert!(auth.online(Some("ffff.~"), 10, None).await.is_err());
    assert!(
        auth.online(Some("ffff.zzzz"), 10, None).await.is_err(),
        "no such member"
    );
    let page = auth
        .online(Some("ffff.________________"), 10, None)
        .await
        .unwrap();
    assert!(page.sessions.len() <= 1);
}

pub async fn a_page_stops_short_rather_than_read_everything<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock).ttl(secs(60)).build();
    for u in 0..100 {
        auth.login(&format!("x{u}"), "web").await.unwrap();
    }
    // Past their lifetime by this clock, not yet purged: every entry is skipped.
    clock.advance(secs(61));
    let page = auth.online(None, 2, None).await.unwrap();
    assert!(page.sessions.is_empty());
    assert!(
        page.next.is_some(),
        "a page of 2 looks at a bounded number of entries, then hands out a cursor"
    );
    assert!(walk(&auth, 2, None).await.is_empty());
}

/// Sessions idle past their timeout leave the directory, and a walk in pages of any
/// size still lists every live one exactly once (a store that counts liveness its own
/// way must not lose the sessions after one it had to skip).
pub async fn idle_sessions_leave_the_directory_and_walks_go_on<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::idle(K::builder(store, &clock), secs(60))
        .ttl(secs(3600))
        .build();
    let app = app(&auth);
    let mut logins = Vec::new();
    for u in 0..8 {
        logins.push(auth.login(&format!("i{u}"), "web").await.unwrap());
    }
    clock.advance(secs(40));
    for login in logins.iter().step_by(2) {
        assert!(me(&app, login.token.as_str()).await.is_ok());
    }
    // The untouched half is idle for 80 s now, past the 60 s timeout.
    clock.advance(secs(40));
    let live: HashSet<SessionId> = logins
        .iter()
        .step_by(2)
        .map(|l| l.session.session_id)
        .collect();
    for limit in [1, 2, 3, 10] {
        let got = walk(&auth, limit, None).await;
        assert_eq!(got.len(), live.len(), "pages of {limit}");
        assert_eq!(
            got.into_iter().collect::<HashSet<_>>(),
            live,
            "pages of {limit}"
        );
    }
}

/// Both modes on one store: a ban is the user's (it refuses logins in both modes), so
/// through either mode's handle it ends the user's sessions and refresh chains of both.
/// Before, a ban through one mode left the other's tokens working and refreshing.
pub async fn a_ban_ends_the_users_sessions_of_both_modes<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let sessions = Session::builder(store.clone(), &clock)
        .refresh_tokens(secs(3600))
        .build();
    let tokens = Jwt::builder(store, &clock)
        .refresh_tokens(secs(3600))
        .build();
    for (user, through_jwt) in [("bothban1", false), ("bothban2", true)] {
        let web = sessions.login(user, "web").await.unwrap();
        let api = tokens.login(user, "api").await.unwrap();
        let banned = if through_jwt {
            tokens.ban(user, secs(600)).await
        } else {
            sessions.ban(user, secs(600)).await
        };
        assert_eq!(banned.unwrap(), 2, "{user}");
        let refused = sessions.authenticate(web.token.as_str()).await.unwrap_err();
        assert_eq!(refused.reason(), Reason::Banned, "{user}");
        let refused = tokens.authenticate(api.token.as_str()).await.unwrap_err();
        assert_eq!(refused.reason(), Reason::Banned, "{user}");
        let chain = |login: &kickout::Login| {
            let refresh = login.refresh.as_ref().expect("a refresh token");
            refresh.token.as_str().to_owned()
        };
        assert!(sessions.refresh(&chain(&web)).await.is_err(), "{user}");
        assert!(tokens.refresh(&chain(&api)).await.is_err(), "{user}");
        assert!(sessions.login(user, "web").await.is_err());
        assert!(tokens.login(user, "api").await.is_err());
    }
}

/// Both modes on one store (`AnyStore` invites it): each mode's listing, count and
/// incident switch see all of its own sessions and none of the other's, whatever the
/// other mode writes in between (a JWT write dropped the user's session-mode entries
/// from the memory store's directory; Redis pages dropped the other mode's members).
pub async fn both_modes_on_one_store_keep_each_others_directory<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let sessions = Session::builder(store.clone(), &clock).build();
    let tokens = Jwt::builder(store, &clock).build();
    let (mut by_session, mut by_jwt) = (Vec::new(), Vec::new());
    for i in 0..20 {
        // The same users in both modes, session first: the JWT login writes after it.
        let user = format!("both{i}");
        by_session.push(sessions.login(&user, "web").await.unwrap().token);
        by_jwt.push(tokens.login(&user, "api").await.unwrap().token);
    }
    for (listed, counted) in [
        (
            sessions.online(None, 1000, None).await.unwrap(),
            sessions.online_count().await.unwrap(),
        ),
        (
            tokens.online(None, 1000, None).await.unwrap(),
            tokens.online_count().await.unwrap(),
        ),
    ] {
        assert_eq!(listed.sessions.len(), 20);
        assert_eq!((counted.sessions, counted.users), (20, 20));
    }
    assert_eq!(sessions.kickout_all().await.unwrap(), 20);
    assert_eq!(tokens.kickout_all().await.unwrap(), 20);
    for token in &by_session {
        let refused = sessions.authenticate(token.as_str()).await.unwrap_err();
        assert_eq!(refused.reason(), Reason::KickedOut);
    }
    for token in &by_jwt {
        let refused = tokens.authenticate(token.as_str()).await.unwrap_err();
        assert_eq!(refused.reason(), Reason::KickedOut);
    }
}
