//! What the demo servers share whatever their framework: configuration from the
//! environment, request bodies, and the session listing's shape.

use std::time::{Duration, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use kickout::store::{JwtStore, SessionEntry, SessionStore, Store};
use kickout::{Auth, AuthBuilder, JwtAuth, LoginRule, Mode as AuthMode};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

#[allow(clippy::duplicate_mod)] // also in `axum_websocket`, which tests include too
#[path = "startup.rs"]
pub mod startup;

/// Which kind of token the demo issues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Session,
    Jwt,
}

/// The development JWT secret, used only on a loopback `BIND` while `JWT_SECRET` is unset.
const DEV_JWT_SECRET: &str = "kickout demo secret: change me in production!";

/// The Redis store's bound on one operation: its default, named here because the wait
/// for replicas is derived from it.
pub const REDIS_TIMEOUT: Duration = Duration::from_secs(1);

/// What the server is configured with (from the environment in `main`). Its `Debug`
/// prints no credential: keys, secrets and URLs (which may hold a password) show as
/// set or not.
#[derive(Clone)]
pub struct Config {
    pub mode: Mode,
    /// `BIND`: where to listen.
    pub bind: String,
    /// `REDIS_URL`: one URL or a comma-separated list; unset, the memory store.
    pub redis_url: Option<String>,
    /// `DATABASE_URL`: a `postgres://` URL (PostgreSQL); unset, Redis or memory.
    pub database_url: Option<String>,
    /// `REDIS_MIN_REPLICAS`: how many replicas must acknowledge each write (0: none).
    pub min_replicas: u32,
    pub admin_key: String,
    pub ttl: Duration,
    pub idle_timeout: Option<Duration>,
    /// `REFRESH_TTL_SECS`: each refresh token's lifetime, from its own issue: a session
    /// refreshed within it lives on (up to the library's ten-year bound).
    pub refresh_ttl: Duration,
    pub jwt_secret: String,
    /// `DEVICE_CLASSES`: `device=class` pairs, comma-separated.
    pub device_classes: Vec<(String, String)>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |v: Option<&String>| v.map(|_| "<set>");
        f.debug_struct("Config")
            .field("mode", &self.mode)
            .field("bind", &self.bind)
            .field("redis_url", &set(self.redis_url.as_ref()))
            .field("database_url", &set(self.database_url.as_ref()))
            .field("min_replicas", &self.min_replicas)
            .field("admin_key", &"<set>")
            .field("ttl", &self.ttl)
            .field("idle_timeout", &self.idle_timeout)
            .field("refresh_ttl", &self.refresh_ttl)
            .field("jwt_secret", &"<set>")
            .field("device_classes", &self.device_classes)
            .finish()
    }
}

impl Config {
    /// From the process's environment; the warnings about development defaults go to
    /// stderr.
    pub fn from_env(mode: Mode) -> Result<Self, String> {
        let (config, warnings) = Self::from_vars(mode, |name| std::env::var(name).ok())?;
        for warning in warnings {
            eprintln!("warning: {warning}");
        }
        Ok(config)
    }

