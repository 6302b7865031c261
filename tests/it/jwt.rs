//! What only JWT mode promises: forged tokens are refused before any store work, keys
//! rotate, and revocation holds across instances whose clocks differ.

#![cfg(feature = "jwt")]

use crate::suite;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use kickout::clock::ManualClock;
use kickout::jwt::{Jwt, JwtKey};
use kickout::limits::MAX_LIVE_TOKENS;
use kickout::store::{MemoryStore, Store};
use kickout::{Auth, AuthBuilder, Error, LoginOptions, LoginRule, Reason};
use serde_json::{Value, json};
use suite::{T0, err, me, secs};

const SECRET: &[u8] = b"kickout test secret, 32+ bytes long";

fn hs(secret: &[u8]) -> Jwt {
    Jwt::new(JwtKey::hs256(secret)).unwrap()
}

fn handle<S: Store>(store: S, clock: &ManualClock, jwt: Jwt) -> AuthBuilder<S, Jwt> {
    Auth::builder(store).clock(clock.clone()).jwt(jwt)
}

fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// A token with `claims`, signed by jsonwebtoken itself.
fn sign(alg: Algorithm, key: &EncodingKey, claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, key).unwrap()
}

#[tokio::test]
async fn tokens_carry_standard_claims() {
    let clock = suite::clock();
    let auth = handle(
        MemoryStore::new(),
        &clock,
        hs(SECRET).issuer("me").audience("api"),
    )
    .ttl(secs(600))
    .build();
    let login = auth.login("10001", "web").await.unwrap();
    let claims = payload(login.token.as_str());
    assert_eq!(claims["sub"], "10001");
    assert_eq!(claims["dev"], "web");
    assert_eq!(claims["iat"], T0 / 1000);
    assert_eq!(claims["exp"], T0 / 1000 + 600);
    // The end to the millisecond, which kickout holds the token to.
    assert_eq!(claims["expm"], T0 + 600_000);
    assert_eq!(claims["iss"], "me");
    assert_eq!(claims["aud"], "api");
    assert_eq!(claims["jti"].as_str().unwrap().len(), 16);
    assert_eq!(login.session.session_id.jti(), claims["jti"]);
    // Any JWT library verifies it.
    let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
    validation.set_audience(&["api"]);
    validation.validate_exp = false;
    jsonwebtoken::decode::<Value>(
        login.token.as_str(),
        &DecodingKey::from_secret(SECRET),
        &validation,
    )
    .unwrap();
    // Mid-second, `exp` rounds down: a verifier elsewhere never passes the token past
    // its end.
    clock.advance(std::time::Duration::from_millis(500));
    let login = auth.login("10001", "web").await.unwrap();
    let claims = payload(login.token.as_str());
    assert_eq!(claims["exp"], T0 / 1000 + 600);
    assert_eq!(claims["expm"], T0 + 600_500);
    assert_eq!(login.token_expires_at_ms, T0 + 600_500);
}

