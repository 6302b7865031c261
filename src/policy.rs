//! The concurrent-login rule: how many sessions a user may hold, and what a login past
//! the limit does.

/// How many live sessions count as "full".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Limit {
    /// No limit.
    Unlimited,
    /// At most this many live sessions per user and device class (a device's class is
    /// its name unless [`AuthBuilder::device_class`](crate::AuthBuilder::device_class)
    /// maps it to another).
    PerDevice(u32),
    /// At most this many live sessions per user, whatever the device.
    PerUser(u32),
}

/// What a login does when the limit is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Overflow {
    /// End the oldest sessions (by issue time) in scope; they answer `replaced`.
    ReplaceOldest,
    /// Refuse the new login while the limit is reached ([`crate::Error::SessionLimit`]).
    RefuseNew,
}

/// The concurrent-login rule, chosen when the [`Auth`](crate::Auth) handle is built and
/// overridable per login ([`LoginOptions`](crate::LoginOptions)).
///
/// The store applies it atomically with the creation of the new session, so two
/// simultaneous logins cannot both slip under the limit.
///
/// ```
/// use kickout::LoginRule;
///
/// // Many devices at once, one session per device: a new login on "web" replaces the old one.
/// let demo = LoginRule::one_per_device();
/// // At most three sessions in all; a fourth login is refused instead of replacing one.
/// let strict = LoginRule::max_per_user(3).refuse_new();
/// # let _ = (demo, strict);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LoginRule {
    limit: Limit,
    overflow: Overflow,
}

impl Default for LoginRule {
    /// [`LoginRule::unlimited`].
    fn default() -> Self {
        Self::unlimited()
    }
}

impl LoginRule {
    /// Any number of sessions, on any devices.
    pub const fn unlimited() -> Self {
        Self::new(Limit::Unlimited, Overflow::ReplaceOldest)
    }

    /// One session per device: a new login on the same device replaces the old one.
    pub const fn one_per_device() -> Self {
        Self::max_per_device(1)
    }

    /// One session in all: a new login anywhere replaces every other session.
    pub const fn one_in_all() -> Self {
        Self::max_per_user(1)
    }

    /// At most `n` (at least 1) sessions per user; the oldest by issue time is replaced.
    pub const fn max_per_user(n: u32) -> Self {
        Self::new(
            Limit::PerUser(if n == 0 { 1 } else { n }),
            Overflow::ReplaceOldest,
        )
    }

    /// At most `n` (at least 1) sessions per user and device; the oldest is replaced.
    pub const fn max_per_device(n: u32) -> Self {
        Self::new(
            Limit::PerDevice(if n == 0 { 1 } else { n }),
            Overflow::ReplaceOldest,
        )
    }

    /// The same limit, but a login past it is refused while the sessions in scope live.
    pub const fn refuse_new(self) -> Self {
        Self::new(self.limit, Overflow::RefuseNew)
    }

    /// A rule from its parts; a limit of 0 counts as 1.
    pub const fn new(limit: Limit, overflow: Overflow) -> Self {
        let limit = match limit {
            Limit::PerDevice(0) => Limit::PerDevice(1),
            Limit::PerUser(0) => Limit::PerUser(1),
            other => other,
        };
        Self { limit, overflow }
    }

    /// The limit.
    pub const fn limit(&self) -> Limit {
        self.limit
    }

    /// What a login past the limit does.
    pub const fn overflow(&self) -> Overflow {
        self.overflow
    }

    /// The most live sessions allowed in one scope; `None` when unlimited.
    pub const fn max_sessions(&self) -> Option<u32> {
        match self.limit {
            Limit::Unlimited => None,
            Limit::PerDevice(n) | Limit::PerUser(n) => Some(n),
        }
    }

    /// Whether a live session of device class `class` shares a scope with a new login
    /// of class `new_class` (a device's class is its name unless the handle maps it).
    pub fn same_scope(&self, class: &str, new_class: &str) -> bool {
        match self.limit {
            Limit::PerDevice(_) => class == new_class,
            Limit::Unlimited | Limit::PerUser(_) => true,
        }
    }
}

/// Device classes: which devices share a per-device rule's scope ("ios" and "android"
/// both "mobile"), and each class's own rule and lifetime. A device no one mapped is its
/// own class.
#[derive(Clone, Debug, Default)]
pub(crate) struct Classes {
    of_device: std::collections::HashMap<Box<str>, std::sync::Arc<str>>,
    rules: std::collections::HashMap<std::sync::Arc<str>, LoginRule>,
    ttls_ms: std::collections::HashMap<std::sync::Arc<str>, u64>,
    idles_ms: std::collections::HashMap<std::sync::Arc<str>, OwnIdle>,
}

impl Classes {
    /// Puts `device` in `class`.
    pub(crate) fn map(&mut self, device: &str, class: &str) {
        self.of_device.insert(device.into(), class.into());
    }

    /// The rule of logins of `class`.
    pub(crate) fn set_rule(&mut self, class: &str, rule: LoginRule) {
        self.rules.insert(class.into(), rule);
    }

    /// The lifetime of sessions of `class`.
    pub(crate) fn set_ttl(&mut self, class: &str, ttl_ms: u64) {
        self.ttls_ms.insert(class.into(), ttl_ms);
    }

    /// The idle timeout of sessions of `class`.
    pub(crate) fn set_idle(&mut self, class: &str, idle: OwnIdle) {
        self.idles_ms.insert(class.into(), idle);
    }

    /// The class's own idle timeout, if it has one.
    pub(crate) fn idle(&self, class: &str) -> Option<OwnIdle> {
        self.idles_ms.get(class).copied()
    }

    /// The class of `device`: its mapped class, or its own name.
    pub(crate) fn class_of<'a>(&'a self, device: &'a str) -> &'a str {
        self.of_device.get(device).map_or(device, |c| c)
    }

    /// The class's own rule, if it has one.
    pub(crate) fn rule(&self, class: &str) -> Option<LoginRule> {
        self.rules.get(class).copied()
    }

    /// The class's own lifetime, if it has one.
    pub(crate) fn ttl_ms(&self, class: &str) -> Option<u64> {
        self.ttls_ms.get(class).copied()
    }
}

/// A session's own idle timeout, where it is not the handle's. (Public only as a field
/// of the sealed mode's login; nothing outside the crate can name it.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(unreachable_pub)]
pub enum OwnIdle {
    /// None: the session lives its absolute lifetime ("remember me").
    Never,
    /// This many milliseconds.
    After(u64),
}

impl OwnIdle {
    /// The idle timeout in force: this one, else `default`.
    pub(crate) fn or_default(own: Option<Self>, default: Option<u64>) -> Option<u64> {
        match own {
            None => default,
            Some(Self::Never) => None,
            Some(Self::After(ms)) => Some(ms),
        }
    }
}