    /// From the variables `var` gives, with a warning for each development default in
    /// use; an error when the server must not start so.
    pub fn from_vars(
        mode: Mode,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<(Self, Vec<String>), String> {
        let secs = |name: &str| -> Result<Option<Duration>, String> {
            match var(name) {
                Some(v) => v
                    .parse::<u64>()
                    .ok()
                    .filter(|&n| n > 0)
                    .map(|n| Some(Duration::from_secs(n)))
                    .ok_or_else(|| format!("{name} must be a positive number of seconds")),
                None => Ok(None),
            }
        };
        let bind = startup::Bind::parse(var("BIND"))?;
        let mut warnings = Vec::new();
        let admin_key = bind.secret(
            "ADMIN_KEY",
            var("ADMIN_KEY"),
            startup::DEV_ADMIN_KEY,
            &mut warnings,
        )?;
        // Session mode signs nothing: its JWT secret is never used, so never required.
        let jwt_secret = match mode {
            Mode::Jwt => {
                let secret = bind.secret(
                    "JWT_SECRET",
                    var("JWT_SECRET"),
                    DEV_JWT_SECRET,
                    &mut warnings,
                )?;
                // Checked here, so a bad secret refuses to start instead of panicking.
                kickout::jwt::Jwt::new(kickout::jwt::JwtKey::hs256(secret.as_bytes()))
                    .map_err(|e| format!("JWT_SECRET: {e}"))?;
                secret
            }
            Mode::Session => String::new(),
        };
        let redis_url = var("REDIS_URL");
        let min_replicas = match var("REDIS_MIN_REPLICAS") {
            Some(v) => v.parse::<u32>().map_err(|_| {
                format!("REDIS_MIN_REPLICAS={v}: not a number of replicas (0, 1, 2, ...)")
            })?,
            None => 0,
        };
        let database_url = var("DATABASE_URL");
        if database_url.is_some() && redis_url.is_some() {
            return Err("DATABASE_URL and REDIS_URL are both set: pick one store".into());
        }
        if min_replicas > 0 && redis_url.is_none() {
            return Err(
                "REDIS_MIN_REPLICAS needs REDIS_URL: the memory store has no replicas".into(),
            );
        }
        let config = Self {
            mode,
            bind: bind.addr,
            redis_url,
            database_url,
            min_replicas,
            admin_key,
            ttl: secs("TOKEN_TTL_SECS")?.unwrap_or(Duration::from_secs(3600)),
            idle_timeout: secs("IDLE_TIMEOUT_SECS")?,
            refresh_ttl: secs("REFRESH_TTL_SECS")?.unwrap_or(Duration::from_secs(2_592_000)),
            jwt_secret,
            device_classes: match var("DEVICE_CLASSES") {
                Some(v) => parse_classes(&v)?,
                None => Vec::new(),
            },
        };
        Ok((config, warnings))
    }

    /// The settings both modes share: one live session per device class (a device's
    /// class is its name unless `DEVICE_CLASSES` maps it).
    fn builder<S: Store>(&self, store: S) -> AuthBuilder<S> {
        // Each refresh token lives `REFRESH_TTL_SECS` from its own issue, as the
        // contract's "refresh-token lifetime" says: the refresh window. The session's
        // cap is then the longest lifetime the library allows.
        let builder = Auth::builder(store)
            .ttl(self.ttl)
            .refresh_tokens(Duration::from_millis(kickout::limits::MAX_LIFETIME_MS))
            .refresh_idle(self.refresh_ttl)
            .login_rule(LoginRule::one_per_device());
        self.device_classes
            .iter()
            .fold(builder, |b, (device, class)| b.device_class(device, class))
    }

    /// The session-mode handle the demos use.
    pub fn session_auth<S: SessionStore>(&self, store: S) -> Auth<S> {
        let mut builder = self.builder(store);
        if let Some(idle) = self.idle_timeout {
            builder = builder.idle_timeout(idle);
        }
        builder.build()
    }

    /// The JWT-mode handle the demos use.
    pub fn jwt_auth<S: JwtStore>(&self, store: S) -> JwtAuth<S> {
        let key = kickout::jwt::JwtKey::hs256(self.jwt_secret.as_bytes());
        let mut builder = match kickout::jwt::Jwt::new(key) {
            Ok(jwt) => self.builder(store).jwt(jwt),
            // `from_vars` refuses such a secret: only a hand-made config gets here.
            Err(e) => panic!("JWT_SECRET: {e}"),
        };
        if let Some(idle) = self.idle_timeout {
            builder = builder.idle_timeout(idle);
        }
        builder.build()
    }
}

/// `ios=mobile,android=mobile,mac=pc`: names of 1 to 128 bytes.
fn parse_classes(spec: &str) -> Result<Vec<(String, String)>, String> {
    let ok = |s: &str| !s.is_empty() && s.len() <= kickout::MAX_NAME_LEN;
    spec.split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((d, c)) if ok(d.trim()) && ok(c.trim()) => {
                Ok((d.trim().to_owned(), c.trim().to_owned()))
            }
            _ => Err(format!("DEVICE_CLASSES: `{pair}` is not device=class")),
        })
        .collect()
}

/// A store for both modes, as the demos' stores are.
pub trait DemoStore: SessionStore + JwtStore {}

impl<S: SessionStore + JwtStore> DemoStore for S {}

