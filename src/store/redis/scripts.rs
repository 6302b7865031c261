//! The Lua scripts of every write: one per domain operation, each atomic and one round
//! trip. (A lookup is a plain `MGET`; see the module docs.) The scripts live in `lua/`,
//! one file each, with their calling convention in their header; the bounds they
//! enforce are written `@NAME@` there and substituted from [`limits`](crate::limits)
//! when a store is built, so Rust and Lua cannot disagree on a number.
//!
//! Every key a script touches shares the user's hash tag (`{tttt}`), so on a Cluster
//! they sit in one slot, and every one is declared in `KEYS`: a script that learns from
//! an index which records it needs returns their keys before writing anything, and runs
//! again with them (`lua/declare.lua`, `RedisStore::write`). So in a slot migration
//! a script runs whole on one node or is refused (`TRYAGAIN`), never half. Scripts get
//! the key prefix with its tag (`ARGV[1]`, "base") to name the records they ask for.
//!
//! A session record (`s:<id>`) is a JSON object (encoded with Redis's `cjson`), every
//! field of it:
//!
//! | field | what |
//! |---|---|
//! | `d` | the access token's digest (hex) |
//! | `u`, `v`, `c` | user, device, and the device's class when it is not its name |
//! | `i`, `e` | issued, and the session's end (with refresh tokens: the later of both tokens' ends) |
//! | `l` | the idle deadline (absent without an idle timeout) |
//! | `w`, `k` | its own lifetime (with refresh tokens: the access token's) and idle timeout |
//! | `r` | retention: how long a tombstone or an expired record still answers |
//! | `n` | creation order among the user's sessions (ties of issue time) |
//! | `t` | last sight, when a request last renewed it |
//! | `x`, `a`, `o` | a tombstone's reason (`codec::end_code`), when, and the operator's note |
//! | `ae` | the access token's own end (refresh sessions) |
//! | `pd`, `pe` | the access token the last refresh replaced, and its end |
//! | `f`, `fk` | the refresh token's digest, and its chain's (`store::refresh::Presented`) |
//! | `fe`, `fc`, `fw` | the refresh token's end, the session's cap, the refresh window |
//! | `rz`, `rl` | a reuse's mark (the new digest its call drew, so a second run of that call answers as the first) and whether it ended a live session |
//!
//! JWT mode's refresh record (`jr:<jti>`) has `f`, `fk`, `fe`, `fc`, `fw`, `w` as above,
//! and `u`, `v`, `i`, `e`, `k`, the login's epoch and generations `ep`, `ug`, `dg`, its
//! claims `x`, and a reuse's mark `rz` with the live token it ended, `ro` (device, issue
//! time, end). Times are Unix milliseconds kept as decimal strings, so no float
//! formatting ever rounds them; Lua compares them with `tonumber` (exact below 2^53).

use crate::limits::{
    DIR_RECHECK_MS, DIR_SWEEP, MAX_BUMPS, MAX_DEVICES, MAX_ELEVATIONS, MAX_ENDED, MAX_LIVE_TOKENS,
    MAX_NAME_LEN, MAX_REFRESH_TOKENS, MAX_RESTRICTIONS, MAX_REVOKED, PRUNE_GRACE_MS,
};
use crate::token::SessionId;

/// Helpers of the session scripts. Scripts that end sessions take the revocation
/// channel as their last argument and publish `s|<reason>|<id>,<id>...` on it.
const COMMON: &str = include_str!("lua/common.lua");
const TOUCH: &str = include_str!("lua/touch.lua");
const CREATE: &str = include_str!("lua/create.lua");
const END: &str = include_str!("lua/end.lua");
const BAN: &str = include_str!("lua/ban.lua");
const UNBAN: &str = include_str!("lua/unban.lua");
const RESTRICT: &str = include_str!("lua/restrict.lua");
const ELEVATE: &str = include_str!("lua/elevate.lua");
const SESSIONS: &str = include_str!("lua/sessions.lua");
const RENEW: &str = include_str!("lua/renew.lua");
const REFRESH: &str = include_str!("lua/refresh.lua");
const DIR_PAGE: &str = include_str!("lua/dir_page.lua");
/// The directory's sweep at login, shared by both modes.
const SWEEP: &str = include_str!("lua/sweep.lua");
/// Helpers of the JWT scripts: the state machine of `store/jwt/state.rs`, in Lua. A
/// ban's script has them in every build: it ends the tokens of a JWT-mode handle that
/// shares the store.
const JWT_COMMON: &str = include_str!("lua/jwt_common.lua");
#[cfg(feature = "jwt")]
const JWT_ISSUE: &str = include_str!("lua/jwt_issue.lua");
#[cfg(feature = "jwt")]
const JWT_END: &str = include_str!("lua/jwt_end.lua");
#[cfg(feature = "jwt")]
const JWT_SESSIONS: &str = include_str!("lua/jwt_sessions.lua");
#[cfg(feature = "jwt")]
const JWT_REFRESH: &str = include_str!("lua/jwt_refresh.lua");
#[cfg(feature = "jwt")]
const JWT_DIR_PAGE: &str = include_str!("lua/jwt_dir_page.lua");

/// Where a user's index (`u:`) files its tombstones: scores from here on are due times
/// plus this, below it issue times. 2^50 ms is past every issue time (the year 37,648),
/// and a due time added to it is still exact in Lua's numbers (below 2^53).
const TOMB: u64 = 1 << 50;