#[tokio::test]
async fn forged_tokens_are_invalid() {
    let clock = suite::clock();
    let store = MemoryStore::new();
    let auth = handle(store.clone(), &clock, hs(SECRET)).build();
    let app = suite::app(&auth);
    let good = auth
        .login("10001", "web")
        .await
        .unwrap()
        .token
        .into_string();
    let claims = payload(&good);
    let [header, body, signature]: [&str; 3] =
        good.split('.').collect::<Vec<_>>().try_into().unwrap();

    let wrong_key = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(b"another secret, also long enough"),
        &claims,
    );
    let none = format!(
        "{}.{body}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#)
    );
    let none_signed = format!(
        "{}.{body}.{signature}",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#)
    );
    let mut tampered_claims = claims.clone();
    tampered_claims["sub"] = json!("admin");
    let tampered = format!(
        "{header}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&tampered_claims).unwrap())
    );
    let hs512 = sign(Algorithm::HS512, &EncodingKey::from_secret(SECRET), &claims);
    for bad in [
        wrong_key.as_str(),
        &none,
        &none_signed,
        &tampered,
        &hs512,
        &format!("{header}.{body}"),
        &format!("{header}.{body}.{signature}.x"),
        &format!("{header}.{body}.AAAA"),
        "a.b.c",
        "not-a-jwt",
    ] {
        assert_eq!(me(&app, bad).await, err(Reason::InvalidToken), "{bad}");
    }
    assert_eq!(me(&app, &good).await, Ok("10001:web".into()));

    // Expired, and not yet valid.
    let mut expired = claims.clone();
    expired["exp"] = json!(T0 / 1000 - 1);
    let expired = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(SECRET),
        &expired,
    );
    assert_eq!(me(&app, &expired).await, err(Reason::TokenExpired));
    // A millisecond end is held within `exp`'s second.
    let mut later = claims.clone();
    later["exp"] = json!(T0 / 1000 - 1);
    later["expm"] = json!(T0 + 60_000);
    let later = sign(Algorithm::HS256, &EncodingKey::from_secret(SECRET), &later);
    assert_eq!(me(&app, &later).await, err(Reason::TokenExpired));
    let mut early = claims.clone();
    early["nbf"] = json!(T0 / 1000 + 60);
    let early = sign(Algorithm::HS256, &EncodingKey::from_secret(SECRET), &early);
    assert_eq!(me(&app, &early).await, err(Reason::InvalidToken));
    // Well signed but naming a user whose state the store does not have (never issued
    // by this store, or the store lost its data): refused.
    let mut stranger = claims.clone();
    stranger["sub"] = json!("20002");
    let stranger = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(SECRET),
        &stranger,
    );
    assert_eq!(me(&app, &stranger).await, err(Reason::InvalidToken));
}

#[tokio::test]
async fn an_rsa_public_key_cannot_be_used_as_an_hmac_secret() {
    let private = include_bytes!("keys/rsa_private.pem");
    let public = include_bytes!("keys/rsa_public.pem");
    let key = JwtKey::new(
        Algorithm::RS256,
        EncodingKey::from_rsa_pem(private).unwrap(),
        DecodingKey::from_rsa_pem(public).unwrap(),
    );
    let clock = suite::clock();
    let auth = handle(MemoryStore::new(), &clock, Jwt::new(key).unwrap()).build();
    let app = suite::app(&auth);
    let good = auth
        .login("10001", "web")
        .await
        .unwrap()
        .token
        .into_string();
    assert_eq!(me(&app, &good).await, Ok("10001:web".into()));
    // The classic confusion: HS256 "signed" with the public key's PEM bytes.
    let confused = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(public),
        &payload(&good),
    );
    assert_eq!(me(&app, &confused).await, err(Reason::InvalidToken));
}

#[tokio::test]
async fn rsa_ec_and_eddsa_keys_sign_and_verify() {
    let keys = [
        JwtKey::new(
            Algorithm::RS256,
            EncodingKey::from_rsa_pem(include_bytes!("keys/rsa_private.pem")).unwrap(),
            DecodingKey::from_rsa_pem(include_bytes!("keys/rsa_public.pem")).unwrap(),
        ),
        JwtKey::new(
            Algorithm::ES256,
            EncodingKey::from_ec_pem(include_bytes!("keys/ec_private.pem")).unwrap(),
            DecodingKey::from_ec_pem(include_bytes!("keys/ec_public.pem")).unwrap(),
        ),
        JwtKey::new(
            Algorithm::EdDSA,
            EncodingKey::from_ed_pem(include_bytes!("keys/ed_private.pem")).unwrap(),
            DecodingKey::from_ed_pem(include_bytes!("keys/ed_public.pem")).unwrap(),
        ),
    ];
    for key in keys {
        let clock = suite::clock();
        let auth = handle(MemoryStore::new(), &clock, Jwt::new(key).unwrap()).build();
        let app = suite::app(&auth);
        let token = auth
            .login("10001", "web")
            .await
            .unwrap()
            .token
            .into_string();
        assert_eq!(me(&app, &token).await, Ok("10001:web".into()));
        let mut tampered = token.clone();
        tampered.replace_range(tampered.len() - 4.., "AAAA");
        assert_eq!(me(&app, &tampered).await, err(Reason::InvalidToken));
        auth.kickout("10001").await.unwrap();
        assert_eq!(me(&app, &token).await, err(Reason::KickedOut));
    }
}

