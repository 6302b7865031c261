//! A plain axum app to copy: its own user check, login / refresh / logout / me, "sign
//! out my other devices", an operator's kickout with a note, and its own JSON shape for
//! every refusal. One concrete handle type, `Auth<AnyStore>`: the store comes from the
//! configuration.
//!
//! ```sh
//! cargo run --example axum_app                      # memory store on 127.0.0.1:3000
//! REDIS_URL=redis://127.0.0.1:6379 cargo run --features redis --example axum_app
//! DATABASE_URL=postgres://app:secret@127.0.0.1/app \
//!     cargo run --features postgres --example axum_app
//!
//! curl -s localhost:3000/login -H 'content-type: application/json' \
//!     -d '{"user": "alice", "password": "wonderland", "device": "laptop"}'
//! curl -s localhost:3000/me -H "authorization: Bearer $TOKEN"
//! curl -s -X POST localhost:3000/admin/kickout/alice -H 'x-admin-key: change-me' \
//!     -H 'content-type: application/json' -d '{"note": "password_changed"}'
//! ```

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use kickout::store::{AnyStore, MemoryStore};
use kickout::{Auth, AuthLayer, Error, Identity, Login, LoginRule, Note, Rejection};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Clone)]
struct App {
    auth: Auth<AnyStore>,
    admin_key: String,
}

/// The application's own user check. A real one asks its database and compares password
/// hashes; kickout only starts where this says yes.
fn password_ok(user: &str, password: &str) -> bool {
    matches!(
        (user, password),
        ("alice", "wonderland") | ("bob", "builder")
    )
}

/// Every refusal of this app, whoever makes it: `{"problem": {"code", "detail"}}`.
fn problem(status: StatusCode, code: &str, detail: &str) -> Response {
    let body = json!({ "problem": { "code": code, "detail": detail } });
    (status, Json(body)).into_response()
}

/// A refused token in the app's shape: the layer's status and challenge header, the
/// app's body (with the operator's note, when the session was ended with one).
pub fn refused(rejection: Rejection) -> http::Response<Bytes> {
    let (code, detail) = (rejection.reason().code(), rejection.reason().message());
    let note = rejection.note().map(Note::code).map(str::to_owned);
    let body = json!({ "problem": { "code": code, "detail": detail, "note": note } });
    rejection
        .into_http::<Bytes>()
        .map(|_| Bytes::from(body.to_string()))
}

/// What the handle's helpers refuse, in the same shape. Store failures say only "try
/// again": the driver's text stays in the logs.
struct AppError(Error);

impl<E: Into<Error>> From<E> for AppError {
    fn from(e: E) -> Self {
        AppError(e.into())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self.0 {
            Error::Rejected(rejection) => refused(rejection).map(Body::from),
            // The detail (a driver's words) goes to the log, never to the client.
            Error::Store(e) => {
                eprintln!("store: {e}");
                let detail = "The service is busy. Try again.";
                problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
            }
            Error::Internal(detail) => {
                eprintln!("internal: {detail}");
                let detail = "Something went wrong on our side.";
                problem(StatusCode::INTERNAL_SERVER_ERROR, "internal", detail)
            }
            other => problem(other.status(), other.code(), &other.message()),
        }
    }
}

/// The tokens of a login or a refresh.
fn tokens(login: &Login) -> Json<Value> {
    Json(json!({
        "token": login.token.as_str(),
        "expires_in": login.expires_in(),
        "refresh_token": login.refresh.as_ref().map(|r| r.token.as_str()),
    }))
}

#[derive(Deserialize)]
struct LoginBody {
    user: String,
    password: String,
    device: Option<String>,
}

async fn login(State(app): State<App>, Json(body): Json<LoginBody>) -> Result<Response, AppError> {
    if !password_ok(&body.user, &body.password) {
        let detail = "Wrong user or password.";
        return Ok(problem(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            detail,
        ));
    }
    let device = body.device.as_deref().unwrap_or("web");
    let login = app.auth.login(&body.user, device).await?;
    Ok(tokens(&login).into_response())
}

#[derive(Deserialize)]
struct RefreshBody {
    refresh_token: String,
}

async fn refresh(
    State(app): State<App>,
    Json(body): Json<RefreshBody>,
) -> Result<Json<Value>, AppError> {
    Ok(tokens(&app.auth.refresh(&body.refresh_token).await?))
}