/// The Redis store of `config`: with `REDIS_MIN_REPLICAS` = N ≥ 1 each write waits for N
/// replicas, and a route whose write they did not acknowledge answers 503.
#[cfg(feature = "redis")]
pub async fn redis_store(
    urls: &str,
    config: &Config,
) -> Result<kickout::store::RedisStore, kickout::store::StoreError> {
    let builder = kickout::store::RedisStore::builder(urls).timeout(REDIS_TIMEOUT);
    let builder = match config.min_replicas {
        0 => builder,
        // Half the operation timeout: Redis answers WAIT with the replicas' count once
        // WAIT's own timeout passes, and the store gives up on a WAIT at the operation
        // timeout; the margin lets Redis's answer arrive first whatever the round trip,
        // so a missing replica is reported as such, after half a second, not one.
        n => builder.wait_for_replicas(n, REDIS_TIMEOUT / 2),
    };
    builder.connect().await
}

/// The PostgreSQL store at `url` (its tables in the schema `kickout`, created at
/// connect).
#[cfg(feature = "postgres")]
pub async fn postgres_store(
    url: &str,
) -> Result<kickout::store::PostgresStore, kickout::store::StoreError> {
    kickout::store::PostgresStore::connect(url).await
}

#[derive(Deserialize)]
pub struct LoginBody {
    pub user_id: String,
    pub password: String,
    pub device: Option<String>,
    pub label: Option<String>,
    /// A browser session: the tokens in cookies, none in the body.
    #[serde(default)]
    pub cookies: bool,
}

/// What a login records of its client: the peer's address and `User-Agent`.
#[derive(Default)]
pub struct ClientInfo {
    pub ip: Option<std::net::IpAddr>,
    pub user_agent: Option<String>,
}

/// The login's options: its label and what it records of the client.
pub fn login_options(body: &LoginBody, client: &ClientInfo) -> kickout::LoginOptions {
    let mut options = kickout::LoginOptions::new();
    if let Some(label) = &body.label {
        options = options.label(label.clone());
    }
    if let Some(ip) = client.ip {
        options = options.client_ip(ip);
    }
    if let Some(agent) = &client.user_agent {
        options = options.user_agent(agent);
    }
    options
}

/// The body of `POST /refresh`: the refresh token, or none (an empty body or `{}`) for
/// the refresh cookie.
#[derive(Deserialize, Default)]
pub struct RefreshBody {
    pub refresh_token: Option<String>,
}

/// `POST /refresh`'s body: empty is `{}`; `None` for a body that is not one. Its
/// refusal is `invalid_request` as the library answers it (400, with the challenge):
/// every refusal of `/refresh` is a rejection like any other.
pub fn refresh_body(body: &[u8]) -> Option<RefreshBody> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Some(RefreshBody::default());
    }
    serde_json::from_slice(body).ok()
}

/// Where a `POST /refresh` presented its refresh token.
pub enum Presented {
    /// In the body: the answer is a token pair.
    Body(String),
    /// In the refresh cookie: the answer is a cookie login.
    Cookie(String),
}

/// The refresh token of a `POST /refresh`: the body's, or else the refresh cookie's
/// (`cookie`, as `Cookies::refresh_token` read it: `missing_token` without one). One in
/// the body and the cookie too is a token offered twice: `invalid_request`, as for
/// access tokens, and neither is spent.
pub fn presented(
    body: RefreshBody,
    cookie: Result<String, kickout::Reason>,
) -> Result<Presented, kickout::Reason> {
    match (body.refresh_token, cookie) {
        (Some(token), Err(kickout::Reason::MissingToken)) => Ok(Presented::Body(token)),
        (Some(_), _) => Err(kickout::Reason::InvalidRequest),
        (None, cookie) => cookie.map(Presented::Cookie),
    }
}

/// A JSON body, whatever its content type: 400 when it is not JSON, 422 when it is JSON
/// of the wrong shape.
pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Refusal> {
    serde_json::from_slice(body).map_err(|e| match e.is_data() {
        true => (422, "invalid_request", "Unexpected JSON shape.".to_owned()),
        false => (400, "invalid_request", "The body is not JSON.".to_owned()),
    })
}