#[tokio::test]
async fn signing_keys_rotate_without_logging_anyone_out() {
    let clock = suite::clock();
    let store = MemoryStore::new();
    let old = Jwt::new(JwtKey::hs256(b"the old secret, thirty-two bytes!!").kid("k1")).unwrap();
    let before = handle(store.clone(), &clock, old).build();
    let issued = before
        .login("10001", "web")
        .await
        .unwrap()
        .token
        .into_string();
    // The new handle signs with k2 and still accepts k1's tokens.
    let rotated = Jwt::new(JwtKey::hs256(b"the new secret, thirty-two bytes!!").kid("k2"))
        .unwrap()
        .verify_with(JwtKey::hs256(b"the old secret, thirty-two bytes!!").kid("k1"))
        .unwrap();
    let after = handle(store.clone(), &clock, rotated).build();
    let app = suite::app(&after);
    assert_eq!(me(&app, &issued).await, Ok("10001:web".into()));
    let fresh = after
        .login("10001", "phone")
        .await
        .unwrap()
        .token
        .into_string();
    assert_eq!(payload(&fresh)["sub"], "10001");
    assert_eq!(me(&app, &fresh).await, Ok("10001:phone".into()));
    // Once k1 is dropped, its tokens are refused.
    let only_new =
        Jwt::new(JwtKey::hs256(b"the new secret, thirty-two bytes!!").kid("k2")).unwrap();
    let app = suite::app(&handle(store, &clock, only_new).build());
    assert_eq!(me(&app, &issued).await, err(Reason::InvalidToken));
    assert_eq!(me(&app, &fresh).await, Ok("10001:phone".into()));
}

#[tokio::test]
async fn issuer_and_audience_must_match() {
    let clock = suite::clock();
    let store = MemoryStore::new();
    let theirs = handle(
        store.clone(),
        &clock,
        hs(SECRET).issuer("them").audience("api"),
    )
    .build();
    let ours = handle(store, &clock, hs(SECRET).issuer("us").audience("api")).build();
    let token = theirs
        .login("10001", "web")
        .await
        .unwrap()
        .token
        .into_string();
    assert_eq!(
        me(&suite::app(&ours), &token).await,
        err(Reason::InvalidToken)
    );
    assert!(me(&suite::app(&theirs), &token).await.is_ok());
}

#[tokio::test]
async fn revocation_holds_across_instances_whose_clocks_differ() {
    let store = MemoryStore::new();
    let (slow, fast) = (suite::clock(), ManualClock::new(T0 + 5_000));
    let a = handle(store.clone(), &slow, hs(SECRET).leeway(secs(10))).build();
    let b = handle(store.clone(), &fast, hs(SECRET).leeway(secs(10))).build();
    let (app_a, app_b) = (suite::app(&a), suite::app(&b));
    // Issued by the instance 5 s behind, kicked out by the one ahead, and the other way.
    let t1 = a.login("10001", "web").await.unwrap().token;
    assert_eq!(b.kickout("10001").await.unwrap(), 1);
    assert_eq!(me(&app_a, t1.as_str()).await, err(Reason::KickedOut));
    let t2 = b.login("10001", "web").await.unwrap().token;
    assert_eq!(
        me(&app_a, t2.as_str()).await,
        Ok("10001:web".into()),
        "same-second re-login"
    );
    assert_eq!(a.kickout("10001").await.unwrap(), 1);
    assert_eq!(me(&app_b, t2.as_str()).await, err(Reason::KickedOut));
    // A login right after a kickout, in the same millisecond, works; the old one does not.
    let t3 = a.login("10001", "web").await.unwrap().token;
    assert_eq!(me(&app_b, t3.as_str()).await, Ok("10001:web".into()));
    assert_eq!(me(&app_b, t1.as_str()).await, err(Reason::KickedOut));
}

