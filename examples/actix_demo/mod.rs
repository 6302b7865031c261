//! The demo servers' actix-web app: the demo servers' HTTP contract (README: "The demo
//! server"), in session mode (`actix_session`) or JWT mode (`actix_jwt`); same environment
//! as the axum demos (`examples/demo/mod.rs`), and the same refusal to start off loopback
//! without `ADMIN_KEY` (and, in JWT mode, `JWT_SECRET`).

use actix_web::http::StatusCode;
use actix_web::middleware::DefaultHeaders;
use actix_web::web::{self, Bytes, Data};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use kickout::actix::KickoutAuth;
use kickout::cookies::Cookies;
use kickout::store::{MemoryStore, Store};
use kickout::{Auth, Identity, Mode};
use serde::de::DeserializeOwned;
use serde_json::json;

#[path = "../demo/shared.rs"]
mod shared;
pub use shared::Mode as DemoMode;
pub use shared::{Config, DemoStore, startup};

struct State<S: Store, M: Mode<S>> {
    auth: Auth<S, M>,
    /// `/admin/online`'s cursors, sealed with the admin key.
    cursors: shared::CursorSeal,
    /// Browser sessions: the contract's cookies.
    cookies: Cookies,
}

/// A JSON error answer `{"error": code, "message": text}`; a refusal (401, 403) is
/// not to be cached, like the library's own.
fn error(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    let mut res = HttpResponse::build(status);
    if matches!(status.as_u16(), 401 | 403) {
        res.insert_header(no_store());
    }
    res.json(json!({ "error": code, "message": message }))
}

/// `Cache-Control: no-store`.
fn no_store() -> (actix_web::http::header::HeaderName, &'static str) {
    (actix_web::http::header::CACHE_CONTROL, "no-store")
}

/// A JSON body, whatever its content type ([`shared::json_body`]).
fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, HttpResponse> {
    shared::json_body(body).map_err(refused)
}

/// A request body of at most [`shared::BODY_LIMIT`] bytes. A longer one, or one that
/// could not be read, is refused in the JSON shape as a bad body (actix's own answer is
/// a plain-text 413).
struct Body(Bytes);

impl actix_web::FromRequest for Body {
    type Error = actix_web::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let bytes = Bytes::from_request(req, payload);
        Box::pin(async move {
            bytes.await.map(Body).map_err(|e| {
                let res = refused(shared::unreadable_body());
                actix_web::error::InternalError::from_response(e, res).into()
            })
        })
    }
}

/// An HTML page.
fn page(html: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html)
}

/// The JSON error answer of a refusal computed by `shared`.
fn refused((status, code, message): shared::Refusal) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    error(status, code, &message)
}

/// The `X-Admin-Key` the admin routes ask for.
struct AdminKey(String);

/// Admin routes take this extractor first: actix extracts a handler's arguments in
/// their order, so a wrong key is refused before the body is read (as in axum).
struct Admin;

impl actix_web::FromRequest for Admin {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let given = req.headers().get("x-admin-key").map(|v| v.as_bytes());
        // The raw path: actix's path parameters decode `%FF` as U+FFFD.
        let refusal = match req.app_data::<Data<AdminKey>>() {
            Some(key) => shared::admin_refusal(given, &key.0, req.uri().path()),
            None => shared::admin_refusal(None, "", ""),
        };
        std::future::ready(match refusal {
            None => Ok(Admin),
            Some(refusal) => {
                let res = refused(refusal);
                Err(actix_web::error::InternalError::from_response("admin", res).into())
            }
        })
    }
}

fn kicked(result: Result<usize, kickout::Error>) -> HttpResponse {
    match result {
        Ok(n) => HttpResponse::Ok().json(json!({ "kicked": n })),
        Err(e) => actix_web::ResponseError::error_response(&e),
    }
}

