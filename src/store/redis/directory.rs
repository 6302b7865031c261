//! The directory on Redis: one sorted set of session ids per slot tag (`…d`, written by
//! the login scripts in the user's slot), and the set of tags that have one (`dt`, at
//! most 65,536 members). A page walks tags in order and runs one script per tag, which
//! reads the records it lists and drops members whose session is gone.

use std::sync::atomic::{AtomicU16, Ordering};

use super::{RedisStore, corrupt, num};
use crate::limits::MAX_LIFETIME_MS;
use crate::store::directory::{MAX_PAGE, SCAN_FACTOR};
use crate::store::{
    contract::{SessionInfo, StoreError},
    directory::{Cursor, OnlineSession, Page, PageRequest},
};

const DAY_MS: u64 = 24 * 3_600_000;

/// The day (since the epoch, plus one) each slot tag was last put in the tag set by
/// this store; 0 for never.
pub(super) struct TagBits(Box<[AtomicU16]>);

impl Default for TagBits {
    fn default() -> Self {
        Self((0..=u16::MAX).map(|_| AtomicU16::new(0)).collect())
    }
}

impl TagBits {
    fn day(now_ms: u64) -> u16 {
        u16::try_from(now_ms / DAY_MS + 1).unwrap_or(u16::MAX)
    }

    /// Whether `tag` was put in the tag set on the day of `now_ms`.
    fn noted(&self, tag: u16, now_ms: u64) -> bool {
        self.0
            .get(usize::from(tag))
            .is_some_and(|d| d.load(Ordering::Relaxed) == Self::day(now_ms))
    }

    /// Records that `tag` was put in the tag set on the day of `now_ms`.
    fn mark(&self, tag: u16, now_ms: u64) {
        if let Some(d) = self.0.get(usize::from(tag)) {
            d.store(Self::day(now_ms), Ordering::Relaxed);
        }
    }
}

/// Which mode's directory a page reads.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    Session,
    #[cfg(feature = "jwt")]
    Jwt,
}

impl RedisStore {
    /// Puts `tag` in the directory's tag set before a login creates a session (so a live
    /// session's tag is always there), once a day per tag and store. Tags are not
    /// removed: the set is bounded by the tag space (65,536 members). It expires a day
    /// past the longest session lifetime after the last such write, so it outlives every
    /// session whose tag it lists.
    pub(super) async fn note_tag(&self, tag: u16, now_ms: u64) -> Result<(), StoreError> {
        // Marked only once the set holds it: a login racing the first one of its tag
        // writes it too (the write is idempotent) rather than create a session a walk of
        // the directory could miss, should the first write fail or still be on its way.
        if self.shared.dir_tags.noted(tag, now_ms) {
            return Ok(());
        }
        let key = self.keys().dir_tags();
        let mut pipe = redis::pipe();
        pipe.cmd("ZADD")
            .arg(&key)
            .arg(tag)
            .arg(tag)
            .ignore()
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(MAX_LIFETIME_MS + DAY_MS)
            .ignore();
        let conn = self.writes.pin();
        self.within_timeout(&conn, async |mut conn| {
            pipe.query_async::<()>(&mut conn).await
        })
        .await?;
        // On a Cluster the set lives on a node of its own, which the login's `WAIT`
        // does not reach: a failover of that node must not lose it (every walk would
        // miss the tag until the next day's write). Standalone, the login's covers it.
        if let Some(replicas) = self.shared.replicas.filter(|_| self.writes.is_cluster()) {
            self.wait(&conn, replicas, &key).await?;
        }
        self.shared.dir_tags.mark(tag, now_ms);
        Ok(())
    }