#[tokio::test]
async fn revocations_vanish_once_their_tokens_expired() {
    let clock = suite::clock();
    let store = MemoryStore::new();
    let auth = handle(store.clone(), &clock, hs(SECRET))
        .ttl(secs(60))
        .refresh_tokens(secs(120))
        .login_rule(LoginRule::max_per_user(2))
        .build();
    for i in 0..10 {
        let t = auth.login(&format!("u{i}"), "web").await.unwrap().token;
        auth.login(&format!("u{i}"), "web").await.unwrap();
        auth.login(&format!("u{i}"), "web").await.unwrap(); // replaces the first
        auth.logout(t.as_str()).await.unwrap();
        auth.kickout_device(&format!("u{i}"), "web").await.unwrap();
    }
    assert_eq!(store.stats().jwt_users, 10);
    // Revocations outlive their tokens by the grace a verifier's leeway may need.
    let grace = kickout::limits::PRUNE_GRACE_MS;
    store.purge(T0 + 121_000);
    assert_eq!(store.stats().jwt_users, 10);
    // Every token ended: none is listed, but refresh records remain to say why.
    assert_eq!(store.stats().directory, 0);
    assert!(store.stats().jwt_refresh > 0);
    store.purge(T0 + 120_000 + grace);
    let stats = store.stats();
    assert_eq!(
        (stats.jwt_users, stats.directory, stats.jwt_refresh),
        (0, 0, 0),
        "{stats:?}"
    );
}

#[tokio::test]
async fn settings_made_before_the_switch_to_jwt_mode_hold_after_it() {
    let clock = ManualClock::new(T0);
    let auth = Auth::builder(MemoryStore::new())
        .clock(clock.clone())
        .ttl(secs(600))
        .refresh_tokens(secs(86_400))
        .idle_timeout(secs(120))
        .jwt(hs(SECRET))
        .build();
    let login = auth.login("10001", "web").await.unwrap();
    assert_eq!(login.expires_in(), 600);
    assert!(login.refresh.is_some());
    clock.advance(secs(121));
    let refused = auth.authenticate(login.token.as_str()).await.unwrap_err();
    assert_eq!(refused.reason(), Reason::TokenExpired);
    // A `Jwt` cloned from a handle with another idle timeout: this builder's wins.
    let other = handle(MemoryStore::new(), &clock, hs(SECRET))
        .idle_timeout(secs(30))
        .build();
    let auth = Auth::builder(MemoryStore::new())
        .clock(clock.clone())
        .idle_timeout(secs(120))
        .jwt(other.mode().clone())
        .build();
    let login = auth.login("10001", "web").await.unwrap();
    clock.advance(secs(60));
    assert!(auth.authenticate(login.token.as_str()).await.is_ok());
}

#[tokio::test]
async fn applications_put_their_own_claims_in_tokens() {
    let clock = suite::clock();
    let auth = handle(MemoryStore::new(), &clock, hs(SECRET)).build();
    let claims = json!({"role": "admin", "tenant": 7});
    let login = auth
        .login_with_claims("10001", "web", LoginOptions::new(), &claims)
        .await
        .unwrap();
    let me = auth.authenticate(login.token.as_str()).await.unwrap();
    assert_eq!(me.claims::<Value>().unwrap().unwrap(), claims);
    // No `renew` on a JWT-mode handle: a signed expiry cannot move (a compile error,
    // not a run-time one).
}

#[tokio::test]
async fn a_refreshed_token_keeps_the_logins_claims_and_own_idle_timeout() {
    let clock = ManualClock::new(T0);
    let auth = handle(MemoryStore::new(), &clock, hs(SECRET))
        .refresh_tokens(std::time::Duration::from_secs(86_400))
        .build();
    let claims = json!({"role": "admin", "tenant": 7});
    let options = LoginOptions::new().idle_timeout(std::time::Duration::from_secs(120));
    let login = auth
        .login_with_claims("10001", "web", options, &claims)
        .await
        .unwrap();
    clock.advance(std::time::Duration::from_secs(60));
    let next = auth
        .refresh(login.refresh.unwrap().token.as_str())
        .await
        .unwrap();
    let me = auth.authenticate(next.token.as_str()).await.unwrap();
    assert_eq!(me.claims::<Value>().unwrap().unwrap(), claims);
    assert_eq!(me.session_id(), login.session.session_id);
    // The login's own idle timeout travels too: idle 120 s, the new token is over.
    clock.advance(std::time::Duration::from_secs(121));
    assert_eq!(
        auth.authenticate(next.token.as_str())
            .await
            .unwrap_err()
            .reason(),
        Reason::TokenExpired
    );
}