async fn login<S: Store, M: Mode<S>>(
    req: HttpRequest,
    state: Data<State<S, M>>,
    Body(body): Body,
) -> HttpResponse {
    let body: shared::LoginBody = match parse(&body) {
        Ok(b) => b,
        Err(res) => return res,
    };
    let device = match shared::check_login(&body) {
        Ok(device) => device,
        Err(refusal) => return refused(refusal),
    };
    // A cookie login another site's page made the browser send would sign the user
    // into the attacker's account.
    if body.cookies
        && let Err(reason) = state.cookies.login_guard_actix(&req)
    {
        return actix_web::ResponseError::error_response(&state.auth.rejection(reason));
    }
    let client = shared::ClientInfo {
        ip: req.peer_addr().map(|a| a.ip()),
        user_agent: req
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
    };
    let options = shared::login_options(&body, &client);
    match state.auth.login_with(&body.user_id, device, options).await {
        Ok(login) if body.cookies => with_cookies(&state.cookies, &login),
        Ok(login) => HttpResponse::Ok().json(shared::pair_json(&login)),
        Err(e) => actix_web::ResponseError::error_response(&e),
    }
}

/// A cookie login's answer: the three cookies, and no token in the body.
fn with_cookies(cookies: &Cookies, login: &kickout::Login) -> HttpResponse {
    match cookies.login(login) {
        Ok(set) => {
            let mut res = HttpResponse::Ok();
            set.apply_actix(&mut res);
            res.json(shared::cookie_json(login, &set))
        }
        Err(e) => actix_web::ResponseError::error_response(&e),
    }
}

/// `POST /refresh`: a new pair for a refresh token in the body (no bearer needed), or
/// by the refresh cookie (under the CSRF rule) for a browser session; not both.
async fn refresh<S: Store, M: Mode<S>>(
    req: HttpRequest,
    state: Data<State<S, M>>,
    body: Result<Body, actix_web::Error>,
) -> HttpResponse {
    let auth = &state.auth;
    let Some(body) = body.ok().and_then(|Body(b)| shared::refresh_body(&b)) else {
        return actix_web::ResponseError::error_response(
            &auth.rejection(kickout::Reason::InvalidRequest),
        );
    };
    let cookies = &state.cookies;
    match shared::presented(body, cookies.refresh_token_actix(&req)) {
        Ok(shared::Presented::Body(token)) => match auth.refresh(&token).await {
            Ok(login) => HttpResponse::Ok().json(shared::pair_json(&login)),
            Err(e) => actix_web::ResponseError::error_response(&e),
        },
        Ok(shared::Presented::Cookie(token)) => match auth.refresh(&token).await {
            Ok(login) => with_cookies(cookies, &login),
            Err(e) => {
                let mut res = actix_web::ResponseError::error_response(&e);
                // A refused refresh cookie (reused, ended, expired) is a dead session.
                if e.status() == http::StatusCode::UNAUTHORIZED {
                    clear_on(cookies, &mut res);
                }
                res
            }
        },
        Err(reason) => actix_web::ResponseError::error_response(&auth.rejection(reason)),
    }
}

/// Appends the headers clearing the browser session's cookies to `res`.
fn clear_on(cookies: &Cookies, res: &mut HttpResponse) {
    for value in cookies.clear().headers() {
        if let Ok(value) = actix_web::http::header::HeaderValue::from_bytes(value.as_bytes()) {
            res.headers_mut()
                .append(actix_web::http::header::SET_COOKIE, value);
        }
    }
}

async fn me(identity: Identity) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "user_id": identity.user_id(),
        "device": identity.device(),
        "session_id": identity.session_id().to_string(),
    }))
}

fn failed(e: &kickout::Error) -> HttpResponse {
    actix_web::ResponseError::error_response(e)
}

/// The caller's live sessions, oldest first, theirs marked `current`.
async fn my_sessions<S: Store, M: Mode<S>>(
    state: Data<State<S, M>>,
    identity: Identity,
) -> HttpResponse {
    match state.auth.sessions(identity.user_id()).await {
        Ok(list) => HttpResponse::Ok().json(shared::own_sessions(list, identity.session_id())),
        Err(e) => failed(&e),
    }
}

/// Signs out one of the caller's sessions: 204, or 404 if it is none of theirs.
async fn end_my_session<S: Store, M: Mode<S>>(
    state: Data<State<S, M>>,
    identity: Identity,
    session_id: web::Path<String>,
) -> HttpResponse {
    let not_found = || {
        error(
            StatusCode::NOT_FOUND,
            "not_found",
            "No such session of yours.",
        )
    };
    let Ok(id) = session_id.parse() else {
        return not_found();
    };
    match state.auth.logout_session(&identity, id).await {
        Ok(true) => HttpResponse::NoContent().finish(),
        Ok(false) => not_found(),
        Err(e) => failed(&e),
    }
}

