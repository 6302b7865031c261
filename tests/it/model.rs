//! The model test: random sequences of operations with random clock steps, run on a
//! store and on a small pure model of the semantics (sessions, tombstones, rules, bans,
//! generations, restrictions, step-up windows, time), comparing every answer. On the memory store, a real Redis and a
//! real Cluster, in both modes. `KICKOUT_MODEL_CASES` sets the number of sequences per
//! store and mode (default: 256 on memory, 96 on Redis, 48 on the Cluster: a logout of
//! a forgotten session escaped 16 Redis cases once).

use std::collections::HashMap;
use std::time::Duration;

use kickout::store::{EndReason, SessionEntry, SessionInfo};
use kickout::{Auth, Error, LoginRule, Reason, SessionId};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::suite::{self, Kind, Stores, T0};

const TTL_S: u64 = 600;
const RETAIN_S: u64 = 300;
/// With refresh tokens: the sessions' cap.
const CAP_S: u64 = 1800;
/// More than a case can advance its clock (40 steps of at most 601 s) plus retention.
const CASE_SPAN_MS: u64 = 86_400_000;
/// How long JWT mode keeps what a refresh needs past the session's end.
const GRACE_S: u64 = kickout::limits::PRUNE_GRACE_MS / 1000;
const USERS: u8 = 3;
const DEVICES: u8 = 3;

#[derive(Clone, Copy, Debug)]
enum Rule {
    Unlimited,
    OnePerDevice,
    OneInAll,
    TwoPerUser,
}

impl Rule {
    fn login_rule(self) -> LoginRule {
        match self {
            Rule::Unlimited => LoginRule::unlimited(),
            Rule::OnePerDevice => LoginRule::one_per_device(),
            Rule::OneInAll => LoginRule::one_in_all(),
            Rule::TwoPerUser => LoginRule::max_per_user(2),
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Login(u8, u8),
    Logout(usize),
    KickoutSession(usize),
    Kickout(u8),
    KickoutDevice(u8, u8),
    Ban(u8, u64),
    Unban(u8),
    Check(usize),
    Sessions(u8),
    Renew(usize),
    /// Refresh with the session's current refresh token.
    Refresh(usize),
    /// Present one of the session's spent refresh tokens again (any of them, however
    /// many rotations ago).
    Reuse(usize, usize),
    /// Log out with the access token the session's last refresh replaced.
    LogoutPrevious(usize),
    Advance(u64),
    /// Restrict a user in `content` at a level for some seconds; lift it.
    Restrict(u8, u8, u64),
    Unrestrict(u8),
    /// A request of a session to a route guarded at `content` and a level.
    Guarded(usize, u8),
    /// Open a step-up window of `payment` for a session, for some seconds.
    Elevate(usize, u64),
    /// A request of a session to a step-up route of `payment`.
    Pay(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..USERS, 0..DEVICES).prop_map(|(u, d)| Op::Login(u, d)),
        1 => any::<usize>().prop_map(Op::Logout),
        1 => any::<usize>().prop_map(Op::KickoutSession),
        1 => (0..USERS).prop_map(Op::Kickout),
        1 => (0..USERS, 0..DEVICES).prop_map(|(u, d)| Op::KickoutDevice(u, d)),
        1 => (0..USERS, prop::sample::select(vec![1u64, 100, 1000])).prop_map(|(u, s)| Op::Ban(u, s)),
        1 => (0..USERS).prop_map(Op::Unban),
        4 => any::<usize>().prop_map(Op::Check),
        1 => (0..USERS).prop_map(Op::Sessions),
        1 => any::<usize>().prop_map(Op::Renew),
        2 => any::<usize>().prop_map(Op::Refresh),
        1 => any::<(usize, usize)>().prop_map(|(t, k)| Op::Reuse(t, k)),
        1 => any::<usize>().prop_map(Op::LogoutPrevious),
        2 => prop::sample::select(vec![0u64, 1, 60, 299, 300, 599, 601]).prop_map(Op::Advance),
        1 => (0..USERS, 1..=3u8, prop::sample::select(vec![1u64, 100, 1000]))
            .prop_map(|(u, l, s)| Op::Restrict(u, l, s)),
        1 => (0..USERS).prop_map(Op::Unrestrict),
        2 => (any::<usize>(), 1..=3u8).prop_map(|(t, l)| Op::Guarded(t, l)),
        1 => (any::<usize>(), prop::sample::select(vec![1u64, 100, 1000]))
            .prop_map(|(t, s)| Op::Elevate(t, s)),
        2 => any::<usize>().prop_map(Op::Pay),
    ]
}

/// A rule, whether logins get refresh tokens, and the operations.
fn case() -> impl Strategy<Value = (Rule, bool, Vec<Op>)> {
    let rule = prop_oneof![
        Just(Rule::Unlimited),
        Just(Rule::OnePerDevice),
        Just(Rule::OneInAll),
        Just(Rule::TwoPerUser),
    ];
    (rule, any::<bool>(), prop::collection::vec(op(), 1..40))
}

/// One session as the model sees it.
#[derive(Debug)]
struct Sess {
    user: u8,
    device: u8,
    issued: u64,
    /// The session's end (with refresh tokens, the later of its tokens' ends).
    expires: u64,
    /// The current access token's end.
    access_expires: u64,
    /// With refresh tokens: the cap, and how many refresh tokens it spent.
    cap: Option<u64>,
    spent: usize,
    /// Why and when it ended first.
    ended: Option<(EndReason, u64)>,
    /// JWT mode: later ends of the same millisecond that reach it (a generation bump
    /// cannot tell which of two same-millisecond ends came first, so any may be told).
    also: Vec<EndReason>,
    /// The end of its `payment` step-up window, if it ever had one.
    elevated_until: Option<u64>,
}

/// The semantics, in a few lines each.
struct Model {
    jwt: bool,
    refresh: bool,
    rule: Rule,
    now: u64,
    sessions: Vec<Sess>,
    bans: HashMap<u8, u64>,
    /// Each user's `content` restriction: level and end.
    restrictions: HashMap<u8, (u8, u64)>,
}

/// An answer, as both sides give it.
#[derive(Debug, PartialEq)]
enum Answer {
    Login { replaced: Vec<usize> },
    Banned,
    Bool(bool),
    Count(usize),
    Verdict(Result<(), Reason>),
    List(Vec<usize>),
    Renewed(Result<(), Reason>),
    Refreshed(Result<(), Reason>),
    Elevated(Result<u64, Reason>),
    Skip,
}

impl Model {
    fn live(&self, i: usize) -> bool {
        let s = &self.sessions[i];
        s.ended.is_none() && self.now < s.expires
    }