async fn me(me: Identity) -> Json<Value> {
    Json(
        json!({ "user": me.user_id(), "device": me.device(), "session": me.session_id() .to_string() }),
    )
}

async fn logout(State(app): State<App>, me: Identity) -> Result<StatusCode, AppError> {
    app.auth.logout_session(&me, me.session_id()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// "Sign out my other devices": every session of the user but this one.
async fn sign_out_others(State(app): State<App>, me: Identity) -> Result<Json<Value>, AppError> {
    let ended = app.auth.logout_others(&me).await?;
    Ok(Json(json!({ "signed_out": ended })))
}

#[derive(Deserialize, Default)]
struct KickoutBody {
    /// Why, for the user's clients: a code such as `password_changed`.
    note: Option<String>,
    message: Option<String>,
}

/// A kickout's body: none is an empty one; `None` if it is not this JSON.
fn kickout_body(raw: &[u8]) -> Option<KickoutBody> {
    if raw.is_empty() {
        return Some(KickoutBody::default());
    }
    serde_json::from_slice(raw).ok()
}

/// An operator ends every session of a user, saying why.
async fn kickout(
    State(app): State<App>,
    headers: HeaderMap,
    Path(user): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    let key = headers.get("x-admin-key").and_then(|v| v.to_str().ok());
    if key != Some(app.admin_key.as_str()) {
        return Ok(problem(
            StatusCode::FORBIDDEN,
            "forbidden",
            "An operator's key is needed.",
        ));
    }
    // No body: no note. A body that does not read changes nothing.
    let Some(body) = kickout_body(&body) else {
        let detail = "The body is not a kickout's JSON.";
        return Ok(problem(StatusCode::BAD_REQUEST, "invalid_request", detail));
    };
    let note = match (body.note, body.message) {
        (Some(code), message) => {
            let note = Note::new(&code)?;
            Some(match message {
                Some(m) => note.with_message(&m)?,
                None => note,
            })
        }
        (None, _) => None,
    };
    let kicked = app.auth.with_note(note).kickout(&user).await?;
    Ok(Json(json!({ "kicked": kicked })).into_response())
}

/// The store the configuration names: PostgreSQL, Redis, or the embedded one.
pub async fn store(
    database_url: Option<&str>,
    redis_url: Option<&str>,
) -> Result<AnyStore, Box<dyn std::error::Error>> {
    match (database_url, redis_url) {
        (None, None) => Ok(AnyStore::new(MemoryStore::new())),
        (Some(_), Some(_)) => Err("set DATABASE_URL or REDIS_URL, not both".into()),
        #[cfg(feature = "postgres")]
        (Some(url), None) => Ok(AnyStore::new(
            kickout::store::PostgresStore::connect(url).await?,
        )),
        #[cfg(feature = "redis")]
        (None, Some(url)) => Ok(AnyStore::new(
            kickout::store::RedisStore::connect(url).await?,
        )),
        #[allow(unreachable_patterns)]
        _ => Err("DATABASE_URL / REDIS_URL need --features postgres / redis".into()),
    }
}

/// The handle as this app runs it: 15-minute access tokens renewed by 30-day refresh
/// tokens, one session per device, every refusal in the app's shape.
pub fn auth(store: AnyStore) -> Auth<AnyStore> {
    Auth::builder(store)
        .ttl(Duration::from_secs(15 * 60))
        .refresh_tokens(Duration::from_secs(30 * 24 * 3600))
        .login_rule(LoginRule::one_per_device())
        .on_rejection(refused)
        .build()
}

pub fn app(auth: Auth<AnyStore>, admin_key: String) -> Router {
    let state = App {
        auth: auth.clone(),
        admin_key,
    };
    let signed_in = Router::new()
        .route("/me", get(me))
        .route("/logout", post(logout))
        .route("/sign-out-others", post(sign_out_others))
        .route_layer(AuthLayer::new(auth));
    Router::new()
        .route("/login", post(login))
        .route("/refresh", post(refresh))
        .route("/admin/kickout/{user}", post(kickout))
        .merge(signed_in)
        .with_state(state)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = |name| std::env::var(name).ok();
    let auth = auth(store(env("DATABASE_URL").as_deref(), env("REDIS_URL").as_deref()).await?);
    let admin_key = std::env::var("ADMIN_KEY").unwrap_or_else(|_| {
        eprintln!("warning: ADMIN_KEY is unset: the operator's key is `change-me`");
        "change-me".to_owned()
    });
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app(auth, admin_key)).await?;
    Ok(())
}