/// Signs out every other session of the caller.
async fn logout_others<S: Store, M: Mode<S>>(
    state: Data<State<S, M>>,
    identity: Identity,
) -> HttpResponse {
    match state.auth.logout_others(&identity).await {
        Ok(n) => HttpResponse::Ok().json(json!({ "ended": n })),
        Err(e) => failed(&e),
    }
}

async fn kickout_session<S: Store, M: Mode<S>>(
    _: Admin,
    state: Data<State<S, M>>,
    session_id: web::Path<String>,
    Body(body): Body,
) -> HttpResponse {
    let note = match shared::note_body(&body) {
        Ok(note) => note,
        Err(refusal) => return refused(refusal),
    };
    // Text that is no session id names no session: nothing to end.
    let Ok(id) = session_id.parse() else {
        return kicked(Ok(0));
    };
    let auth = state.auth.with_note(note);
    kicked(auth.kickout_session(id).await.map(usize::from))
}

async fn logout<S: Store, M: Mode<S>>(
    state: Data<State<S, M>>,
    identity: Identity,
) -> HttpResponse {
    match state
        .auth
        .logout_session(&identity, identity.session_id())
        .await
    {
        Ok(_) => {
            // A browser forgets the session's cookies too.
            let mut res = HttpResponse::NoContent();
            state.cookies.clear().apply_actix(&mut res);
            res.finish()
        }
        Err(e) => actix_web::ResponseError::error_response(&e),
    }
}

/// Restricts a user in a scope for a while; their sessions go on.
async fn restrict<S: Store, M: Mode<S>>(
    _: Admin,
    state: Data<State<S, M>>,
    path: web::Path<String>,
    Body(body): Body,
) -> HttpResponse {
    let body: shared::RestrictBody = match parse(&body) {
        Ok(b) => b,
        Err(res) => return res,
    };
    let (duration, note) = match shared::timed_note(body.seconds, body.note.as_deref()) {
        Ok(timed) => timed,
        Err(refusal) => return refused(refusal),
    };
    let auth = state.auth.with_note(note);
    match auth
        .restrict(&path, &body.scope, body.level, duration)
        .await
    {
        Ok(r) => HttpResponse::Ok().json(shared::restriction_json(&r)),
        Err(e) => match shared::restrict_error(&e) {
            Some(refusal) => refused(refusal),
            None => actix_web::ResponseError::error_response(&e),
        },
    }
}

async fn unrestrict<S: Store, M: Mode<S>>(
    _: Admin,
    state: Data<State<S, M>>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (user_id, scope) = path.into_inner();
    match state.auth.unrestrict(&user_id, &scope).await {
        Ok(_) => HttpResponse::NoContent().finish(),
        Err(e) => actix_web::ResponseError::error_response(&e),
    }
}

async fn restrictions<S: Store, M: Mode<S>>(
    _: Admin,
    state: Data<State<S, M>>,
    path: web::Path<String>,
) -> HttpResponse {
    restriction_list(state.auth.restrictions(&path).await)
}

/// Opens a step-up window for the caller's session after checking the password again.
async fn elevate<S: Store, M: Mode<S>>(
    state: Data<State<S, M>>,
    identity: Identity,
    Body(body): Body,
) -> HttpResponse {
    let body: shared::ElevateBody = match parse(&body) {
        Ok(b) => b,
        Err(res) => return res,
    };
    if let Err(refusal) = shared::check_elevate(&body) {
        return refused(refusal);
    }
    match state
        .auth
        .elevate(&identity, &body.scope, shared::STEP_UP_WINDOW)
        .await
    {
        Ok(until) => HttpResponse::Ok().json(shared::elevation_json(&body.scope, until)),
        Err(e) => match shared::restrict_error(&e) {
            Some(refusal) => refused(refusal),
            None => actix_web::ResponseError::error_response(&e),
        },
    }
}

/// The caller's own restrictions.
async fn my_restrictions<S: Store, M: Mode<S>>(
    state: Data<State<S, M>>,
    identity: Identity,
) -> HttpResponse {
    restriction_list(state.auth.restrictions(identity.user_id()).await)
}