#[tokio::test]
async fn the_claims_extractor_reads_them_typed() {
    use axum::routing::get;
    use tower::ServiceExt;

    #[derive(serde::Deserialize)]
    struct Role {
        role: String,
    }
    let clock = suite::clock();
    let auth = handle(MemoryStore::new(), &clock, hs(SECRET)).build();
    let app = axum::Router::new()
        .route(
            "/role",
            get(|kickout::Claims(r): kickout::Claims<Role>| async move { r.role }),
        )
        .route_layer(kickout::AuthLayer::new(auth.clone()));
    let get = |token: String| {
        let app = app.clone();
        async move {
            let req = http::Request::get("/role")
                .header("authorization", format!("Bearer {token}"))
                .body(axum::body::Body::empty())
                .unwrap();
            let res = app.oneshot(req).await.unwrap();
            let status = res.status().as_u16();
            let body = http_body_util::BodyExt::collect(res.into_body())
                .await
                .unwrap();
            (status, String::from_utf8(body.to_bytes().to_vec()).unwrap())
        }
    };
    let admin = auth
        .login_with_claims("1", "web", LoginOptions::new(), &json!({"role": "admin"}))
        .await
        .unwrap();
    assert_eq!(get(admin.token.into_string()).await, (200, "admin".into()));
    // Kickout's own claims are not the application's: a token without claims (or of
    // another shape) is refused, so its client logs in again.
    for claims in [None, Some(json!({"tenant": 7}))] {
        let login = match claims {
            None => auth.login("2", "web").await.unwrap(),
            Some(c) => auth
                .login_with_claims("2", "web", LoginOptions::new(), &c)
                .await
                .unwrap(),
        };
        let (status, body) = get(login.token.into_string()).await;
        assert_eq!(status, 401);
        assert!(body.contains("invalid_token"), "{body}");
    }
}

#[tokio::test]
async fn live_tokens_per_user_are_capped() {
    let clock = suite::clock();
    let auth = handle(MemoryStore::new(), &clock, hs(SECRET)).build();
    let first = auth.login("10001", "d0").await.unwrap().token;
    for i in 1..MAX_LIVE_TOKENS {
        auth.login("10001", &format!("d{i}")).await.unwrap();
    }
    assert_eq!(auth.sessions("10001").await.unwrap().len(), MAX_LIVE_TOKENS);
    let over = auth.login("10001", "one-too-many").await.unwrap();
    assert_eq!(over.replaced.len(), MAX_LIVE_TOKENS);
    assert_eq!(auth.sessions("10001").await.unwrap().len(), 1);
    assert_eq!(
        me(&suite::app(&auth), first.as_str()).await,
        err(Reason::Replaced)
    );
}

#[tokio::test]
async fn revocations_hold_through_the_leeway() {
    let clock = suite::clock();
    let auth = handle(MemoryStore::new(), &clock, hs(SECRET).leeway(secs(30)))
        .ttl(secs(60))
        .build();
    let app = suite::app(&auth);
    let web = auth.login("10001", "web").await.unwrap().token;
    let phone = auth.login("10001", "phone").await.unwrap().token;
    auth.logout(web.as_str()).await.unwrap();
    auth.kickout_device("10001", "phone").await.unwrap();
    // Past `exp`, within the leeway: the tokens still verify, so their revocations must
    // still be there after writes that prune the state.
    clock.advance(secs(75));
    auth.login("10001", "tablet").await.unwrap();
    assert_eq!(me(&app, web.as_str()).await, err(Reason::InvalidToken));
    assert_eq!(me(&app, phone.as_str()).await, err(Reason::KickedOut));
    clock.advance(secs(16));
    assert_eq!(me(&app, web.as_str()).await, err(Reason::TokenExpired));
}

#[tokio::test]
async fn a_kid_less_key_rotation_keeps_old_tokens() {
    let clock = suite::clock();
    let store = MemoryStore::new();
    let old = handle(
        store.clone(),
        &clock,
        hs(b"the old secret, thirty-two bytes!!"),
    )
    .build();
    let token = old.login("10001", "web").await.unwrap().token;
    let rotated = Jwt::new(JwtKey::hs256(b"the new secret, thirty-two bytes!!"))
        .unwrap()
        .verify_with(JwtKey::hs256(b"the old secret, thirty-two bytes!!"))
        .unwrap();
    let app = suite::app(&handle(store, &clock, rotated).build());
    assert_eq!(me(&app, token.as_str()).await, Ok("10001:web".into()));
}

