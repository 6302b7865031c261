//! One timeout for all of a request's calls to a network store: the timer is made with
//! the request's first call, and a later call (a due renewal after the read) gets only
//! what is left of it.

use std::pin::Pin;
use std::time::Duration;

use tokio::time::Sleep;

use super::contract::StoreError;

/// The request's timer. Made with its first call; the runtime only hears of it if a
/// later call waits on it, so a request of one call pays no timer registration for it.
pub(crate) fn budget(timeout: Duration) -> Sleep {
    tokio::time::sleep(timeout)
}

/// `call`, unless the request's `budget` runs out first.
pub(crate) async fn within<T>(
    budget: Pin<&mut Sleep>,
    call: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::select! {
        biased;
        result = call => result,
        () = budget => Err(StoreError::Unavailable(
            "the store did not answer within the request's timeout".to_owned(),
        )),
    }
}