    /// A directory page (see [`crate::store::directory`]).
    pub(super) async fn walk(
        &self,
        page: PageRequest<'_>,
        now_ms: u64,
        kind: Kind,
    ) -> Result<Page, StoreError> {
        let limit = page.limit.clamp(1, MAX_PAGE);
        let mut budget = limit.saturating_mul(SCAN_FACTOR);
        let (mut tag, mut after) = match page.after {
            // As written: the tag's index holds both modes' members (a page's last
            // one may be the other mode's), in one lexical order.
            Some(c) => (u32::from(c.tag()), c.member().to_owned()),
            None => (0, String::new()),
        };
        let mut found = Vec::new();
        loop {
            let tags: Vec<u32> = self.tags_from(tag, budget).await?;
            if tags.is_empty() {
                return Ok(Page::new(found, None));
            }
            for t in tags {
                let t16 = u16::try_from(t).map_err(|_| corrupt("a directory tag"))?;
                if t != tag {
                    (tag, after) = (t, String::new());
                }
                // Every tag looked at counts, so empty ones cannot make a page long.
                budget = budget.saturating_sub(1);
                if budget == 0 {
                    return Ok(Page::new(found, Some(Cursor::new(t16, after))));
                }
                let part = self
                    .tag_page(
                        kind,
                        t16,
                        &after,
                        budget,
                        limit - found.len(),
                        now_ms,
                        page.class,
                    )
                    .await?;
                budget = budget.saturating_sub(part.looked);
                found.extend(part.sessions);
                if !part.last.is_empty() {
                    after = part.last;
                }
                if found.len() >= limit || part.more || budget == 0 {
                    let next = part.more || budget == 0 || found.len() >= limit;
                    return Ok(Page::new(found, next.then(|| Cursor::new(t16, after))));
                }
            }
            if tag >= u32::from(u16::MAX) {
                return Ok(Page::new(found, None));
            }
            (tag, after) = (tag + 1, String::new());
        }
    }

    /// Up to `count` tags of the tag set, from `tag` on.
    async fn tags_from(&self, tag: u32, count: usize) -> Result<Vec<u32>, StoreError> {
        let mut cmd = redis::cmd("ZRANGEBYSCORE");
        cmd.arg(self.keys().dir_tags())
            .arg(tag)
            .arg("+inf")
            .arg("LIMIT")
            .arg(0)
            .arg(count.max(1));
        let tags: Vec<String> = self.read_cmd(cmd).await?;
        tags.iter()
            .map(|t| t.parse().map_err(|_| corrupt("a directory tag")))
            .collect()
    }

    /// One tag's part of a page.
    #[allow(clippy::too_many_arguments)]
    async fn tag_page(
        &self,
        kind: Kind,
        tag: u16,
        after: &str,
        scan: usize,
        max: usize,
        now_ms: u64,
        class: Option<&str>,
    ) -> Result<TagPart, StoreError> {
        let keys = self.keys();
        let script = match kind {
            Kind::Session => &self.shared.scripts.dir_page,
            #[cfg(feature = "jwt")]
            Kind::Jwt => &self.shared.scripts.jwt_dir_page,
        };
        let reply: Vec<String> = self
            .read(script, vec![keys.dir(tag)], |call| {
                call.arg(keys.base(tag))
                    .arg(after)
                    .arg(scan)
                    .arg(now_ms)
                    .arg(max)
                    .arg(class.unwrap_or_default());
            })
            .await?;
        let [last, looked, more, rest @ ..] = reply.as_slice() else {
            return Err(corrupt("a directory page"));
        };
        let sessions = rest
            .chunks(7)
            .map(|c| match c {
                [member, user, device, issued, expires, seen, class] => {
                    let session_id = match kind {
                        Kind::Session => member.parse().ok(),
                        #[cfg(feature = "jwt")]
                        Kind::Jwt => crate::token::SessionId::from_jti(tag, member),
                    }
                    .ok_or_else(|| corrupt("a directory member"))?;
                    let info = SessionInfo {
                        session_id,
                        user_id: user.as_str().into(),
                        device: device.as_str().into(),
                        issued_at_ms: num(issued)?,
                        expires_at_ms: num(expires)?,
                    };
                    Ok(OnlineSession::new(info, num(seen)?, class.as_str().into()))
                }
                _ => Err(corrupt("a directory page")),
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(TagPart {
            sessions,
            last: last.clone(),
            looked: usize::try_from(num(looked)?).unwrap_or(usize::MAX),
            more: more == "1",
        })
    }
}

struct TagPart {
    sessions: Vec<OnlineSession>,
    last: String,
    looked: usize,
    more: bool,
}
