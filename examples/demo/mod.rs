//! The demo servers' shared router: the demo servers' HTTP contract (README: "The demo
//! server") on axum, in session mode (`axum_session`) or JWT mode (`axum_jwt`).
//!
//! Environment: `BIND` (default `127.0.0.1:3000`), `DATABASE_URL` (`postgres://…`:
//! PostgreSQL, feature `postgres`), `REDIS_URL` (one URL: standalone Redis; a
//! comma-separated list: Redis Cluster; neither: the memory store), `REDIS_MIN_REPLICAS`
//! (unset or 0: writes do not wait; N: each write waits for N replicas, else 503),
//! `ADMIN_KEY`, `TOKEN_TTL_SECS` (default 3600), `IDLE_TIMEOUT_SECS` (both modes),
//! `REFRESH_TTL_SECS` (each refresh token's lifetime from its issue, default 30 days),
//! `DEVICE_CLASSES` (`ios=mobile,android=mobile`:
//! one live session per class; unset, every device name is its own class), `JWT_SECRET`
//! (JWT mode, at least 32 bytes).
//!
//! `ADMIN_KEY` and, in JWT mode, `JWT_SECRET` are required when `BIND` is not a loopback
//! address: the server refuses to start without them. On loopback, unset, each gets a
//! development default (published in this source) and a warning on stderr.
//!
//! Demo accounts: any user id with password `123456`. Admin routes need
//! `X-Admin-Key: <ADMIN_KEY>`.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, State};
use axum::http::{StatusCode, request::Parts};
use axum::middleware::map_response;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use kickout::cookies::Cookies;
use kickout::store::{MemoryStore, Store};
use kickout::{Auth, AuthLayer, Identity, Mode, TokenSource};
use serde::de::DeserializeOwned;
use serde_json::json;

mod shared;
pub use shared::Mode as DemoMode;
pub use shared::{BanBody, Config, DemoStore, LoginBody, SessionView, startup};

struct AppState<S: Store, M: Mode<S>> {
    auth: Auth<S, M>,
    admin_key: String,
    /// `/admin/online`'s cursors, sealed with the admin key.
    cursors: shared::CursorSeal,
    /// Browser sessions: the contract's cookies.
    cookies: Cookies,
}

/// The router's state: cheap to clone.
struct Shared<S: Store, M: Mode<S>>(std::sync::Arc<AppState<S, M>>);

impl<S: Store, M: Mode<S>> Clone for Shared<S, M> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

