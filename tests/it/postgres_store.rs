//! The conformance suite on a real PostgreSQL server (started by the tests: `initdb`
//! into a temporary directory, a free loopback port), in both modes, plain and through
//! a `NearCache`; and what only this store promises: several instances agree through
//! `LISTEN`/`NOTIFY`, the tables stay bounded, an outage answers 503, a kickout that
//! answered survives `kill -9` of the server.

#![cfg(feature = "postgres")]

use crate::suite;
use crate::support::postgres as pg;

use suite::run_suite;

mod session_mode {
    use super::*;

    suite::all_cases!(run_suite!(pg::store().await, suite::Session));
}

mod jwt_mode {
    use super::*;

    suite::all_cases!(run_suite!(pg::store().await, suite::Jwt));
}

/// A near cache over PostgreSQL: the suite again, through the cache.
async fn near() -> Option<((), kickout::store::NearCache<kickout::store::PostgresStore>)> {
    let ((), store) = pg::store().await?;
    let near = kickout::store::NearCache::new(store, std::time::Duration::from_secs(1));
    Some(((), near))
}

mod near_cache {
    use super::*;

    suite::all_cases!(run_suite!(near().await, suite::Session));
}

mod near_cache_jwt {
    use super::*;

    suite::all_cases!(run_suite!(near().await, suite::Jwt));
}