    /// Ends session `i` with `reason` now.
    fn end_one(&mut self, i: usize, reason: EndReason) {
        self.sessions[i].ended = Some((reason, self.now));
    }

    /// A generation bump: ends the live sessions `pick` chooses, and in JWT mode also
    /// reaches those a same-millisecond end came to first.
    fn bump(&mut self, pick: impl Fn(&Sess) -> bool, reason: EndReason) -> Vec<usize> {
        let now = self.now;
        let ended: Vec<usize> = (0..self.sessions.len())
            .filter(|&i| self.live(i) && pick(&self.sessions[i]))
            .collect();
        if self.jwt {
            for s in self.sessions.iter_mut().filter(|s| pick(s)) {
                if s.ended.is_some_and(|(_, at)| at == now) && now < s.expires {
                    s.also.push(reason);
                }
            }
        }
        for &i in &ended {
            self.end_one(i, reason);
        }
        ended
    }

    fn ban_stands(&self, user: u8) -> bool {
        self.bans.get(&user).is_some_and(|&until| until > self.now)
    }

    /// What a request with the (current) token of session `i` may be told now.
    fn verdicts(&self, i: usize) -> Vec<Result<(), Reason>> {
        let s = &self.sessions[i];
        if !self.jwt && self.now >= s.expires + RETAIN_S * 1000 {
            return vec![Err(Reason::InvalidToken)];
        }
        // Past its own end a token is expired, whatever ended its session (a JWT's `exp`
        // is checked before the store is asked).
        if self.now >= s.expires || self.now >= s.access_expires {
            return vec![Err(Reason::TokenExpired)];
        }
        self.ended_as(i)
    }

