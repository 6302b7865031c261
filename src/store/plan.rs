//! The concurrent-login rule applied to one user's sessions: pure, so every Rust store
//! applies it the same way and a new store writes storage and atomicity only (the Redis
//! store keeps a Lua copy in `create.lua`, held to the same conformance cases). The
//! twin of JWT mode's [`JwtState`](super::jwt::JwtState).

use crate::limits::MAX_LIVE_TOKENS;
use crate::policy::{LoginRule, Overflow};
use crate::token::SessionId;

/// One of the user's sessions that may still be live (ended ones have left the user's
/// index), as a login's rule sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Held<'a> {
    /// The session.
    pub id: SessionId,
    /// When it was issued, Unix milliseconds.
    pub issued_at_ms: u64,
    /// Its place among the user's sessions, in creation order: it breaks ties of issue
    /// time.
    pub order: u64,
    /// Its device class (its device name unless the handle maps it).
    pub class: &'a str,
    /// Live by the store's caller's clock: the rule counts only those.
    pub live: bool,
}

/// What a login does to the user's sessions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Admit the new session, first ending `replaced` (live sessions of its scope, the
    /// oldest, so the rule's maximum holds with the new one) and then `retired` (the
    /// oldest of those left, live or not, so the user holds at most
    /// [`MAX_LIVE_TOKENS`] with the new one). Both end with
    /// [`EndReason::Replaced`](super::contract::EndReason).
    Admit {
        /// Ended by the rule.
        replaced: Vec<SessionId>,
        /// Ended by the bound on a user's sessions.
        retired: Vec<SessionId>,
    },
    /// The rule's scope is full and it refuses new sessions
    /// ([`Overflow::RefuseNew`]): nothing changes.
    Refuse,
}

/// Applies `rule` to the user's `held` sessions for a new login of device class `class`.
///
/// ```
/// use kickout::{LoginRule, SessionId};
/// use kickout::store::plan::{Held, Plan, plan_login};
///
/// let id = |n: u8| SessionId::from_bytes([n; 14]);
/// let held = [
///     Held { id: id(1), issued_at_ms: 10, order: 0, class: "phone", live: true },
///     Held { id: id(2), issued_at_ms: 20, order: 1, class: "laptop", live: true },
/// ];
/// let plan = plan_login(&held, LoginRule::one_per_device(), "phone");
/// assert_eq!(plan, Plan::Admit { replaced: vec![id(1)], retired: vec![] });
/// let full = plan_login(&held, LoginRule::max_per_user(2).refuse_new(), "tablet");
/// assert_eq!(full, Plan::Refuse);
/// ```
pub fn plan_login(held: &[Held<'_>], rule: LoginRule, class: &str) -> Plan {
    let mut replaced = Vec::new();
    if let Some(max) = rule.max_sessions() {
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        let in_scope: Vec<&Held<'_>> = held
            .iter()
            .filter(|h| h.live && rule.same_scope(h.class, class))
            .collect();
        if in_scope.len() >= max {
            if rule.overflow() == Overflow::RefuseNew {
                return Plan::Refuse;
            }
            let excess = in_scope.len() + 1 - max;
            replaced = oldest(in_scope, excess);
        }
    }
    // Whatever the rule, a user holds at most MAX_LIVE_TOKENS sessions: the oldest go,
    // so no account can make its logins slow by logging in without end.
    let excess = (held.len() - replaced.len() + 1).saturating_sub(MAX_LIVE_TOKENS);
    let left: Vec<&Held<'_>> = match excess {
        0 => Vec::new(),
        _ => held.iter().filter(|h| !replaced.contains(&h.id)).collect(),
    };
    let retired = oldest(left, excess);
    Plan::Admit { replaced, retired }
}

/// The ids of the `n` oldest of `list`: by issue time, then creation order.
fn oldest(mut list: Vec<&Held<'_>>, n: usize) -> Vec<SessionId> {
    if n == 0 {
        return Vec::new();
    }
    list.sort_unstable_by_key(|h| (h.issued_at_ms, h.order));
    list.into_iter().take(n).map(|h| h.id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u16) -> SessionId {
        let mut b = [0u8; 14];
        b[..2].copy_from_slice(&n.to_be_bytes());
        SessionId::from_bytes(b)
    }

    fn held(n: u16, issued: u64, class: &str, live: bool) -> Held<'_> {
        Held {
            id: id(n),
            issued_at_ms: issued,
            order: u64::from(n),
            class,
            live,
        }
    }

    #[test]
    fn the_rule_counts_live_sessions_of_the_scope_and_ends_the_oldest() {
        let list = [
            held(1, 30, "web", true),
            held(2, 10, "web", true),
            held(3, 10, "web", true),
            held(4, 5, "web", false),
            held(5, 1, "phone", true),
        ];
        let plan = plan_login(&list, LoginRule::max_per_device(2), "web");
        // Issue time first, creation order on a tie; the expired one is not counted.
        assert_eq!(
            plan,
            Plan::Admit {
                replaced: vec![id(2), id(3)],
                retired: vec![]
            }
        );
        assert_eq!(
            plan_login(&list, LoginRule::unlimited(), "web"),
            Plan::Admit {
                replaced: vec![],
                retired: vec![]
            }
        );
        assert_eq!(
            plan_login(&list, LoginRule::max_per_user(4).refuse_new(), "tv"),
            Plan::Refuse
        );
    }

    #[test]
    fn no_user_holds_more_than_the_bound() {
        let classes = ["a"; MAX_LIVE_TOKENS];
        let list: Vec<Held<'_>> = (0..MAX_LIVE_TOKENS)
            .map(|n| held(n as u16, 1000 - (n as u64 % 7), classes[n], n % 3 != 0))
            .collect();
        let Plan::Admit { replaced, retired } = plan_login(&list, LoginRule::unlimited(), "a")
        else {
            panic!("admitted");
        };
        assert!(replaced.is_empty());
        assert_eq!(retired.len(), 1, "room for the new one");
        let oldest = list
            .iter()
            .min_by_key(|h| (h.issued_at_ms, h.order))
            .unwrap();
        assert_eq!(retired, vec![oldest.id]);
    }
}