fn restriction_list(
    list: Result<Vec<kickout::restriction::Restriction>, kickout::Error>,
) -> HttpResponse {
    match list {
        Ok(list) => HttpResponse::Ok().json(
            list.iter()
                .map(shared::restriction_json)
                .collect::<Vec<_>>(),
        ),
        Err(e) => actix_web::ResponseError::error_response(&e),
    }
}

async fn kickout_user<S: Store, M: Mode<S>>(
    _: Admin,
    state: Data<State<S, M>>,
    user: web::Path<String>,
    Body(body): Body,
) -> HttpResponse {
    match shared::note_body(&body) {
        Ok(note) => kicked(state.auth.with_note(note).kickout(&user).await),
        Err(refusal) => refused(refusal),
    }
}

async fn kickout_device<S: Store, M: Mode<S>>(
    _: Admin,
    state: Data<State<S, M>>,
    path: web::Path<(String, String)>,
    Body(body): Body,
) -> HttpResponse {
    let (user, device) = path.into_inner();
    match shared::note_body(&body) {
        Ok(note) => kicked(
            state
                .auth
                .with_note(note)
                .kickout_device(&user, &device)
                .await,
        ),
        Err(refusal) => refused(refusal),
    }
}

async fn ban<S: Store, M: Mode<S>>(
    _: Admin,
    state: Data<State<S, M>>,
    user: web::Path<String>,
    Body(body): Body,
) -> HttpResponse {
    let body: shared::BanBody = match parse(&body) {
        Ok(b) => b,
        Err(res) => return res,
    };
    let (duration, note) = match shared::timed_note(body.seconds, body.note.as_deref()) {
        Ok(timed) => timed,
        Err(refusal) => return refused(refusal),
    };
    let auth = state.auth.with_note(note);
    kicked(auth.ban(&user, duration).await)
}

async fn online<S: Store, M: Mode<S>>(
    _: Admin,
    req: HttpRequest,
    state: Data<State<S, M>>,
) -> HttpResponse {
    let q = match shared::online_query(req.query_string(), &state.cursors) {
        Ok(q) => q,
        Err(refusal) => return refused(refusal),
    };
    match state
        .auth
        .online(q.cursor.as_deref(), q.limit, q.class.as_deref())
        .await
    {
        Ok(page) => HttpResponse::Ok().json(shared::online_json(&page, &state.cursors)),
        Err(e) => failed(&e),
    }
}

async fn online_count<S: Store, M: Mode<S>>(_: Admin, state: Data<State<S, M>>) -> HttpResponse {
    match state.auth.online_count().await {
        Ok(c) => HttpResponse::Ok().json(json!({ "sessions": c.sessions, "users": c.users })),
        Err(e) => failed(&e),
    }
}

async fn kickout_all<S: Store, M: Mode<S>>(
    _: Admin,
    state: Data<State<S, M>>,
    Body(body): Body,
) -> HttpResponse {
    match shared::note_body(&body) {
        Ok(note) => kicked(state.auth.with_note(note).kickout_all().await),
        Err(refusal) => refused(refusal),
    }
}

