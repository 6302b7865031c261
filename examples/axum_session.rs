//! The session-mode demo server (opaque tokens): the demo servers' HTTP contract (README:
//! "The demo server") on axum.
//!
//! ```sh
//! cargo run --features jwt --example axum_session            # memory store on 127.0.0.1:3000
//! REDIS_URL=redis://127.0.0.1:6379 cargo run --features jwt,redis --example axum_session
//! DATABASE_URL=postgres://app:secret@127.0.0.1/app \
//!     cargo run --features jwt,postgres --example axum_session
//! REDIS_URL=redis://127.0.0.1:7000,redis://127.0.0.1:7001,redis://127.0.0.1:7002 \
//!     cargo run --features jwt,redis --example axum_session  # a Redis Cluster
//! BIND=0.0.0.0:3000 ADMIN_KEY='a long random key' cargo run --features jwt --example axum_session
//! ```
//!
//! Off loopback it refuses to start without `ADMIN_KEY`. See `examples/demo/mod.rs` for
//! the routes and the environment.

#[allow(dead_code)]
#[path = "demo/mod.rs"]
mod demo;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let result = demo::main(demo::DemoMode::Session).await;
    demo::startup::report(result).into()
}
