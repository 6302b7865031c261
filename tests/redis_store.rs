//! The conformance suite on a real standalone Redis and a real 3-node Redis Cluster,
//! and what only a shared store promises: several instances agree, commands are one
//! round trip, secrets stay out of keys, and an outage is survived.

#![cfg(feature = "redis")]

mod suite;
mod support;

use suite::{run_in_sequence, run_suite};

mod standalone {
    use super::*;

    suite::all_cases!(run_suite!(support::standalone().await));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_on_a_three_node_cluster() {
    let Some(cluster) = support::Cluster::start() else {
        return;
    };
    suite::all_cases!(run_in_sequence!(cluster.store().await));
}