/// The most a request body may hold.
pub const BODY_LIMIT: usize = 16 * 1024;

/// The refusal of a body over [`BODY_LIMIT`] or one that could not be read: a bad body
/// like any other, in the JSON shape (the frameworks' own answer is plain text).
pub fn unreadable_body() -> Refusal {
    (
        400,
        "invalid_request",
        format!(
            "The body could not be read (at most {} KiB).",
            BODY_LIMIT / 1024
        ),
    )
}

/// `GET /admin/online`'s query: `limit` (1 to 1000, default 100), `cursor`, `class`.
pub struct OnlineQuery {
    pub limit: usize,
    pub cursor: Option<String>,
    pub class: Option<String>,
}

/// Directory cursors as the demos hand them out: the library's cursor (a position in
/// the walk, no state behind it) and a MAC of it keyed by the admin key. A cursor no
/// instance issued, made up or a real one altered, is then refused (400) as the
/// contract asks, while any instance with the same admin key goes on with a walk that
/// another one began.
#[derive(Clone)]
pub struct CursorSeal(Hmac<Sha256>);

/// Bytes of the MAC a sealed cursor carries (128 bits).
const SEAL_BYTES: usize = 16;

impl CursorSeal {
    /// Seals with `admin_key`, under a label of its own: these MACs serve nothing else.
    pub fn new(admin_key: &str) -> Self {
        // HMAC takes a key of any length: this cannot fail.
        let mut mac = Hmac::<Sha256>::new_from_slice(admin_key.as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC keys have no length limit"));
        mac.update(b"kickout demo: directory cursor\0");
        Self(mac)
    }

    fn mac(&self, cursor: &str) -> Hmac<Sha256> {
        let mut mac = self.0.clone();
        mac.update(cursor.as_bytes());
        mac
    }

    /// `<cursor>.<MAC in hex>`.
    pub fn seal(&self, cursor: &kickout::store::directory::Cursor) -> String {
        let text = cursor.to_string();
        let mac = self.mac(&text).finalize().into_bytes();
        let hex: String = mac[..SEAL_BYTES]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("{text}.{hex}")
    }

    /// The library's cursor in a sealed one, if an instance with this key issued it.
    pub fn open(&self, sealed: &str) -> Option<String> {
        let (text, hex) = sealed.rsplit_once('.')?;
        // Lower-case only: one spelling per seal.
        let lower = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
        if hex.len() != 2 * SEAL_BYTES || !hex.bytes().all(lower) {
            return None;
        }
        let mac: Vec<u8> = (0..SEAL_BYTES)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16))
            .collect::<Result<_, _>>()
            .ok()?;
        // Constant time: a MAC is not to be guessed byte by byte.
        self.mac(text).verify_truncated_left(&mac).ok()?;
        kickout::store::directory::Cursor::parse(text).map(|_| text.to_owned())
    }
}

/// Parses `/admin/online`'s query string; 400 for a bad `limit`, or a `cursor` that no
/// instance with this admin key issued.
pub fn online_query(query: &str, seal: &CursorSeal) -> Result<OnlineQuery, Refusal> {
    let mut q = OnlineQuery {
        limit: 100,
        cursor: None,
        class: None,
    };
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match &*key {
            "limit" => {
                q.limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=kickout::store::directory::MAX_PAGE).contains(n))
                    .ok_or((
                        400,
                        "invalid_request",
                        "limit must be 1 to 1000.".to_owned(),
                    ))?;
            }
            "cursor" => {
                let cursor = seal.open(&value).ok_or((
                    400,
                    "invalid_request",
                    "Not a cursor of this directory.".to_owned(),
                ))?;
                q.cursor = Some(cursor);
            }
            "class" => q.class = Some(value.into_owned()),
            _ => {}
        }
    }
    Ok(q)
}

/// A directory page as `/admin/online` answers it, its cursor sealed.
pub fn online_json(page: &kickout::store::directory::Page, seal: &CursorSeal) -> serde_json::Value {
    let unix = |ms: u64| ms / 1000;
    let sessions: Vec<serde_json::Value> = page
        .sessions
        .iter()
        .map(|s| {
            serde_json::json!({
                "user_id": &*s.info.user_id,
                "session_id": s.info.session_id.to_string(),
                "device": &*s.info.device,
                "issued_at": unix(s.info.issued_at_ms),
                "expires_at": unix(s.info.expires_at_ms),
                "last_seen": unix(s.last_seen_ms),
            })
        })
        .collect();
    serde_json::json!({
        "sessions": sessions,
        "next_cursor": page.next.as_ref().map(|c| seal.seal(c)),
    })
}

