//! The directory's pages on PostgreSQL, either mode: a bounded run of ids after the
//! cursor, each carrying its record only if it is live and within the page's size
//! (see `schema::page_of`), walked by the contract's [`PageRequest::walk`].

use serde::de::DeserializeOwned;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::session::id_of;
use super::{PostgresStore, col, ms, parse};
use crate::store::contract::StoreError;
use crate::store::directory::{Cursor, MAX_PAGE, OnlineSession, Page, PageRequest, SCAN_FACTOR};
use crate::token::SessionId;

impl PostgresStore {
    /// One page from `statement`, whose rows start `(id, record or NULL, live)`:
    /// `online` makes a listed session of a record (`what` it is, for a warning)
    /// and the rest of its row.
    pub(super) async fn page<T: DeserializeOwned>(
        &self,
        statement: &str,
        what: &str,
        page: PageRequest<'_>,
        now_ms: u64,
        online: impl Fn(SessionId, T, &Row) -> Result<Option<OnlineSession>, StoreError>,
    ) -> Result<Page, StoreError> {
        let after = page.start_after().map(|id| id.as_bytes().to_vec());
        let after = after.unwrap_or_default();
        let size = page.limit.clamp(1, MAX_PAGE);
        // What the walk may look at, and one more to know whether more remains.
        let run = i64::try_from(size.saturating_mul(SCAN_FACTOR) + 1).unwrap_or(i64::MAX);
        let size = i64::try_from(size).unwrap_or(i64::MAX);
        let params: [&(dyn ToSql + Sync); 5] = [&after, &run, &ms(now_ms), &page.class, &size];
        let rows = self.rows(statement, &params).await?;
        let mut candidates = Vec::with_capacity(rows.len());
        for row in &rows {
            // A live row past what was carried: the page ends before it.
            if col::<bool>(row, 2)? && col::<Option<&str>>(row, 1)?.is_none() {
                break;
            }
            candidates.push((id_of(col(row, 0)?)?, row));
        }
        let cut = (candidates.len() < rows.len())
            .then(|| candidates.last().map(|(id, _)| *id))
            .flatten();
        // Records are parsed as the walk goes: a page stops at its limit.
        let mut corrupt = None;
        let mut page = page.walk(
            candidates,
            |(id, _)| *id,
            |(id, row)| {
                let listed = match col::<Option<&str>>(row, 1) {
                    Ok(Some(raw)) => match parse::<T>(raw, what) {
                        Ok(record) => online(id, record, row),
                        // A record that does not read opens no request (the request
                        // path refuses it as corrupt) and is passed over, as writes
                        // pass over it: failing, one bad row would stop every walk
                        // after it, the incident switch's included, until it is purged.
                        Err(_) => {
                            tracing::warn!(session_id = %id, "{what} that does not read");
                            Ok(None)
                        }
                    },
                    Ok(None) => Ok(None),
                    Err(e) => Err(e),
                };
                listed.unwrap_or_else(|e| {
                    corrupt = Some(e);
                    None
                })
            },
        );
        if let Some(e) = corrupt {
            return Err(e);
        }
        // Cut short: the next page goes on after the last row looked at.
        if let (None, Some(last)) = (&page.next, cut) {
            page.next = Some(Cursor::new(last.tag(), last.to_string()));
        }
        Ok(page)
    }
}
