//! Reading who is signed in: one user's sessions ("where am I signed in") and the
//! directory of everyone online.

use super::{Auth, OnlineCount, check_name};
use crate::error::Error;
use crate::mode::Mode;
use crate::store::directory::MAX_PAGE;
use crate::store::{Cursor, OnlineSession, Page, PageRequest, SessionEntry, Store};

impl<S: Store, M: Mode<S>> Auth<S, M> {
    /// The user's live sessions, oldest first, with what was said of each at login. An
    /// invalid user id is [`Error::InvalidInput`].
    pub async fn sessions(&self, user_id: &str) -> Result<Vec<SessionEntry>, Error> {
        check_name("user_id", user_id)?;
        let now = self.now_ms();
        Ok(self
            .inner
            .mode
            .sessions(&self.inner.store, user_id, now)
            .await?)
    }

    /// A page of every user's live sessions ("who is online"), `limit` (1 to
    /// [`MAX_PAGE`](crate::store::directory::MAX_PAGE)) at most, after `cursor` (the
    /// previous page's [`Page::next`](crate::store::directory::Page), as text), of one
    /// device class if given. Following the cursor until it is `None` lists every session
    /// live throughout the walk exactly once; a page costs in proportion to its limit,
    /// whatever the number of sessions. A bad limit, cursor or class is
    /// [`Error::InvalidInput`]: a cursor is `<tag>.<member>`, the member empty, a session
    /// id of that tag or a `jti`, each spelled as pages spell them. A cursor of that
    /// shape that no page handed out is a place in the walk like any other, not an
    /// error: cursors are not signed.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use kickout::{Auth, store::MemoryStore};
    ///
    /// let auth = Auth::new(MemoryStore::new());
    /// for user in 0..5 {
    ///     auth.login(&format!("user{user}"), "web").await?;
    /// }
    /// let (mut seen, mut cursor) = (0, None);
    /// loop {
    ///     let page = auth.online(cursor.as_deref(), 2, None).await?;
    ///     seen += page.sessions.len();
    ///     match page.next {
    ///         Some(next) => cursor = Some(next.to_string()),
    ///         None => break,
    ///     }
    /// }
    /// assert_eq!(seen, 5);
    /// # Ok::<(), kickout::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn online(
        &self,
        cursor: Option<&str>,
        limit: usize,
        class: Option<&str>,
    ) -> Result<Page, Error> {
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(Error::InvalidInput { field: "limit" });
        }
        let after = match cursor {
            Some(text) => Some(Cursor::parse(text).ok_or(Error::InvalidInput { field: "cursor" })?),
            None => None,
        };
        if let Some(class) = class {
            check_name("class", class)?;
        }
        let page = PageRequest {
            after: after.as_ref(),
            limit,
            class,
        };
        let now = self.now_ms();
        Ok(self.inner.mode.online(&self.inner.store, page, now).await?)
    }

    /// Every page of the directory, in order, to `each`: the sessions live `lookback_ms`
    /// ago or later.
    pub(super) async fn walk(
        &self,
        lookback_ms: u64,
        mut each: impl FnMut(Vec<OnlineSession>),
    ) -> Result<(), Error> {
        let mut after: Option<Cursor> = None;
        loop {
            let page = PageRequest {
                after: after.as_ref(),
                limit: MAX_PAGE,
                class: None,
            };
            let now = self.now_ms().saturating_sub(lookback_ms);
            let page = self.inner.mode.online(&self.inner.store, page, now).await?;
            each(page.sessions);
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(()),
            }
        }
    }

    /// How many sessions are live, and of how many users: exact while nothing changes.
    /// It walks the whole directory (one read per session, in pages), so it costs in
    /// proportion to the number of sessions: poll it for a dashboard, not per request.
    pub async fn online_count(&self) -> Result<OnlineCount, Error> {
        let (mut sessions, mut users) = (0, std::collections::HashSet::new());
        self.walk(0, |page| {
            sessions += page.len();
            users.extend(page.into_iter().map(|s| s.info.user_id));
        })
        .await?;
        Ok(OnlineCount {
            sessions,
            users: users.len(),
        })
    }
}