/// What a login or a refresh answers.
pub fn pair_json(login: &kickout::Login) -> serde_json::Value {
    serde_json::json!({
        "token": login.token.as_str(),
        "token_type": "Bearer",
        "expires_in": login.expires_in(),
        "refresh_token": login.refresh.as_ref().map(|r| r.token.as_str()),
        "refresh_expires_in": login.refresh_expires_in(),
        "session_id": login.session.session_id.to_string(),
    })
}

/// What a cookie login or refresh answers: no token, the CSRF token for the page.
pub fn cookie_json(
    login: &kickout::Login,
    set: &kickout::cookies::SetCookies,
) -> serde_json::Value {
    serde_json::json!({
        "token_type": "cookie",
        "expires_in": login.expires_in(),
        "refresh_expires_in": login.refresh_expires_in(),
        "session_id": login.session.session_id.to_string(),
        "csrf_token": set.csrf_token(),
    })
}

/// The body of `POST /admin/restrict/{user_id}`.
#[derive(Deserialize)]
pub struct RestrictBody {
    pub scope: String,
    pub level: u8,
    pub seconds: u64,
    pub note: Option<String>,
}

/// The body of `POST /me/elevate`: the password checked again, and what it opens.
#[derive(Deserialize)]
pub struct ElevateBody {
    pub password: String,
    pub scope: String,
}

/// How long a step-up window stays open.
pub const STEP_UP_WINDOW: std::time::Duration = std::time::Duration::from_secs(300);

/// The scopes a password opens: a scope meant for a stronger check (a second factor)
/// would not be listed here.
pub const STEP_UP_SCOPES: &[&str] = &["payment"];

/// Checks a step-up: a scope the password may open (else 422), and the password (401
/// when wrong); nothing is elevated otherwise.
pub fn check_elevate(body: &ElevateBody) -> Result<(), Refusal> {
    if !STEP_UP_SCOPES.contains(&body.scope.as_str()) {
        let message = format!("scope must be one of {STEP_UP_SCOPES:?}.");
        return Err((422, "invalid_request", message));
    }
    if password_ok(&body.password) {
        Ok(())
    } else {
        Err((401, "invalid_credentials", "Wrong password.".into()))
    }
}

/// An open window's JSON: `{"scope", "until" (Unix seconds, rounded up)}`.
pub fn elevation_json(scope: &str, until: std::time::SystemTime) -> serde_json::Value {
    let ms = until
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    serde_json::json!({ "scope": scope, "until": ms.div_ceil(1000) })
}

/// A restriction's JSON: `{"scope", "level", "until" (Unix seconds), "note"}`.
pub fn restriction_json(r: &kickout::restriction::Restriction) -> serde_json::Value {
    serde_json::json!({
        "scope": r.scope.as_str(),
        "level": r.level.get(),
        // Rounded up, as the library's `restricted` refusal says it: lifted by then.
        "until": r.until_ms.div_ceil(1000),
        "note": r.note.as_ref().map(kickout::Note::code),
    })
}

/// What `POST /admin/restrict` answers for a helper's error: bad input is 422 (the body
/// was JSON of the right shape, with a value out of bounds).
pub fn restrict_error(e: &kickout::Error) -> Option<Refusal> {
    match e {
        kickout::Error::InvalidInput { .. } => {
            Some((422, "invalid_request", e.message().into_owned()))
        }
        _ => None,
    }
}

#[derive(Deserialize)]
pub struct BanBody {
    pub seconds: u64,
    pub note: Option<String>,
}