/// The bounds the scripts take from Rust, by placeholder.
fn bounds() -> [(&'static str, String); 14] {
    [
        ("@TOMB@", TOMB.to_string()),
        ("@MAX_RESTRICTIONS@", MAX_RESTRICTIONS.to_string()),
        ("@MAX_ELEVATIONS@", MAX_ELEVATIONS.to_string()),
        ("@DIR_SWEEP@", DIR_SWEEP.to_string()),
        ("@DIR_RECHECK_MS@", DIR_RECHECK_MS.to_string()),
        ("@MAX_DEVICES@", MAX_DEVICES.to_string()),
        ("@MAX_LIVE_TOKENS@", MAX_LIVE_TOKENS.to_string()),
        ("@MAX_ENDED@", MAX_ENDED.to_string()),
        ("@MAX_REFRESH_TOKENS@", MAX_REFRESH_TOKENS.to_string()),
        ("@MAX_REVOKED@", MAX_REVOKED.to_string()),
        ("@MAX_BUMPS@", MAX_BUMPS.to_string()),
        ("@PRUNE_GRACE_MS@", PRUNE_GRACE_MS.to_string()),
        ("@MAX_NAME_LEN@", MAX_NAME_LEN.to_string()),
        ("@JTI_LEN@", SessionId::JTI_LEN.to_string()),
    ]
}

/// Declaring every key a script touches (`need`, `undeclared`), part of every script.
const DECLARE: &str = include_str!("lua/declare.lua");

/// A script's source: the declaration helpers, its helpers, then its body, with the
/// bounds substituted.
fn source(helpers: &str, body: &str) -> String {
    bounds().iter().fold(
        format!("{DECLARE}\n{helpers}\n{body}"),
        |src, (name, value)| src.replace(name, value),
    )
}

/// The scripts, compiled once per store (their SHA-1 computed once; `EVALSHA` with a
/// fallback to loading them).
pub(super) struct Scripts {
    pub(super) touch: redis::Script,
    pub(super) create: redis::Script,
    pub(super) end: redis::Script,
    pub(super) ban: redis::Script,
    pub(super) unban: redis::Script,
    pub(super) restrict: redis::Script,
    pub(super) elevate: redis::Script,
    pub(super) sessions: redis::Script,
    pub(super) renew: redis::Script,
    pub(super) refresh: redis::Script,
    pub(super) dir_page: redis::Script,
    #[cfg(feature = "jwt")]
    pub(super) jwt_issue: redis::Script,
    #[cfg(feature = "jwt")]
    pub(super) jwt_end: redis::Script,
    #[cfg(feature = "jwt")]
    pub(super) jwt_sessions: redis::Script,
    #[cfg(feature = "jwt")]
    pub(super) jwt_refresh: redis::Script,
    #[cfg(feature = "jwt")]
    pub(super) jwt_dir_page: redis::Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        let common = format!("{COMMON}\n{SWEEP}");
        let session = |body: &str| redis::Script::new(&source(&common, body));
        #[cfg(feature = "jwt")]
        let jwt_common = format!("{JWT_COMMON}\n{SWEEP}");
        #[cfg(feature = "jwt")]
        let jwt = |body: &str| redis::Script::new(&source(&jwt_common, body));
        Self {
            touch: session(TOUCH),
            create: session(CREATE),
            end: session(END),
            ban: redis::Script::new(&source(&format!("{COMMON}\n{JWT_COMMON}\n{SWEEP}"), BAN)),
            unban: redis::Script::new(&source("", UNBAN)),
            restrict: redis::Script::new(&source("", RESTRICT)),
            elevate: session(ELEVATE),
            sessions: session(SESSIONS),
            renew: session(RENEW),
            refresh: session(REFRESH),
            dir_page: session(DIR_PAGE),
            #[cfg(feature = "jwt")]
            jwt_issue: jwt(JWT_ISSUE),
            #[cfg(feature = "jwt")]
            jwt_end: jwt(JWT_END),
            #[cfg(feature = "jwt")]
            jwt_sessions: jwt(JWT_SESSIONS),
            #[cfg(feature = "jwt")]
            jwt_refresh: jwt(JWT_REFRESH),
            #[cfg(feature = "jwt")]
            jwt_dir_page: jwt(JWT_DIR_PAGE),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_substituted() {
        let session = [
            COMMON, TOUCH, CREATE, END, BAN, UNBAN, SESSIONS, RENEW, REFRESH, DIR_PAGE, SWEEP,
            RESTRICT, ELEVATE, JWT_COMMON,
        ];
        #[cfg(feature = "jwt")]
        let jwt = [JWT_ISSUE, JWT_END, JWT_SESSIONS, JWT_REFRESH, JWT_DIR_PAGE];
        #[cfg(not(feature = "jwt"))]
        let jwt: [&str; 0] = [];
        let all = session.into_iter().chain(jwt);
        for body in all {
            let src = source("", body);
            assert!(!src.contains('@'), "a bound left unsubstituted in:\n{src}");
        }
        // The bounds are used where they belong.
        assert!(source("", CREATE).contains(&MAX_LIVE_TOKENS.to_string()));
        assert!(source("", COMMON).contains(&format!("'+inf') - {MAX_ENDED}")));
        assert!(source("", COMMON).contains(&format!("local TOMB = {TOMB} --")));
        let elevations = format!("others >= {MAX_ELEVATIONS} then");
        assert!(source("", ELEVATE).contains(&elevations));
        assert!(source("", SWEEP).contains(&format!("'LIMIT', 0, {DIR_SWEEP})")));
        assert!(source("", JWT_COMMON).contains(&PRUNE_GRACE_MS.to_string()));
    }
}