#[test]
fn keys_of_another_family_and_short_hmac_secrets_are_refused() {
    let public = include_bytes!("keys/rsa_public.pem");
    let private = include_bytes!("keys/rsa_private.pem");
    // An RSA public key taken as an HMAC secret: whoever has the public key could sign.
    let rsa_as_hmac =
        JwtKey::verify_only(Algorithm::HS256, DecodingKey::from_rsa_pem(public).unwrap());
    assert!(hs(SECRET).verify_with(rsa_as_hmac).is_err());
    let ec_as_hmac = JwtKey::verify_only(
        Algorithm::HS256,
        DecodingKey::from_ec_pem(include_bytes!("keys/ec_public.pem")).unwrap(),
    );
    assert!(hs(SECRET).verify_with(ec_as_hmac).is_err());
    // An RSA private key cannot sign HS256 tokens either, nor a secret RS256 ones.
    let mixed = JwtKey::new(
        Algorithm::HS256,
        EncodingKey::from_rsa_pem(private).unwrap(),
        DecodingKey::from_secret(SECRET),
    );
    assert!(Jwt::new(mixed).is_err());
    let secret_as_rsa = JwtKey::verify_only(Algorithm::RS256, DecodingKey::from_secret(SECRET));
    assert!(hs(SECRET).verify_with(secret_as_rsa).is_err());
    // RFC 7518 §3.2: an HMAC secret at least as long as the hash output.
    let with = |alg: Algorithm, len: usize| {
        let secret = vec![7u8; len];
        Jwt::new(JwtKey::new(
            alg,
            EncodingKey::from_secret(&secret),
            DecodingKey::from_secret(&secret),
        ))
    };
    for (alg, min) in [
        (Algorithm::HS256, 32),
        (Algorithm::HS384, 48),
        (Algorithm::HS512, 64),
    ] {
        assert!(with(alg, min - 1).is_err(), "{alg:?}");
        assert!(with(alg, min).is_ok(), "{alg:?}");
    }
    assert!(Jwt::new(JwtKey::hs256(b"short")).is_err());
    // An Ed25519 public key is 32 bytes: others are refused, not a panic inside
    // jsonwebtoken (short) or a key cut to its first 32 bytes (long).
    for len in [0, 31, 33, 44] {
        let raw = JwtKey::verify_only(Algorithm::EdDSA, DecodingKey::from_ed_der(&vec![9u8; len]));
        assert!(hs(SECRET).verify_with(raw).is_err(), "{len} bytes");
    }
}

/// A token past its `exp` but within the verifier's leeway is still accepted, so a
/// logout, a kickout and a ban must still reach it (they used to skip it: the store
/// forgot the token at `exp`).
async fn revocations_reach_tokens_in_their_leeway<S: Store + kickout::store::JwtStore>(store: S) {
    let clock = suite::clock();
    let auth = handle(store, &clock, hs(SECRET).leeway(secs(30)))
        .ttl(secs(60))
        .build();
    let app = suite::app(&auth);
    let out = auth.login("1", "web").await.unwrap().token;
    let kicked = auth.login("2", "web").await.unwrap().token;
    let banned = auth.login("3", "web").await.unwrap().token;
    clock.advance(secs(70)); // 10 s past exp, within the 30 s leeway
    for t in [&out, &kicked, &banned] {
        assert!(me(&app, t.as_str()).await.is_ok(), "accepted in its leeway");
    }
    assert!(
        auth.logout(out.as_str()).await.unwrap(),
        "the logout reached it"
    );
    auth.kickout("2").await.unwrap();
    auth.ban("3", secs(600)).await.unwrap();
    assert_eq!(me(&app, out.as_str()).await, err(Reason::InvalidToken));
    assert_eq!(me(&app, kicked.as_str()).await, err(Reason::KickedOut));
    assert_eq!(me(&app, banned.as_str()).await, err(Reason::Banned));
    // Listings and rules count live sessions only: none is left.
    assert!(auth.sessions("2").await.unwrap().is_empty());
}