/// Why an admin request is refused before its handler, if it is: a wrong `X-Admin-Key`
/// (`given`) is 401; a path that is not UTF-8 once percent-decoded (`/admin/ban/%FF`)
/// names no user, and is 400 rather than read as U+FFFD, which a user may be named.
pub fn admin_refusal(given: Option<&[u8]>, key: &str, raw_path: &str) -> Option<Refusal> {
    if !startup::admin_key_ok(given, key) {
        let said = "A valid X-Admin-Key is required.";
        return Some((401, "unauthorized", said.to_owned()));
    }
    let text = percent_encoding::percent_decode_str(raw_path).decode_utf8();
    text.is_err().then(|| {
        (
            400,
            "invalid_request",
            "The path is not UTF-8 text.".to_owned(),
        )
    })
}

/// The optional body of the kickout routes.
#[derive(Deserialize)]
struct NoteBody {
    note: Option<String>,
}

/// A kickout's optional body `{"note": "<code>"}`: none when empty, else JSON (400) of
/// that shape (422) with a valid note (422).
pub fn note_body(body: &[u8]) -> Result<Option<kickout::Note>, Refusal> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let parsed: NoteBody = serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            (422, "invalid_request", "Unexpected JSON shape.".to_owned())
        } else {
            (400, "invalid_request", "The body is not JSON.".to_owned())
        }
    })?;
    checked_note(parsed.note.as_deref())
}

/// A note's code, checked.
pub fn checked_note(code: Option<&str>) -> Result<Option<kickout::Note>, Refusal> {
    code.map(|c| {
        kickout::Note::new(c).map_err(|_| {
            let max = kickout::limits::MAX_NOTE_CODE_LEN;
            let message = format!("A note is 1 to {max} characters of a-z, 0-9, _, . and -.");
            (422, "invalid_request", message)
        })
    })
    .transpose()
}

/// One session in a listing (`/admin/sessions/{user}`; `/me/sessions` adds `current`).
#[derive(Serialize)]
pub struct SessionView {
    session_id: String,
    device: String,
    label: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    issued_at: u64,
    expires_at: u64,
    last_seen: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    current: Option<bool>,
}

impl From<SessionEntry> for SessionView {
    fn from(entry: SessionEntry) -> Self {
        let unix =
            |t: std::time::SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let last_seen = unix(entry.last_seen());
        let (s, meta) = (entry.info, entry.meta);
        let text = |v: Option<std::sync::Arc<str>>| v.map(|v| v.to_string());
        Self {
            session_id: s.session_id.to_string(),
            device: s.device.to_string(),
            label: text(meta.label),
            ip: text(meta.ip),
            user_agent: text(meta.user_agent),
            issued_at: unix(s.issued_at()),
            expires_at: unix(s.expires_at()),
            last_seen,
            current: None,
        }
    }
}

/// The caller's sessions, theirs marked `current`.
pub fn own_sessions(list: Vec<SessionEntry>, mine: kickout::SessionId) -> Vec<SessionView> {
    list.into_iter()
        .map(|s| {
            let current = s.info.session_id == mine;
            SessionView {
                current: Some(current),
                ..SessionView::from(s)
            }
        })
        .collect()
}