/// The demo's router over any store.
pub fn app<S: Store, M: Mode<S>>(auth: Auth<S, M>, config: &Config) -> Router {
    let cookies = Cookies::default();
    let state = Shared(std::sync::Arc::new(AppState {
        auth: auth.clone(),
        admin_key: config.admin_key.clone(),
        cursors: shared::CursorSeal::new(&config.admin_key),
        cookies: cookies.clone(),
    }));
    let protected = Router::new()
        .route("/me", get(me))
        .route("/logout", post(logout::<S, M>))
        .route("/me/sessions", get(my_sessions::<S, M>))
        .route(
            "/me/sessions/{session_id}",
            axum::routing::delete(end_my_session::<S, M>),
        )
        .route("/me/logout-others", post(logout_others::<S, M>))
        .route("/me/restrictions", get(my_restrictions::<S, M>))
        // Guarded actions: refused with 403 `restricted` while the user is restricted in
        // `content` at the route's level or above (read with the session: no extra
        // store round trip).
        .route("/content/publish", post(done).route_layer(guard(&auth, 1)))
        .route("/content/comment", post(done).route_layer(guard(&auth, 2)))
        // Step-up: the password again opens `payment` for this session, for a while.
        .route("/me/elevate", post(elevate::<S, M>))
        .route(
            "/payments",
            post(done).route_layer(auth.step_up("payment").expect("a valid scope")),
        )
        // A path no route knows asks for a token first, as the actix demo's does.
        .fallback(|| async { StatusCode::NOT_FOUND })
        .layer(AuthLayer::new(auth.clone()).cookies(cookies.clone()));
    // A browser's EventSource sends the cookie; a script without cookies cannot set
    // headers on it, so this one route also reads ?access_token= (a route layer: the
    // paths no route knows go through `protected`'s fallback, which reads no query).
    let events_source = TokenSource::bearer().with_query("access_token");
    let events = Router::new()
        .route("/events", get(events::<S, M>))
        .route_layer(AuthLayer::new(auth).source(events_source).cookies(cookies));
    let admin = Router::new()
        .route("/admin/kickout/{user_id}", post(kickout_user::<S, M>))
        .route(
            "/admin/kickout/{user_id}/{device}",
            post(kickout_device::<S, M>),
        )
        .route(
            "/admin/ban/{user_id}",
            post(ban::<S, M>).delete(unban::<S, M>),
        )
        .route(
            "/admin/kickout-session/{session_id}",
            post(kickout_session::<S, M>),
        )
        .route("/admin/sessions/{user_id}", get(sessions::<S, M>))
        .route("/admin/restrict/{user_id}", post(restrict::<S, M>))
        .route(
            "/admin/restrict/{user_id}/{scope}",
            axum::routing::delete(unrestrict::<S, M>),
        )
        .route("/admin/restrictions/{user_id}", get(restrictions::<S, M>))
        .route("/admin/online", get(online::<S, M>))
        .route("/admin/online/count", get(online_count::<S, M>))
        .route("/admin/kickout-all", post(kickout_all::<S, M>))
        .route("/admin/events", get(admin_events::<S, M>));
    Router::new()
        .route(
            "/",
            get(|| async { axum::response::Html(shared::USER_PAGE) }),
        )
        .route(
            "/admin/",
            get(|| async { axum::response::Html(shared::ADMIN_PAGE) }),
        )
        // Token endpoints: nothing they answer may be cached (RFC 6749 §5.1).
        .route(
            "/login",
            post(login::<S, M>).layer(map_response(not_cached)),
        )
        .route(
            "/refresh",
            post(refresh::<S, M>).layer(map_response(not_cached)),
        )
        .merge(admin)
        .merge(protected)
        .merge(events)
        .layer(DefaultBodyLimit::max(shared::BODY_LIMIT))
        .with_state(state)
}

/// The guard of a `content` action at `level`.
fn guard<S: Store, M: Mode<S>>(auth: &Auth<S, M>, level: u8) -> kickout::Guard {
    auth.guard("content", level)
        .expect("a valid scope and level")
}

/// A guarded action that passed.
async fn done() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// A JSON error answer `{"error": code, "message": text}`; a refusal (401, 403) is
/// not to be cached, like the library's own.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let res = (status, Json(json!({ "error": code, "message": message }))).into_response();
    if matches!(status.as_u16(), 401 | 403) {
        no_store(res)
    } else {
        res
    }
}

/// `Cache-Control: no-store` on `res`.
fn no_store(mut res: Response) -> Response {
    res.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    res
}

/// Every answer of a token route, extractors' refusals included.
async fn not_cached(res: Response) -> Response {
    no_store(res)
}

/// A JSON body, whatever its content type ([`shared::json_body`]).
struct JsonBody<T>(T);

impl<T: DeserializeOwned, St: Send + Sync> axum::extract::FromRequest<St> for JsonBody<T> {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &St) -> Result<Self, Response> {
        let bytes = read_body(req, state).await?;
        shared::json_body(&bytes).map(JsonBody).map_err(refused)
    }
}

/// A request's body, within [`shared::BODY_LIMIT`]: else refused as a bad body in the
/// JSON shape (axum's own answer is a plain-text 413).
async fn read_body<St: Send + Sync>(
    req: axum::extract::Request,
    state: &St,
) -> Result<Bytes, Response> {
    <Bytes as axum::extract::FromRequest<St>>::from_request(req, state)
        .await
        .map_err(|_| refused(shared::unreadable_body()))
}