    /// What session `i`'s end says (`Ok` if it did not end).
    fn ended_as(&self, i: usize) -> Vec<Result<(), Reason>> {
        let s = &self.sessions[i];
        let Some((first, _)) = s.ended else {
            return vec![Ok(())];
        };
        std::iter::once(first)
            .chain(s.also.iter().copied())
            .map(|reason| {
                Err(match reason {
                    EndReason::LoggedOut => Reason::InvalidToken,
                    EndReason::KickedOut => Reason::KickedOut,
                    EndReason::Replaced => Reason::Replaced,
                    EndReason::Banned if self.ban_stands(s.user) => Reason::Banned,
                    EndReason::Banned => Reason::KickedOut,
                    EndReason::RefreshReused => Reason::RefreshReused,
                })
            })
            .collect()
    }

    /// The answers the store may give to `op` (one, but for same-millisecond ties).
    fn apply(&mut self, op: &Op) -> Vec<Answer> {
        match *op {
            Op::Check(t) if !self.sessions.is_empty() => {
                let i = t % self.sessions.len();
                self.verdicts(i).into_iter().map(Answer::Verdict).collect()
            }
            Op::Renew(t) if !self.sessions.is_empty() && !self.jwt => {
                let i = t % self.sessions.len();
                let verdicts = self.verdicts(i);
                if verdicts == [Ok(())] {
                    // A refresh session's access token moves, never past its cap; the
                    // session lives on to its refresh token's end (the cap here).
                    let s = &mut self.sessions[i];
                    let access = self.now + TTL_S * 1000;
                    s.access_expires = s.cap.map_or(access, |cap| access.min(cap));
                    s.expires = s.cap.map_or(access, |cap| s.access_expires.max(cap));
                }
                verdicts.into_iter().map(Answer::Renewed).collect()
            }
            Op::Refresh(t) | Op::Reuse(t, _) if self.refresh && !self.sessions.is_empty() => {
                let i = t % self.sessions.len();
                self.refresh(i, matches!(op, Op::Reuse(..)))
                    .into_iter()
                    .map(Answer::Refreshed)
                    .collect()
            }
            Op::Guarded(t, level) if !self.sessions.is_empty() => {
                let i = t % self.sessions.len();
                let user = self.sessions[i].user;
                let barred = self
                    .restrictions
                    .get(&user)
                    .is_some_and(|&(l, until)| self.now < until && l >= level);
                let guard = if barred {
                    Err(Reason::Restricted)
                } else {
                    Ok(())
                };
                self.verdicts(i)
                    .into_iter()
                    .map(|v| Answer::Verdict(v.and(guard)))
                    .collect()
            }
            Op::Pay(t) if !self.sessions.is_empty() => {
                let i = t % self.sessions.len();
                let open = self.sessions[i]
                    .elevated_until
                    .is_some_and(|until| self.now < until);
                let guard = if open {
                    Ok(())
                } else {
                    Err(Reason::StepUpRequired)
                };
                self.verdicts(i)
                    .into_iter()
                    .map(|v| Answer::Verdict(v.and(guard)))
                    .collect()
            }
            Op::Elevate(t, secs) if !self.sessions.is_empty() => {
                let i = t % self.sessions.len();
                let verdicts = self.verdicts(i);
                if verdicts != [Ok(())] {
                    return verdicts
                        .into_iter()
                        .map(|v| Answer::Elevated(v.map(|()| 0)))
                        .collect();
                }
                // Never past the session's end; an open window keeps the later end.
                let s = &mut self.sessions[i];
                let want = (self.now + secs * 1000).min(s.expires);
                let until = match s.elevated_until {
                    Some(open) if open > self.now => open.max(want),
                    _ => want,
                };
                s.elevated_until = Some(until);
                vec![Answer::Elevated(Ok(until))]
            }
            _ => vec![self.apply_one(op)],
        }
    }

