//! Tokens are secrets: no log line at any level and no `Debug` output carries one.

use crate::suite;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kickout::store::MemoryStore;
use kickout::{LoginRule, Token};

/// Collects everything `tracing` writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_log_line_and_no_debug_output_carries_a_token() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut tokens = Vec::new();
    let mut debug = String::new();
    exercise::<suite::Session>(&mut tokens, &mut debug).await;
    exercise::<suite::Jwt>(&mut tokens, &mut debug).await;
    check(&captured, &tokens, &debug);
}

/// Logs in, checks, logs out, kicks and bans in mode `K`, keeping the tokens and the
/// `Debug` output of everything that holds one.
async fn exercise<K: suite::Kind<MemoryStore>>(tokens: &mut Vec<Token>, debug: &mut String)
where
    K::M: std::fmt::Debug,
{
    {
        let auth = K::builder(MemoryStore::new(), &suite::clock())
            .login_rule(LoginRule::one_per_device())
            .build();
        let app = suite::app(&auth);
        let a = auth.login("10001", "web").await.unwrap();
        let b = auth.login("10001", "web").await.unwrap(); // replaces a
        let c = auth.login("10002", "web").await.unwrap();
        let me = auth.authenticate(b.token.as_str()).await.unwrap();
        debug.push_str(&format!("{a:?} {b:?} {me:?} {:?} {auth:?}", a.token));
        for t in [&a.token, &b.token, &c.token] {
            let _ = suite::me(&app, t.as_str()).await;
        }
        auth.logout(b.token.as_str()).await.unwrap();
        auth.kickout("10002").await.unwrap();
        auth.ban("10001", Duration::from_secs(60)).await.unwrap();
        for t in [&a.token, &b.token, &c.token] {
            let _ = suite::me(&app, t.as_str()).await;
            let _ = auth.authenticate(t.as_str()).await;
        }
        tokens.extend([a.token, b.token, c.token]);
    }
}

fn check(captured: &Captured, tokens: &[Token], debug: &str) {
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("login"), "the capture works: {logs}");
    for token in tokens {
        let secret = token.as_str();
        assert!(!logs.contains(secret), "a token in the logs");
        assert!(!debug.contains(secret), "a token in Debug output");
        // Not even its signature or random part.
        let tail = &secret[secret.len() - 20..];
        assert!(!logs.contains(tail) && !debug.contains(tail));
    }
}

/// A handler's log lines carry who the request is from (the `kickout` span: user and
/// session id), and still no token — on the tower layer and on a network store's path.
#[tokio::test]
async fn handlers_log_inside_a_span_naming_the_user() {
    use axum::routing::get;
    use tower::ServiceExt;

    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let auth = kickout::Auth::new(MemoryStore::new());
    let app = axum::Router::new()
        .route(
            "/me",
            get(|| async {
                tracing::info!("handler ran");
                "ok"
            }),
        )
        .route_layer(kickout::AuthLayer::new(auth.clone()));
    let login = auth.login("10001", "web").await.unwrap();
    let req = http::Request::get("/me")
        .header("authorization", format!("Bearer {}", login.token.as_str()))
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(app.oneshot(req).await.unwrap().status(), 200);
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line = logs
        .lines()
        .find(|l| l.contains("handler ran"))
        .unwrap_or_else(|| panic!("no handler line in {logs}"));
    assert!(line.contains("kickout{"), "{line}");
    assert!(line.contains(r#"user_id="10001""#), "{line}");
    assert!(
        line.contains(&login.session.session_id.to_string()),
        "{line}"
    );
    assert!(!logs.contains(login.token.as_str()));
}

/// What a store is handed of a refresh token is its digests; `Debug` leaves them out,
/// as it does for the keys and records holding them.
#[test]
fn debug_output_carries_no_digest() {
    let refresh = kickout::store::refresh::NewRefresh {
        digest: [0xab; 32],
        chain: [0xcd; 32],
        expires_at_ms: 1,
        cap_ms: 2,
        window_ms: None,
        access_ttl_ms: 3,
    };
    let shown = format!("{refresh:?}");
    assert!(shown.contains("cap_ms: 2"), "{shown}");
    for digest in [refresh.digest, refresh.chain] {
        assert!(!shown.contains(&format!("{digest:?}")), "{shown}");
    }
}