#[tokio::test]
async fn revocations_reach_tokens_in_their_leeway_in_memory() {
    revocations_reach_tokens_in_their_leeway(MemoryStore::new()).await;
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn revocations_reach_tokens_in_their_leeway_on_redis() {
    let Some((_server, store)) = crate::support::standalone().await else {
        return;
    };
    revocations_reach_tokens_in_their_leeway(store).await;
}

#[tokio::test]
async fn the_largest_claims_still_make_a_token_requests_accept() {
    use kickout::MAX_NAME_LEN;
    use kickout::limits::{MAX_CLAIMS_LEN, MAX_TOKEN_LEN};
    let key = JwtKey::new(
        Algorithm::RS256,
        EncodingKey::from_rsa_pem(include_bytes!("keys/rsa_private.pem")).unwrap(),
        DecodingKey::from_rsa_pem(include_bytes!("keys/rsa_public.pem")).unwrap(),
    );
    let clock = suite::clock();
    let auth = handle(MemoryStore::new(), &clock, Jwt::new(key).unwrap()).build();
    let app = suite::app(&auth);
    let (user, device) = ("u".repeat(MAX_NAME_LEN), "d".repeat(MAX_NAME_LEN));
    // A JSON string of exactly MAX_CLAIMS_LEN bytes, quotes included.
    let largest = json!("x".repeat(MAX_CLAIMS_LEN - 2));
    let login = auth
        .login_with_claims(&user, &device, LoginOptions::new(), &largest)
        .await
        .unwrap();
    // A 4096-bit RSA signature is 341 base64 characters longer than this 2048-bit one.
    assert!(login.token.as_str().len() + 341 <= MAX_TOKEN_LEN);
    assert!(me(&app, login.token.as_str()).await.is_ok());
    // One byte more is refused before any store work.
    let over = json!("x".repeat(MAX_CLAIMS_LEN - 1));
    let refused = auth
        .login_with_claims("2", "web", LoginOptions::new(), &over)
        .await;
    assert!(
        matches!(refused, Err(Error::InvalidInput { field: "claims" })),
        "{refused:?}"
    );
    assert!(auth.sessions("2").await.unwrap().is_empty());
}

/// The incident switch also ends tokens past `exp` that a verifier's leeway still
/// accepts: "every session live before it" as every instance sees it.
async fn kickout_all_reaches_tokens_within_the_leeway<S: Store + kickout::store::JwtStore>(
    store: S,
) {
    let clock = suite::clock();
    let auth = handle(store, &clock, hs(SECRET).leeway(secs(120)))
        .ttl(secs(60))
        .build();
    let app = suite::app(&auth);
    let login = auth.login("10001", "web").await.unwrap();
    clock.advance(secs(90));
    assert_eq!(me(&app, login.token.as_str()).await, Ok("10001:web".into()));
    assert!(
        auth.online(None, 10, None)
            .await
            .unwrap()
            .sessions
            .is_empty()
    );
    auth.kickout_all().await.unwrap();
    assert_eq!(me(&app, login.token.as_str()).await, err(Reason::KickedOut));
}

#[tokio::test]
async fn kickout_all_reaches_tokens_within_the_leeway_on_every_store() {
    kickout_all_reaches_tokens_within_the_leeway(MemoryStore::new()).await;
    #[cfg(feature = "redis")]
    if let Some((_server, store)) = crate::support::standalone().await {
        kickout_all_reaches_tokens_within_the_leeway(store).await;
    }
}

/// A clone of a `Jwt` has the same keys and settings (a cache of its own): what one
/// handle signs, a handle built with the clone verifies, and a revocation on either
/// holds on both.
#[tokio::test]
async fn a_cloned_jwt_serves_another_handle() {
    let jwt = Jwt::new(JwtKey::hs256(b"a secret of thirty-two bytes, ok"))
        .unwrap()
        .issuer("kickout-tests");
    let store = MemoryStore::new();
    let a = Auth::builder(store.clone()).jwt(jwt.clone()).build();
    let b = Auth::builder(store).jwt(jwt).build();
    let token = a.login("10001", "web").await.unwrap().token;
    assert_eq!(
        b.authenticate(token.as_str()).await.unwrap().user_id(),
        "10001"
    );
    assert_eq!(b.kickout("10001").await.unwrap(), 1);
    assert_eq!(
        a.authenticate(token.as_str()).await.unwrap_err().reason(),
        Reason::KickedOut
    );
}