/// `GET /admin/events`: the audit stream of every instance sharing the store.
async fn admin_events<S: Store, M: Mode<S>>(_: Admin, state: Data<State<S, M>>) -> HttpResponse {
    use futures::StreamExt;
    let audit = match shared::open_audit(&state.auth).await {
        Ok(audit) => audit,
        Err(e) => return actix_web::ResponseError::error_response(&e),
    };
    let stream = shared::audit_stream(audit).map(|item| {
        let text = match item {
            Some((kind, data)) => format!("event: {kind}\ndata: {data}\n\n"),
            None => ": keep-alive\n\n".to_owned(),
        };
        Ok::<_, actix_web::Error>(Bytes::from(text))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .streaming(stream)
}

async fn unban<S: Store, M: Mode<S>>(
    _: Admin,
    state: Data<State<S, M>>,
    user: web::Path<String>,
) -> HttpResponse {
    match state.auth.unban(&user).await {
        Ok(_) => HttpResponse::NoContent().finish(),
        Err(e) => actix_web::ResponseError::error_response(&e),
    }
}

async fn sessions<S: Store, M: Mode<S>>(
    _: Admin,
    state: Data<State<S, M>>,
    user: web::Path<String>,
) -> HttpResponse {
    match state.auth.sessions(&user).await {
        Ok(list) => HttpResponse::Ok().json(
            list.into_iter()
                .map(shared::SessionView::from)
                .collect::<Vec<_>>(),
        ),
        Err(e) => actix_web::ResponseError::error_response(&e),
    }
}

/// `event: tick` about once a second, `event: revoked` with the reason when the session
/// ends, then the end of the stream.
async fn events<S: Store, M: Mode<S>>(
    state: Data<State<S, M>>,
    identity: Identity,
) -> HttpResponse {
    use futures::StreamExt;
    let watch = state.auth.watch(&identity);
    let stream = shared::revocation_stream(watch).map(|item| {
        let text = match item {
            shared::StreamItem::Tick(n) => format!("event: tick\ndata: {n}\n\n"),
            shared::StreamItem::Revoked(reason) => {
                format!("event: revoked\ndata: {}\n\n", reason.code())
            }
        };
        Ok::<_, actix_web::Error>(Bytes::from(text))
    });
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .streaming(stream)
}

/// The app's routes over any store.
pub fn configure<S: Store, M: Mode<S>>(
    auth: Auth<S, M>,
    config: &Config,
) -> impl Fn(&mut web::ServiceConfig) + Clone + use<S, M> {
    let cookies = Cookies::default();
    let admin_key = Data::new(AdminKey(config.admin_key.clone()));
    let state = Data::new(State {
        auth: auth.clone(),
        cursors: shared::CursorSeal::new(&config.admin_key),
        cookies: cookies.clone(),
    });
    // Guarded actions: refused with 403 `restricted` while the user is restricted in
    // `content` at the route's level or above (read with the session).
    let guard = |level| {
        auth.guard("content", level)
            .expect("a valid scope and level")
    };
    let (publish, comment) = (guard(1), guard(2));
    let payment = auth.step_up("payment").expect("a valid scope");
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(state.clone())
            .app_data(admin_key.clone())
            .app_data(web::PayloadConfig::new(shared::BODY_LIMIT))
            // Each path is a resource: another method is 405 with `Allow`, as in axum,
            // not a fall through to the authenticated scope below.
            .service(get("/", || async { page(shared::USER_PAGE) }))
            .service(get("/admin/", || async { page(shared::ADMIN_PAGE) }))
            // Token endpoints: nothing they answer may be cached (RFC 6749 §5.1).
            .service(
                web::resource("/login")
                    .wrap(DefaultHeaders::new().add(no_store()))
                    .route(web::post().to(login::<S, M>)),
            )
            .service(
                web::resource("/refresh")
                    .wrap(DefaultHeaders::new().add(no_store()))
                    .route(web::post().to(refresh::<S, M>)),
            )
            .service(
                web::resource("/admin/kickout/{user_id}")
                    .route(web::post().to(kickout_user::<S, M>)),
            )
            .service(
                web::resource("/admin/kickout/{user_id}/{device}")
                    .route(web::post().to(kickout_device::<S, M>)),
            )
            .service(
                web::resource("/admin/ban/{user_id}")
                    .route(web::post().to(ban::<S, M>))
                    .route(web::delete().to(unban::<S, M>)),
            )
            .service(get("/admin/sessions/{user_id}", sessions::<S, M>))
            .service(
                web::resource("/admin/restrict/{user_id}").route(web::post().to(restrict::<S, M>)),
            )
            .service(
                web::resource("/admin/restrict/{user_id}/{scope}")
                    .route(web::delete().to(unrestrict::<S, M>)),
            )
            .service(get("/admin/restrictions/{user_id}", restrictions::<S, M>))
            .service(get("/admin/online", online::<S, M>))
            .service(get("/admin/online/count", online_count::<S, M>))
            .service(web::resource("/admin/kickout-all").route(web::post().to(kickout_all::<S, M>)))
            .service(get("/admin/events", admin_events::<S, M>))
            .service(
                web::resource("/admin/kickout-session/{session_id}")
                    .route(web::post().to(kickout_session::<S, M>)),
            )
            // The query token on this one path only (a scope would take `/events/…` too).
            .service(
                get("/events", events::<S, M>).wrap(
                    KickoutAuth::new(auth.clone())
                        .source(kickout::TokenSource::bearer().with_query("access_token"))
                        .cookies(cookies.clone()),
                ),
            )
            .service(
                web::scope("")
                    .wrap(KickoutAuth::new(auth.clone()).cookies(cookies.clone()))
                    .service(get("/me", me))
                    .service(web::resource("/logout").route(web::post().to(logout::<S, M>)))
                    .service(get("/me/sessions", my_sessions::<S, M>))
                    .service(
                        web::resource("/me/sessions/{session_id}")
                            .route(web::delete().to(end_my_session::<S, M>)),
                    )
                    .service(
                        web::resource("/me/logout-others")
                            .route(web::post().to(logout_others::<S, M>)),
                    )
                    .service(get("/me/restrictions", my_restrictions::<S, M>))
                    // A guard wraps its route, not the resource: another method is 405,
                    // whoever asks, as axum's `route_layer` answers it.
                    .service(
                        web::resource("/content/publish").route(
                            web::post()
                                .to(HttpResponse::NoContent)
                                .wrap(publish.clone()),
                        ),
                    )
                    .service(
                        web::resource("/content/comment").route(
                            web::post()
                                .to(HttpResponse::NoContent)
                                .wrap(comment.clone()),
                        ),
                    )
                    // Step-up: the password again opens `payment` for this session.
                    .service(web::resource("/me/elevate").route(web::post().to(elevate::<S, M>)))
                    .service(
                        web::resource("/payments").route(
                            web::post()
                                .to(HttpResponse::NoContent)
                                .wrap(payment.clone()),
                        ),
                    ),
            );
    }
}

/// A resource answering `GET` with `handler`, and `HEAD` as axum's `get` does.
fn get<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(web::get().to(handler.clone()))
        .route(web::head().to(handler))
}

