//! Notes on revocations: every kind of end keeps its note, and every refused token,
//! watch and event says it.

use super::*;
use kickout::Note;

/// The JSON body `GET /me` answers `token` with.
async fn refusal_body(app: &Router, token: &str) -> serde_json::Value {
    let req = Request::get("/me")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    assert_ne!(res.status(), StatusCode::OK, "refused");
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

fn note(code: &str) -> Note {
    Note::new(code).unwrap()
}

pub async fn revocations_carry_their_notes<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store.clone(), &clock).build();
    // A second handle on the same store: its watches learn through the store's feed.
    let other = K::builder(store, &clock).build();
    let app = app(&auth);
    let mut events = auth.events();
    let web = auth.login("10001", "web").await.unwrap();
    let phone = auth.login("10001", "phone").await.unwrap();
    let laptop = auth.login("10001", "laptop").await.unwrap();
    let tablet = auth.login("10001", "tablet").await.unwrap();
    let banned = auth.login("10002", "web").await.unwrap();
    let plain = auth.login("10003", "web").await.unwrap();
    let watched = other.authenticate(web.token.as_str()).await.unwrap();
    let mut watch = other.watch(&watched);

    let changed = note("password_changed")
        .with_message(r#"You changed your "password"."#)
        .unwrap();
    let noted = auth.with_note(changed.clone());
    assert_eq!(noted.kickout_device("10001", "web").await.unwrap(), 1);
    let body = refusal_body(&app, web.token.as_str()).await;
    assert_eq!(body["error"], "kicked_out");
    assert_eq!(body["note"], "password_changed");
    assert_eq!(body["note_message"], r#"You changed your "password"."#);
    let ended = tokio::time::timeout(secs(5), watch.ended()).await.unwrap();
    assert_eq!(ended, Reason::KickedOut);
    assert_eq!(ended.note(), Some(&changed), "through the feed");

    let lost = note("lost_phone");
    let by_id = auth.with_note(lost.clone());
    assert!(
        by_id
            .kickout_session(phone.session.session_id)
            .await
            .unwrap()
    );
    let body = refusal_body(&app, phone.token.as_str()).await;
    assert_eq!(
        (&body["error"], &body["note"]),
        (&"kicked_out".into(), &"lost_phone".into())
    );
    assert!(body.get("note_message").is_none());

    // "Sign out that device" from another of the user's sessions: invalid_token, with
    // its note.
    let me = auth.authenticate(laptop.token.as_str()).await.unwrap();
    let desk = auth.login("10001", "desk").await.unwrap();
    let remote = auth.with_note(note("signed_out_remotely"));
    assert!(
        remote
            .logout_session(&me, desk.session.session_id)
            .await
            .unwrap()
    );
    let body = refusal_body(&app, desk.token.as_str()).await;
    assert_eq!(body["error"], "invalid_token");
    assert_eq!(body["note"], "signed_out_remotely");

    // "Sign out the others" is the user's own doing: invalid_token, with its note.
    let elsewhere = auth.with_note(note("signed_out_elsewhere"));
    assert_eq!(elsewhere.logout_others(&me).await.unwrap(), 1);
    let body = refusal_body(&app, tablet.token.as_str()).await;
    assert_eq!(body["error"], "invalid_token");
    assert_eq!(body["note"], "signed_out_elsewhere");
    assert!(auth.authenticate(laptop.token.as_str()).await.is_ok());

    let fraud = auth.with_note(note("fraud"));
    assert_eq!(fraud.ban("10002", secs(60)).await.unwrap(), 1);
    let refused = auth.authenticate(banned.token.as_str()).await.unwrap_err();
    assert_eq!(refused.reason(), Reason::Banned);
    assert_eq!(refused.note().map(Note::code), Some("fraud"));
    // Lifted, the ban's tokens stay refused, and still say why.
    auth.unban("10002").await.unwrap();
    let refused = auth.authenticate(banned.token.as_str()).await.unwrap_err();
    assert_eq!(refused.reason(), Reason::KickedOut);
    assert_eq!(refused.note().map(Note::code), Some("fraud"));

    // Without a note, the body has none; `with_note(None)` is the handle itself.
    assert_eq!(auth.with_note(None).kickout("10003").await.unwrap(), 1);
    let body = refusal_body(&app, plain.token.as_str()).await;
    assert_eq!(body["error"], "kicked_out");
    assert!(body.get("note").is_none(), "{body}");

    // A later kickout does not rewrite why a token ended (a later one: in JWT mode two
    // ends within one millisecond cannot be ordered).
    clock.advance(secs(1));
    auth.kickout("10001").await.unwrap();
    let body = refusal_body(&app, web.token.as_str()).await;
    assert_eq!(body["note"], "password_changed");

    let mut notes = Vec::new();
    while let Ok(event) = events.try_recv() {
        match event.kind {
            EventKind::KickedOut { note, .. }
            | EventKind::Banned { note, .. }
            | EventKind::LoggedOut { note, .. } => notes.push(note.map(|n| n.code().to_owned())),
            _ => {}
        }
    }
    let code = |c: &str| Some(c.to_owned());
    assert_eq!(
        notes,
        [
            code("password_changed"),
            code("lost_phone"),
            code("signed_out_remotely"),
            code("signed_out_elsewhere"),
            code("fraud"),
            None,
            None,
        ]
    );
}

pub async fn bad_notes_are_refused_before_any_store_work<S: Stores, K: Kind<S>>(store: S) {
    let clock = clock();
    let auth = K::builder(store, &clock).build();
    let login = auth.login("10001", "web").await.unwrap();
    for bad in ["", "Upper", "with space", "colon:s", &"x".repeat(65)] {
        assert!(
            matches!(Note::new(bad), Err(kickout::InvalidNote { field: "note" })),
            "{bad:?}"
        );
    }
    assert!(note("ok").with_message("two\nlines").is_err());
    assert!(note("ok").with_message(&"m".repeat(129)).is_err());
    assert!(auth.authenticate(login.token.as_str()).await.is_ok());
}