/// Why a login body is refused before any store work: `(status, code, message)`.
pub type Refusal = (u16, &'static str, String);

/// Checks a login body: names first (400/422 whatever the password), then the demo
/// password (401). The device to log in on, or why not.
pub fn check_login(body: &LoginBody) -> Result<&str, Refusal> {
    let device = body.device.as_deref().unwrap_or("default");
    let label = body.label.as_deref();
    let fields = [
        ("user_id", Some(body.user_id.as_str())),
        ("device", Some(device)),
        ("label", label),
    ];
    for (field, value) in fields.into_iter().filter_map(|(f, v)| Some((f, v?))) {
        if value.is_empty()
            || value.len() > kickout::MAX_NAME_LEN
            || value.chars().any(char::is_control)
        {
            let message = format!(
                "{field} must be 1 to {} bytes without control characters.",
                kickout::MAX_NAME_LEN
            );
            return Err((422, "invalid_request", message));
        }
    }
    if !password_ok(&body.password) {
        return Err((
            401,
            "invalid_credentials",
            "Wrong user id or password.".into(),
        ));
    }
    Ok(device)
}

/// The demo accounts: any user id, password `123456`.
pub fn password_ok(password: &str) -> bool {
    password == "123456"
}

/// What a ban or a restriction takes besides its subject: its duration (1 s to the
/// library's longest lifetime, ten years: it must end, like everything in the store;
/// else 422) and its note (else 422).
pub fn timed_note(
    seconds: u64,
    note: Option<&str>,
) -> Result<(std::time::Duration, Option<kickout::Note>), Refusal> {
    if !ban_seconds_ok(seconds) {
        let message = format!("seconds must be 1 to {MAX_SECONDS} (ten years).");
        return Err((422, "invalid_request", message));
    }
    Ok((std::time::Duration::from_secs(seconds), checked_note(note)?))
}

/// The longest ban or restriction, in seconds.
const MAX_SECONDS: u64 = kickout::limits::MAX_LIFETIME_MS / 1000;

fn ban_seconds_ok(seconds: u64) -> bool {
    (1..=MAX_SECONDS).contains(&seconds)
}

/// The audit feed, once the store answered: the stream comes through the store, so with
/// the store down the route answers 503 rather than open a stream that stays silent.
/// Subscribed first, so nothing between the store's answer and the stream is missed.
pub async fn open_audit<S: Store, M: AuthMode<S>>(
    auth: &Auth<S, M>,
) -> Result<tokio::sync::broadcast::Receiver<kickout::store::audit::AuditEvent>, kickout::Error> {
    let audit = auth.audit();
    auth.banned_until("audit").await?;
    Ok(audit)
}

/// The audit stream as server-sent events: `(event name, JSON data)`, and a keep-alive
/// (`None`) every 15 s of silence; ends when the store's stream does. Lost events, the
/// store's gap markers and this stream's own lag alike, are a `gap` event with data
/// `{"missed": n}` (`null` when nobody knows how many).
pub fn audit_stream(
    audit: tokio::sync::broadcast::Receiver<kickout::store::audit::AuditEvent>,
) -> impl futures::Stream<Item = Option<(&'static str, String)>> {
    use kickout::store::audit::{AuditEvent, AuditKind};
    use tokio::sync::broadcast::error::RecvError;
    let gap =
        |missed: Option<u64>| Some(("gap", serde_json::json!({ "missed": missed }).to_string()));
    futures::stream::unfold(audit, move |mut audit| async move {
        let item = tokio::select! {
            got = audit.recv() => match got {
                Ok(AuditEvent { kind: AuditKind::Gap { missed, .. }, .. }) => gap(missed),
                Ok(e) => {
                    let data = serde_json::json!({
                        "user_id": &*e.user_id,
                        "session_id": e.session_id.map(|s| s.to_string()),
                        "device": e.device.as_deref(),
                        "at": e.at_ms / 1000,
                        "note": e.note.as_ref().map(|n| n.code()),
                        "scope": e.scope.as_ref().map(|c| c.as_str()),
                    });
                    Some((e.kind.code(), data.to_string()))
                }
                // Fell behind: the oldest are gone; say how many, then go on.
                Err(RecvError::Lagged(n)) => gap(Some(n)),
                Err(RecvError::Closed) => return None,
            },
            _ = tokio::time::sleep(Duration::from_secs(15)) => None,
        };
        Some((item, audit))
    })
}

/// `GET /`: the page where a person signs in and sees their session end.
pub const USER_PAGE: &str = include_str!("pages/index.html");

/// `GET /admin/`: the operators' page.
pub const ADMIN_PAGE: &str = include_str!("pages/admin.html");

/// What an event stream sends.
pub enum StreamItem {
    /// The session lives (the n-th tick, the first at once).
    Tick(u64),
    /// The session ended: the reason its token now gets. The last item.
    Revoked(kickout::Reason),
}

/// Ticks once a second until the watched session ends, then its reason, then the end.
pub fn revocation_stream<S: Store, M: AuthMode<S>>(
    watch: kickout::watch::SessionWatch<S, M>,
) -> impl futures::Stream<Item = StreamItem> {
    futures::stream::unfold(Some((watch, 0u64)), |state| async move {
        let (mut watch, n) = state?;
        let pause = if n == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs(1)
        };
        tokio::select! {
            ended = watch.ended() => Some((StreamItem::Revoked(ended.reason()), None)),
            _ = tokio::time::sleep(pause) => Some((StreamItem::Tick(n), Some((watch, n + 1)))),
        }
    })
}