    /// A refresh of session `i` with its current token, or (`reuse`) its spent one.
    fn refresh(&mut self, i: usize, reuse: bool) -> Vec<Result<(), Reason>> {
        let now = self.now;
        let s = &self.sessions[i];
        if reuse && s.spent == 0 {
            return vec![Err(Reason::InvalidToken)];
        }
        // Past what the store keeps for it: refused, whatever the reason told.
        let kept = if self.jwt { GRACE_S } else { RETAIN_S };
        if now >= s.expires + kept * 1000 {
            return if self.jwt {
                Reason::ALL.into_iter().map(Err).collect()
            } else {
                vec![Err(Reason::InvalidToken)]
            };
        }
        // Past its end by this clock a session is refused, but which reason is told
        // depends on ends that reached it since (a kickout ends such sessions too, as
        // another instance's clock may still serve them).
        if now >= s.expires {
            return Reason::ALL.into_iter().map(Err).collect();
        }
        if s.ended.is_some() {
            return self.ended_as(i);
        }
        if reuse {
            self.end_one(i, EndReason::RefreshReused);
            return vec![Err(Reason::RefreshReused)];
        }
        let s = &mut self.sessions[i];
        let cap = s.cap.unwrap_or(s.expires);
        s.access_expires = (now + TTL_S * 1000).min(cap);
        s.expires = s.access_expires.max(cap);
        s.spent += 1;
        vec![Ok(())]
    }

    fn apply_one(&mut self, op: &Op) -> Answer {
        let n = self.sessions.len();
        match *op {
            Op::Login(user, device) => {
                if self.ban_stands(user) {
                    return Answer::Banned;
                }
                let live = |m: &Model, same_device: bool| -> Vec<usize> {
                    let mut v: Vec<usize> = (0..m.sessions.len())
                        .filter(|&i| m.live(i) && m.sessions[i].user == user)
                        .filter(|&i| !same_device || m.sessions[i].device == device)
                        .collect();
                    v.sort_by_key(|&i| (m.sessions[i].issued, i));
                    v
                };
                let (scope, max) = match self.rule {
                    Rule::Unlimited => (vec![], usize::MAX),
                    Rule::OnePerDevice => (live(self, true), 1),
                    Rule::OneInAll => (live(self, false), 1),
                    Rule::TwoPerUser => (live(self, false), 2),
                };
                let excess = (scope.len() + 1).saturating_sub(max);
                let replaced: Vec<usize> = if excess > 0 && excess == scope.len() {
                    // The whole scope goes: in JWT mode, one bump of its generation.
                    let per_device = matches!(self.rule, Rule::OnePerDevice);
                    self.bump(
                        |s| s.user == user && (!per_device || s.device == device),
                        EndReason::Replaced,
                    )
                } else {
                    let replaced: Vec<usize> = scope.into_iter().take(excess).collect();
                    for &i in &replaced {
                        self.end_one(i, EndReason::Replaced);
                    }
                    replaced
                };
                let access = self.now + TTL_S * 1000;
                let cap = self.refresh.then_some(self.now + CAP_S * 1000);
                self.sessions.push(Sess {
                    user,
                    device,
                    issued: self.now,
                    expires: cap.unwrap_or(access).max(access),
                    access_expires: access,
                    cap,
                    spent: 0,
                    ended: None,
                    also: Vec::new(),
                    elevated_until: None,
                });
                let mut replaced = replaced;
                replaced.sort_unstable();
                Answer::Login { replaced }
            }
            Op::LogoutPrevious(t) if n > 0 && self.sessions[t % n].spent == 0 => Answer::Skip,
            Op::Logout(t) | Op::KickoutSession(t) | Op::LogoutPrevious(t) if n > 0 => {
                let i = t % n;
                let reason = match op {
                    Op::Logout(_) | Op::LogoutPrevious(_) => EndReason::LoggedOut,
                    _ => EndReason::KickedOut,
                };
                let live = self.live(i);
                if live {
                    self.end_one(i, reason);
                }
                Answer::Bool(live)
            }
            Op::Kickout(user) => {
                Answer::Count(self.bump(|s| s.user == user, EndReason::KickedOut).len())
            }
            Op::KickoutDevice(user, device) => Answer::Count(
                self.bump(
                    |s| s.user == user && s.device == device,
                    EndReason::KickedOut,
                )
                .len(),
            ),
            Op::Ban(user, secs) => {
                let ended = self.bump(|s| s.user == user, EndReason::Banned).len();
                self.bans.insert(user, self.now + secs * 1000);
                Answer::Count(ended)
            }
            Op::Unban(user) => {
                let stood = self.ban_stands(user);
                self.bans.remove(&user);
                Answer::Bool(stood)
            }
            Op::Sessions(user) => {
                let mut v: Vec<usize> = (0..n)
                    .filter(|&i| self.live(i) && self.sessions[i].user == user)
                    .collect();
                v.sort_by_key(|&i| (self.sessions[i].issued, i));
                Answer::List(v)
            }
            Op::Advance(secs) => {
                self.now += secs * 1000;
                Answer::Skip
            }
            Op::Restrict(user, level, secs) => {
                self.restrictions
                    .insert(user, (level, self.now + secs * 1000));
                Answer::Skip
            }
            Op::Unrestrict(user) => {
                let held = self
                    .restrictions
                    .remove(&user)
                    .is_some_and(|(_, until)| self.now < until);
                Answer::Bool(held)
            }
            _ => Answer::Skip,
        }
    }
}

/// The store's side: tokens and ids of the sessions, by the model's index.
struct Real<S: Stores, K: Kind<S>> {
    auth: Auth<S, K::M>,
    clock: kickout::clock::ManualClock,
    tokens: Vec<(String, SessionId)>,
    /// Each session's current refresh token and every one it spent.
    refresh: Vec<(Option<String>, Vec<String>)>,
    /// Each session's access token that its last refresh replaced.
    previous: Vec<Option<String>>,
    users: Vec<String>,
}

impl<S: Stores, K: Kind<S>> Real<S, K> {
    fn index(&self, id: SessionId) -> usize {
        self.tokens
            .iter()
            .position(|(_, s)| *s == id)
            .expect("a session the model knows")
    }

