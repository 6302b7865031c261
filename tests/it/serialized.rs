//! Feature `serde`: what handlers return serializes, and what comes back in (a session
//! id in a path, a cursor in a query, a stored record) passes the same checks as the
//! crate's own constructors.

#![cfg(feature = "serde")]

use kickout::restriction::{Level, Scope};
use kickout::store::MemoryStore;
use kickout::{Auth, Note, SessionId};
use serde_json::json;

#[tokio::test]
async fn handler_types_serialize_and_come_back_checked() {
    let auth = Auth::new(MemoryStore::new());
    let login = auth.login("10001", "web").await.unwrap();
    let id = login.session.session_id;
    // A session id is its text, both ways: `Path<SessionId>` works.
    assert_eq!(serde_json::to_value(id).unwrap(), json!(id.to_string()));
    let back: SessionId = serde_json::from_value(json!(id.to_string())).unwrap();
    assert_eq!(back, id);
    assert!(serde_json::from_value::<SessionId>(json!("not an id")).is_err());
    // Listings and directory pages serialize as they are.
    let listed = serde_json::to_value(auth.sessions("10001").await.unwrap()).unwrap();
    assert_eq!(listed[0]["info"]["device"], "web");
    let page = auth.online(None, 10, None).await.unwrap();
    let page = serde_json::to_value(&page).unwrap();
    assert_eq!(page["sessions"][0]["info"]["user_id"], "10001");
    assert_eq!(page["next"], serde_json::Value::Null);
    // A cursor is its text; one that does not parse is refused.
    let cursor = kickout::store::directory::Cursor::new(id.tag(), id.to_string());
    let text = serde_json::to_value(&cursor).unwrap();
    assert_eq!(text, json!(cursor.to_string()));
    let back: kickout::store::directory::Cursor = serde_json::from_value(text).unwrap();
    assert_eq!(back, cursor);
    assert!(serde_json::from_value::<kickout::store::directory::Cursor>(json!("zz")).is_err());
    // Validated types read back through their own rules.
    assert!(serde_json::from_value::<Scope>(json!("Not A Scope")).is_err());
    assert!(serde_json::from_value::<Level>(json!(9)).is_err());
    assert!(serde_json::from_value::<Note>(json!("BAD CODE")).is_err());
    let note = Note::new("fraud").unwrap().with_message("card").unwrap();
    let text = serde_json::to_value(&note).unwrap();
    assert_eq!(serde_json::from_value::<Note>(text).unwrap(), note);
}

#[test]
fn a_bad_note_says_which_rule_it_broke() {
    let code = Note::new("Bad Code").unwrap_err().to_string();
    assert!(code.contains("characters of a-z"), "{code}");
    let long = "x".repeat(kickout::limits::MAX_NOTE_MESSAGE_LEN + 1);
    let message = Note::new("ok").unwrap().with_message(&long).unwrap_err();
    assert!(message.to_string().contains("at most"), "{message}");
}