/// Serves the app on `listener` until the process ends (on the current actix system).
pub async fn serve<S: Store, M: Mode<S>>(
    listener: std::net::TcpListener,
    auth: Auth<S, M>,
    config: Config,
) -> std::io::Result<()> {
    let routes = configure(auth, &config);
    HttpServer::new(move || App::new().configure(routes.clone()))
        .workers(2)
        .listen(listener)?
        .run()
        .await
}

/// Serves the app on `store`, in the configured mode.
pub async fn serve_store<S: DemoStore>(
    listener: std::net::TcpListener,
    store: S,
    config: Config,
) -> std::io::Result<()> {
    match config.mode {
        DemoMode::Session => serve(listener, config.session_auth(store), config).await,
        DemoMode::Jwt => serve(listener, config.jwt_auth(store), config).await,
    }
}

/// Runs a demo server from the environment until the process ends; an error when it
/// cannot start (the example's `main` prints it and exits with status 1).
pub async fn main(mode: DemoMode) -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_env(mode)?;
    if let Some(url) = config.database_url.clone() {
        return serve_postgres(&url, config).await;
    }
    match config.redis_url.clone() {
        Some(urls) => serve_redis(&urls, config).await,
        None => {
            let listener = listen(&config)?;
            Ok(serve_store(listener, MemoryStore::new(), config).await?)
        }
    }
}

/// The listener on `BIND`, announced on stdout.
fn listen(config: &Config) -> std::io::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(&config.bind)?;
    println!("listening on {}", listener.local_addr()?);
    Ok(listener)
}

/// Serves on Redis: one URL for a standalone server, a comma-separated list for a
/// Cluster.
#[cfg(feature = "redis")]
async fn serve_redis(urls: &str, config: Config) -> Result<(), Box<dyn std::error::Error>> {
    let store = shared::redis_store(urls, &config).await?;
    let listener = listen(&config)?;
    Ok(serve_store(listener, store, config).await?)
}

#[cfg(not(feature = "redis"))]
async fn serve_redis(_: &str, _: Config) -> Result<(), Box<dyn std::error::Error>> {
    Err("REDIS_URL is set but this build has no `redis` feature".into())
}

/// Serves on PostgreSQL.
#[cfg(feature = "postgres")]
async fn serve_postgres(url: &str, config: Config) -> Result<(), Box<dyn std::error::Error>> {
    let store = shared::postgres_store(url).await?;
    let listener = listen(&config)?;
    Ok(serve_store(listener, store, config).await?)
}

#[cfg(not(feature = "postgres"))]
async fn serve_postgres(_: &str, _: Config) -> Result<(), Box<dyn std::error::Error>> {
    Err("DATABASE_URL is set but this build has no `postgres` feature".into())
}