/// The client of a request: its peer address (when served with connect info) and
/// `User-Agent`.
struct Client(shared::ClientInfo);

impl<St: Send + Sync> FromRequestParts<St> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        Ok(Client(shared::ClientInfo {
            ip: peer,
            user_agent: agent,
        }))
    }
}

async fn login<S: Store, M: Mode<S>>(
    State(state): State<Shared<S, M>>,
    Client(client): Client,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    JsonBody(body): JsonBody<LoginBody>,
) -> Response {
    let device = match shared::check_login(&body) {
        Ok(device) => device,
        Err(refusal) => return refused(refusal),
    };
    // A cookie login another site's page made the browser send would sign the user
    // into the attacker's account.
    if body.cookies
        && let Err(reason) = state.0.cookies.login_guard(&method, &uri, &headers)
    {
        return state.0.auth.rejection(reason).into_response();
    }
    let options = shared::login_options(&body, &client);
    match state
        .0
        .auth
        .login_with(&body.user_id, device, options)
        .await
    {
        Ok(login) if body.cookies => with_cookies(&state.0.cookies, &login),
        Ok(login) => Json(shared::pair_json(&login)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// A cookie login's answer: the three cookies, and no token in the body.
fn with_cookies(cookies: &Cookies, login: &kickout::Login) -> Response {
    match cookies.login(login) {
        Ok(set) => {
            let body = shared::cookie_json(login, &set);
            (set, Json(body)).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// `POST /refresh`: a new pair for a refresh token in the body (no bearer needed), or
/// by the refresh cookie (under the CSRF rule) for a browser session; not both.
async fn refresh<S: Store, M: Mode<S>>(
    State(state): State<Shared<S, M>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let auth = &state.0.auth;
    let Some(body) = body.ok().as_deref().and_then(shared::refresh_body) else {
        return auth
            .rejection(kickout::Reason::InvalidRequest)
            .into_response();
    };
    let cookies = &state.0.cookies;
    match shared::presented(body, cookies.refresh_token(&method, &uri, &headers)) {
        Ok(shared::Presented::Body(token)) => match auth.refresh(&token).await {
            Ok(login) => Json(shared::pair_json(&login)).into_response(),
            Err(e) => e.into_response(),
        },
        Ok(shared::Presented::Cookie(token)) => match auth.refresh(&token).await {
            Ok(login) => with_cookies(cookies, &login),
            // A refused refresh cookie (reused, ended, expired) is a dead session.
            Err(e) if e.status() == StatusCode::UNAUTHORIZED => {
                (cookies.clear(), e).into_response()
            }
            Err(e) => e.into_response(),
        },
        Err(reason) => auth.rejection(reason).into_response(),
    }
}

async fn me(identity: Identity) -> Json<serde_json::Value> {
    Json(json!({
        "user_id": identity.user_id(),
        "device": identity.device(),
        "session_id": identity.session_id().to_string(),
    }))
}

/// The caller's live sessions, oldest first, theirs marked `current`.
async fn my_sessions<S: Store, M: Mode<S>>(
    State(state): State<Shared<S, M>>,
    identity: Identity,
) -> Response {
    match state.0.auth.sessions(identity.user_id()).await {
        Ok(list) => Json(shared::own_sessions(list, identity.session_id())).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Signs out one of the caller's sessions: 204, or 404 if it is none of theirs.
async fn end_my_session<S: Store, M: Mode<S>>(
    State(state): State<Shared<S, M>>,
    identity: Identity,
    // Not text (`%FF`) or not an id: no session of theirs either.
    session_id: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Response {
    let Some(id) = session_id.ok().and_then(|Path(id)| id.parse().ok()) else {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            "No such session of yours.",
        );
    };
    match state.0.auth.logout_session(&identity, id).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => error(
            StatusCode::NOT_FOUND,
            "not_found",
            "No such session of yours.",
        ),
        Err(e) => e.into_response(),
    }
}

/// Signs out every other session of the caller.
async fn logout_others<S: Store, M: Mode<S>>(
    State(state): State<Shared<S, M>>,
    identity: Identity,
) -> Response {
    match state.0.auth.logout_others(&identity).await {
        Ok(n) => Json(json!({ "ended": n })).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn logout<S: Store, M: Mode<S>>(
    State(state): State<Shared<S, M>>,
    identity: Identity,
) -> Response {
    match state
        .0
        .auth
        .logout_session(&identity, identity.session_id())
        .await
    {
        // A browser forgets the session's cookies too.
        Ok(_) => (state.0.cookies.clear(), StatusCode::NO_CONTENT).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `event: tick` about once a second while the session lives; `event: revoked` with
/// the reason, then the end of the stream, once it is logged out, kicked, replaced,
/// banned or expired — from any instance sharing the store.
async fn events<S: Store, M: Mode<S>>(
    State(state): State<Shared<S, M>>,
    identity: Identity,
) -> axum::response::sse::Sse<
    impl futures::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
> {
    use axum::response::sse::{Event, Sse};
    let watch = state.0.auth.watch(&identity);
    let stream = shared::revocation_stream(watch).map(|item| {
        Ok(match item {
            shared::StreamItem::Tick(n) => Event::default().event("tick").data(n.to_string()),
            shared::StreamItem::Revoked(reason) => {
                Event::default().event("revoked").data(reason.code())
            }
        })
    });
    Sse::new(stream)
}

/// `GET /admin/events`: the audit stream of every instance sharing the store.
async fn admin_events<S: Store, M: Mode<S>>(
    _: Admin,
    State(state): State<Shared<S, M>>,
) -> Result<
    axum::response::sse::Sse<
        impl futures::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
    >,
    kickout::Error,
> {
    use axum::response::sse::{Event, Sse};
    let audit = shared::open_audit(&state.0.auth).await?;
    let stream = shared::audit_stream(audit).map(|item| {
        Ok(match item {
            Some((kind, data)) => Event::default().event(kind).data(data),
            None => Event::default().comment("keep-alive"),
        })
    });
    Ok(Sse::new(stream))
}

/// Admin routes take this extractor first: the `X-Admin-Key` header must match, and
/// the path be text (see `shared::admin_refusal`).
struct Admin;

impl<S: Store, M: Mode<S>> FromRequestParts<Shared<S, M>> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Shared<S, M>) -> Result<Self, Response> {
        let given = parts.headers.get("x-admin-key").map(|v| v.as_bytes());
        match shared::admin_refusal(given, &state.0.admin_key, parts.uri.path()) {
            None => Ok(Admin),
            Some(refusal) => Err(refused(refusal)),
        }
    }
}

fn kicked(result: Result<usize, kickout::Error>) -> Response {
    match result {
        Ok(n) => Json(json!({ "kicked": n })).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The JSON error answer of a refusal computed by `shared`.
fn refused((status, code, message): shared::Refusal) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    error(status, code, &message)
}

/// The optional `{"note"}` body of a kickout route.
struct NoteBody(Option<kickout::Note>);

impl<St: Send + Sync> axum::extract::FromRequest<St> for NoteBody {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &St) -> Result<Self, Response> {
        let bytes = read_body(req, state).await?;
        shared::note_body(&bytes).map(NoteBody).map_err(refused)
    }
}

async fn kickout_user<S: Store, M: Mode<S>>(
    _: Admin,
    State(state): State<Shared<S, M>>,
    Path(user_id): Path<String>,
    NoteBody(note): NoteBody,
) -> Response {
    kicked(state.0.auth.with_note(note).kickout(&user_id).await)
}

async fn kickout_device<S: Store, M: Mode<S>>(
    _: Admin,
    State(state): State<Shared<S, M>>,
    Path((user_id, device)): Path<(String, String)>,
    NoteBody(note): NoteBody,
) -> Response {
    let auth = state.0.auth.with_note(note);
    kicked(auth.kickout_device(&user_id, &device).await)
}

async fn kickout_session<S: Store, M: Mode<S>>(
    _: Admin,
    State(state): State<Shared<S, M>>,
    Path(session_id): Path<String>,
    NoteBody(note): NoteBody,
) -> Response {
    // Text that is no session id names no session: nothing to end.
    let Ok(id) = session_id.parse() else {
        return kicked(Ok(0));
    };
    let auth = state.0.auth.with_note(note);
    kicked(auth.kickout_session(id).await.map(usize::from))
}

async fn ban<S: Store, M: Mode<S>>(
    _: Admin,
    State(state): State<Shared<S, M>>,
    Path(user_id): Path<String>,
    JsonBody(body): JsonBody<BanBody>,
) -> Response {
    let (duration, note) = match shared::timed_note(body.seconds, body.note.as_deref()) {
        Ok(timed) => timed,
        Err(refusal) => return refused(refusal),
    };
    let auth = state.0.auth.with_note(note);
    kicked(auth.ban(&user_id, duration).await)
}

/// Restricts a user in a scope for a while; their sessions go on.
async fn restrict<S: Store, M: Mode<S>>(
    _: Admin,
    State(state): State<Shared<S, M>>,
    Path(user_id): Path<String>,
    JsonBody(body): JsonBody<shared::RestrictBody>,
) -> Response {
    let (duration, note) = match shared::timed_note(body.seconds, body.note.as_deref()) {
        Ok(timed) => timed,
        Err(refusal) => return refused(refusal),
    };
    let auth = state.0.auth.with_note(note);
    match auth
        .restrict(&user_id, &body.scope, body.level, duration)
        .await
    {
        Ok(r) => Json(shared::restriction_json(&r)).into_response(),
        Err(e) => match shared::restrict_error(&e) {
            Some(refusal) => refused(refusal),
            None => e.into_response(),
        },
    }
}

async fn unrestrict<S: Store, M: Mode<S>>(
    _: Admin,
    State(state): State<Shared<S, M>>,
    Path((user_id, scope)): Path<(String, String)>,
) -> Response {
    match state.0.auth.unrestrict(&user_id, &scope).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn restrictions<S: Store, M: Mode<S>>(
    _: Admin,
    State(state): State<Shared<S, M>>,
    Path(user_id): Path<String>,
) -> Response {
    restriction_list(state.0.auth.restrictions(&user_id).await)
}

/// Opens a step-up window for the caller's session after checking the password again.
async fn elevate<S: Store, M: Mode<S>>(
    State(state): State<Shared<S, M>>,
    identity: Identity,
    JsonBody(body): JsonBody<shared::ElevateBody>,
) -> Response {
    if let Err(refusal) = shared::check_elevate(&body) {
        return refused(refusal);
    }
    let auth = &state.0.auth;
    match auth
        .elevate(&identity, &body.scope, shared::STEP_UP_WINDOW)
        .await
    {
        Ok(until) => Json(shared::elevation_json(&body.scope, until)).into_response(),
        Err(e) => match shared::restrict_error(&e) {
            Some(refusal) => refused(refusal),
            None => e.into_response(),
        },
    }
}

/// The caller's own restrictions.
async fn my_restrictions<S: Store, M: Mode<S>>(
    State(state): State<Shared<S, M>>,
    identity: Identity,
) -> Response {
    restriction_list(state.0.auth.restrictions(identity.user_id()).await)
}

fn restriction_list(
    list: Result<Vec<kickout::restriction::Restriction>, kickout::Error>,
) -> Response {
    match list {
        Ok(list) => Json(
            list.iter()
                .map(shared::restriction_json)
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn online<S: Store, M: Mode<S>>(
    _: Admin,
    State(state): State<Shared<S, M>>,
    uri: axum::http::Uri,
) -> Response {
    let q = match shared::online_query(uri.query().unwrap_or_default(), &state.0.cursors) {
        Ok(q) => q,
        Err(refusal) => return refused(refusal),
    };
    let auth = &state.0.auth;
    match auth
        .online(q.cursor.as_deref(), q.limit, q.class.as_deref())
        .await
    {
        Ok(page) => Json(shared::online_json(&page, &state.0.cursors)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn online_count<S: Store, M: Mode<S>>(
    _: Admin,
    State(state): State<Shared<S, M>>,
) -> Response {
    match state.0.auth.online_count().await {
        Ok(c) => Json(json!({ "sessions": c.sessions, "users": c.users })).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn kickout_all<S: Store, M: Mode<S>>(
    _: Admin,
    State(state): State<Shared<S, M>>,
    NoteBody(note): NoteBody,
) -> Response {
    kicked(state.0.auth.with_note(note).kickout_all().await)
}

async fn unban<S: Store, M: Mode<S>>(
    _: Admin,
    State(state): State<Shared<S, M>>,
    Path(user_id): Path<String>,
) -> Response {
    match state.0.auth.unban(&user_id).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn sessions<S: Store, M: Mode<S>>(
    _: Admin,
    State(state): State<Shared<S, M>>,
    Path(user_id): Path<String>,
) -> Response {
    match state.0.auth.sessions(&user_id).await {
        Ok(list) => {
            Json(list.into_iter().map(SessionView::from).collect::<Vec<_>>()).into_response()
        }
        Err(e) => e.into_response(),
    }
}

/// Serves `app` on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, app: Router) -> std::io::Result<()> {
    // Connect info: logins record their client's address.
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).await
}

/// The demo's router on `store`, in the configured mode.
pub fn router<S: DemoStore>(store: S, config: &Config) -> Router {
    match config.mode {
        DemoMode::Session => app(config.session_auth(store), config),
        DemoMode::Jwt => app(config.jwt_auth(store), config),
    }
}

/// Runs a demo server from the environment until the process ends; an error when it
/// cannot start (the example's `main` prints it and exits with status 1).
pub async fn main(mode: DemoMode) -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_env(mode)?;
    let app = match (&config.database_url, &config.redis_url) {
        (Some(url), _) => postgres_app(url, &config).await?,
        (None, Some(urls)) => redis_app(urls, &config).await?,
        (None, None) => router(MemoryStore::new(), &config),
    };
    let listener = tokio::net::TcpListener::bind(&config.bind).await?;
    println!("listening on {}", listener.local_addr()?);
    serve(listener, app).await?;
    Ok(())
}

/// The router on Redis: one URL for a standalone server, a comma-separated list for a
/// Cluster.
#[cfg(feature = "redis")]
pub async fn redis_app(urls: &str, config: &Config) -> Result<Router, kickout::store::StoreError> {
    let store = shared::redis_store(urls, config).await?;
    Ok(router(store, config))
}

#[cfg(not(feature = "redis"))]
pub async fn redis_app(_: &str, _: &Config) -> Result<Router, String> {
    Err("REDIS_URL is set but this build has no `redis` feature".into())
}

/// The router on PostgreSQL.
#[cfg(feature = "postgres")]
pub async fn postgres_app(
    url: &str,
    config: &Config,
) -> Result<Router, kickout::store::StoreError> {
    let store = shared::postgres_store(url).await?;
    Ok(router(store, config))
}

#[cfg(not(feature = "postgres"))]
pub async fn postgres_app(_: &str, _: &Config) -> Result<Router, String> {
    Err("DATABASE_URL is set but this build has no `postgres` feature".into())
}