    fn indices(&self, list: &[SessionInfo]) -> Vec<usize> {
        list.iter().map(|s| self.index(s.session_id)).collect()
    }

    fn entries(&self, list: &[SessionEntry]) -> Vec<usize> {
        list.iter().map(|s| self.index(s.info.session_id)).collect()
    }

    /// A request with `token` through the layer's check, then `guard`.
    async fn guarded(&self, token: &str, guard: &kickout::Guard) -> Result<(), Reason> {
        let identity = self
            .auth
            .authenticate(token)
            .await
            .map_err(|r| r.reason())?;
        guard.check(&identity).map_err(|r| r.reason())
    }

    async fn apply(&mut self, op: &Op, jwt: bool) -> Answer {
        let n = self.tokens.len();
        let user = |u: u8| self.users[usize::from(u)].clone();
        let device = |d: u8| format!("d{d}");
        match *op {
            Op::Login(u, d) => match self.auth.login(&user(u), &device(d)).await {
                Ok(login) => {
                    self.tokens
                        .push((login.token.as_str().to_owned(), login.session.session_id));
                    let refresh = login.refresh.map(|r| r.token.into_string());
                    self.refresh.push((refresh, Vec::new()));
                    self.previous.push(None);
                    let mut replaced = self.indices(&login.replaced);
                    replaced.sort_unstable();
                    Answer::Login { replaced }
                }
                Err(Error::Banned { .. }) => Answer::Banned,
                Err(e) => panic!("login: {e:?}"),
            },
            Op::Logout(t) if n > 0 => {
                Answer::Bool(self.auth.logout(&self.tokens[t % n].0).await.unwrap())
            }
            Op::KickoutSession(t) if n > 0 => Answer::Bool(
                self.auth
                    .kickout_session(self.tokens[t % n].1)
                    .await
                    .unwrap(),
            ),
            Op::Kickout(u) => Answer::Count(self.auth.kickout(&user(u)).await.unwrap()),
            Op::KickoutDevice(u, d) => Answer::Count(
                self.auth
                    .kickout_device(&user(u), &device(d))
                    .await
                    .unwrap(),
            ),
            Op::Ban(u, secs) => Answer::Count(
                self.auth
                    .ban(&user(u), Duration::from_secs(secs))
                    .await
                    .unwrap(),
            ),
            Op::Unban(u) => Answer::Bool(self.auth.unban(&user(u)).await.unwrap()),
            Op::Check(t) if n > 0 => Answer::Verdict(
                self.auth
                    .authenticate(&self.tokens[t % n].0)
                    .await
                    .map(|_| ())
                    .map_err(|r| r.reason()),
            ),
            Op::Sessions(u) => {
                let list = self.auth.sessions(&user(u)).await.unwrap();
                Answer::List(self.entries(&list))
            }
            Op::Renew(t) if n > 0 && !jwt => {
                match K::renew(&self.auth, &self.tokens[t % n].0).await {
                    Some(Ok(_)) => Answer::Renewed(Ok(())),
                    Some(Err(Error::Rejected(r))) => Answer::Renewed(Err(r.reason())),
                    Some(Err(e)) => panic!("renew: {e:?}"),
                    None => Answer::Skip,
                }
            }
            Op::LogoutPrevious(t) if n > 0 => match self.previous[t % n].clone() {
                Some(token) => Answer::Bool(self.auth.logout(&token).await.unwrap()),
                None => Answer::Skip,
            },
            Op::Refresh(t) | Op::Reuse(t, _) if n > 0 && self.refresh[t % n].0.is_some() => {
                let i = t % n;
                let (current, spent) = self.refresh[i].clone();
                let presented = match op {
                    // Any spent one: a session has no "too old to count".
                    Op::Reuse(_, k) if !spent.is_empty() => spent[k % spent.len()].clone(),
                    // None spent yet: a well-formed token the session never had.
                    Op::Reuse(..) => "A".repeat(64),
                    _ => current.unwrap_or_default(),
                };
                match self.auth.refresh(&presented).await {
                    Ok(pair) => {
                        let old = std::mem::replace(
                            &mut self.tokens[i].0,
                            pair.token.as_str().to_owned(),
                        );
                        self.previous[i] = Some(old);
                        let next = pair.refresh.map(|r| r.token.into_string());
                        let mut spent = spent;
                        spent.push(presented);
                        self.refresh[i] = (next, spent);
                        Answer::Refreshed(Ok(()))
                    }
                    Err(Error::Rejected(r)) => Answer::Refreshed(Err(r.reason())),
                    Err(e) => panic!("refresh: {e:?}"),
                }
            }
            Op::Advance(secs) => {
                self.clock.advance(Duration::from_secs(secs));
                Answer::Skip
            }
            Op::Restrict(u, level, secs) => {
                let duration = Duration::from_secs(secs);
                self.auth
                    .restrict(&user(u), "content", level, duration)
                    .await
                    .unwrap();
                Answer::Skip
            }
            Op::Unrestrict(u) => {
                Answer::Bool(self.auth.unrestrict(&user(u), "content").await.unwrap())
            }
            Op::Guarded(t, level) if n > 0 => {
                let guard = self.auth.guard("content", level).unwrap();
                Answer::Verdict(self.guarded(&self.tokens[t % n].0, &guard).await)
            }
            Op::Pay(t) if n > 0 => {
                let guard = self.auth.step_up("payment").unwrap();
                Answer::Verdict(self.guarded(&self.tokens[t % n].0, &guard).await)
            }
            Op::Elevate(t, secs) if n > 0 => {
                let identity = match self.auth.authenticate(&self.tokens[t % n].0).await {
                    Ok(identity) => identity,
                    Err(r) => return Answer::Elevated(Err(r.reason())),
                };
                let window = Duration::from_secs(secs);
                match self.auth.elevate(&identity, "payment", window).await {
                    Ok(until) => {
                        let ms = until.duration_since(std::time::UNIX_EPOCH).unwrap();
                        Answer::Elevated(Ok(u64::try_from(ms.as_millis()).unwrap()))
                    }
                    Err(Error::Rejected(r)) => Answer::Elevated(Err(r.reason())),
                    Err(e) => panic!("elevate: {e:?}"),
                }
            }
            _ => Answer::Skip,
        }
    }
}

fn cases(default: u32) -> u32 {
    std::env::var("KICKOUT_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A runtime for a model test: the store's connections live on it between cases.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs `cases` random sequences against `store` (each with users of its own).
fn run<S: Stores, K: Kind<S>>(rt: &tokio::runtime::Runtime, store: S, cases: u32) {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    // One count for the whole binary: cases of both modes may share a store.
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let result = runner.run(&case(), |(rule, refresh, ops)| {
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Each case starts after every earlier one could have ended (time on a shared
        // store never runs back): a store's purge after an earlier case's last write,
        // at that case's later time, must not find this case's fresh rows past due.
        let start = T0 + seq * CASE_SPAN_MS;
        let store = store.clone();
        rt.block_on(async {
            let clock = kickout::clock::ManualClock::new(start);
            let mut builder =
                K::retention(K::builder(store, &clock), Duration::from_secs(RETAIN_S))
                    .ttl(Duration::from_secs(TTL_S))
                    .login_rule(rule.login_rule());
            if refresh {
                builder = builder.refresh_tokens(Duration::from_secs(CAP_S));
            }
            let auth = builder.build();
            let mut real: Real<S, K> = Real {
                auth,
                clock,
                tokens: Vec::new(),
                refresh: Vec::new(),
                previous: Vec::new(),
                users: (0..USERS)
                    .map(|u| format!("{}{seq}-{u}", if K::JWT { "j" } else { "s" }))
                    .collect(),
            };
            let mut model = Model {
                jwt: K::JWT,
                refresh,
                rule,
                now: start,
                sessions: Vec::new(),
                bans: HashMap::new(),
                restrictions: HashMap::new(),
            };
            for (step, op) in ops.iter().enumerate() {
                let expected = model.apply(op);
                let got = real.apply(op, K::JWT).await;
                prop_assert!(
                    expected.contains(&got),
                    "step {} ({:?}) under {:?} (refresh: {}): got {:?}, expected {:?}",
                    step,
                    op,
                    rule,
                    refresh,
                    got,
                    expected
                );
            }
            Ok(())
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

mod memory {
    use super::*;
    use kickout::store::MemoryStore;

    #[test]
    fn session_mode_matches_the_model() {
        run::<_, suite::Session>(&runtime(), MemoryStore::new(), cases(256));
    }

    #[test]
    fn jwt_mode_matches_the_model() {
        run::<_, suite::Jwt>(&runtime(), MemoryStore::new(), cases(256));
    }
}

/// The store built from the pure machines alone (`custom_store.rs`).
mod custom {
    use super::*;
    use crate::custom_store::BTreeStore;

    #[test]
    fn session_mode_matches_the_model() {
        run::<_, suite::Session>(&runtime(), BTreeStore::default(), cases(256));
    }

    #[test]
    fn jwt_mode_matches_the_model() {
        run::<_, suite::Jwt>(&runtime(), BTreeStore::default(), cases(256));
    }
}

#[cfg(feature = "redis")]
mod redis {
    use super::*;
    use crate::support;

    #[test]
    fn standalone_matches_the_model_in_both_modes() {
        if !support::redis_available() {
            return;
        }
        let server = support::RedisProcess::start(&[]);
        let rt = runtime();
        let store = rt
            .block_on(kickout::store::RedisStore::connect(&server.url()))
            .unwrap();
        run::<_, suite::Session>(&rt, store.clone(), cases(96));
        run::<_, suite::Jwt>(&rt, store, cases(96));
    }

    #[test]
    fn the_cluster_matches_the_model_in_both_modes() {
        let Some(cluster) = support::Cluster::start() else {
            return;
        };
        let rt = runtime();
        let store = rt.block_on(cluster.store());
        run::<_, suite::Session>(&rt, store.clone(), cases(48));
        run::<_, suite::Jwt>(&rt, store, cases(48));
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use crate::support::postgres as pg;

    #[test]
    fn postgres_matches_the_model_in_both_modes() {
        let Some(url) = pg::shared_url() else {
            return;
        };
        let rt = runtime();
        let store = rt.block_on(pg::store_on(&url, &pg::fresh_schema()));
        run::<_, suite::Session>(&rt, store.clone(), cases(64));
        run::<_, suite::Jwt>(&rt, store, cases(64));
    }
}
