//! The same plain app as `axum_app.rs`, on actix-web in the `HttpServer::new(move || …)`
//! form: its own user check, login / refresh / logout / me, "sign out my other
//! devices", an operator's kickout with a note, and its own JSON shape for every
//! refusal. One concrete handle type, `Auth<AnyStore>`, cloned into each worker.
//!
//! ```sh
//! cargo run --features actix --example actix_app        # memory store on 127.0.0.1:3000
//! REDIS_URL=redis://127.0.0.1:6379 cargo run --features actix,redis --example actix_app
//! DATABASE_URL=postgres://app:secret@127.0.0.1/app \
//!     cargo run --features actix,postgres --example actix_app
//! ```

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, ResponseError, web};
use bytes::Bytes;
use kickout::actix::KickoutAuth;
use kickout::store::{AnyStore, MemoryStore};
use kickout::{Auth, Error, Identity, Login, LoginRule, Note, Rejection};
use serde::Deserialize;
use serde_json::json;

/// The operator's key.
#[derive(Clone)]
struct AdminKey(String);

/// The application's own user check. A real one asks its database and compares password
/// hashes; kickout only starts where this says yes.
fn password_ok(user: &str, password: &str) -> bool {
    matches!(
        (user, password),
        ("alice", "wonderland") | ("bob", "builder")
    )
}

/// Every refusal of this app, whoever makes it: `{"problem": {"code", "detail"}}`.
fn problem(status: StatusCode, code: &str, detail: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "problem": { "code": code, "detail": detail } }))
}

/// A refused token in the app's shape (the handle's `on_rejection`: the middleware and
/// the helpers' refusals answer through it): the status and challenge header kept, the
/// app's body, with the operator's note when there is one.
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
#[derive(Debug)]
struct AppError(Error);

impl<E: Into<Error>> From<E> for AppError {
    fn from(e: E) -> Self {
        AppError(e.into())
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for AppError {
    fn error_response(&self) -> HttpResponse {
        match &self.0 {
            // A refused token answers as the middleware's refusals do (`refused`).
            Error::Rejected(_) => self.0.error_response(),
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
            // `status_code` is actix's `StatusCode` (kickout's `status` is the `http` 1 one).
            other => problem(other.status_code(), other.code(), &other.message()),
        }
    }
}

/// The tokens of a login or a refresh.
fn tokens(login: &Login) -> HttpResponse {
    HttpResponse::Ok().json(json!({
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

async fn login(
    auth: web::Data<Auth<AnyStore>>,
    body: web::Json<LoginBody>,
) -> Result<HttpResponse, AppError> {
    if !password_ok(&body.user, &body.password) {
        let detail = "Wrong user or password.";
        return Ok(problem(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            detail,
        ));
    }
    let device = body.device.as_deref().unwrap_or("web");
    Ok(tokens(&auth.login(&body.user, device).await?))
}

#[derive(Deserialize)]
struct RefreshBody {
    refresh_token: String,
}

async fn refresh(
    auth: web::Data<Auth<AnyStore>>,
    body: web::Json<RefreshBody>,
) -> Result<HttpResponse, AppError> {
    Ok(tokens(&auth.refresh(&body.refresh_token).await?))
}

async fn me(me: Identity) -> HttpResponse {
    let session = me.session_id().to_string();
    HttpResponse::Ok()
        .json(json!({ "user": me.user_id(), "device": me.device(), "session": session }))
}

async fn logout(auth: web::Data<Auth<AnyStore>>, me: Identity) -> Result<HttpResponse, AppError> {
    auth.logout_session(&me, me.session_id()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// "Sign out my other devices": every session of the user but this one.
async fn sign_out_others(
    auth: web::Data<Auth<AnyStore>>,
    me: Identity,
) -> Result<HttpResponse, AppError> {
    let ended = auth.logout_others(&me).await?;
    Ok(HttpResponse::Ok().json(json!({ "signed_out": ended })))
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
    auth: web::Data<Auth<AnyStore>>,
    admin: web::Data<AdminKey>,
    req: HttpRequest,
    user: web::Path<String>,
    body: Bytes,
) -> Result<HttpResponse, AppError> {
    let key = req
        .headers()
        .get("x-admin-key")
        .and_then(|v| v.to_str().ok());
    if key != Some(admin.0.as_str()) {
        let detail = "An operator's key is needed.";
        return Ok(problem(StatusCode::FORBIDDEN, "forbidden", detail));
    }
    // No body: no note. A body that does not read changes nothing (actix's
    // `Option<Json>` would take it for none, and kick out without the note).
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
    let kicked = auth.with_note(note).kickout(&user).await?;
    Ok(HttpResponse::Ok().json(json!({ "kicked": kicked })))
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

/// Serves the app on `listener` until the process ends; each worker gets clones.
pub async fn serve(
    listener: std::net::TcpListener,
    auth: Auth<AnyStore>,
    admin_key: String,
) -> std::io::Result<()> {
    let admin = AdminKey(admin_key);
    HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(auth.clone()))
            .app_data(web::Data::new(admin.clone()))
            // Resources, not `App::route`: a path asked with another method answers
            // 405, where a route's method guard would let it fall through to the
            // scope's token check.
            .service(web::resource("/login").post(login))
            .service(web::resource("/refresh").post(refresh))
            .service(web::resource("/admin/kickout/{user}").post(kickout))
            .service(
                web::scope("")
                    .wrap(KickoutAuth::new(auth.clone()))
                    .service(web::resource("/me").get(me))
                    .service(web::resource("/logout").post(logout))
                    .service(web::resource("/sign-out-others").post(sign_out_others)),
            )
    })
    .workers(2)
    .listen(listener)?
    .run()
    .await
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = |name| std::env::var(name).ok();
    let auth = auth(store(env("DATABASE_URL").as_deref(), env("REDIS_URL").as_deref()).await?);
    let admin_key = std::env::var("ADMIN_KEY").unwrap_or_else(|_| {
        eprintln!("warning: ADMIN_KEY is unset: the operator's key is `change-me`");
        "change-me".to_owned()
    });
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = std::net::TcpListener::bind(&bind)?;
    println!("listening on {}", listener.local_addr()?);
    serve(listener, auth, admin_key).await?;
    Ok(())
}
