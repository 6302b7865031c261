//! The session-mode demo server (opaque tokens): DESIGN.md's HTTP contract on axum.
//!
//! ```sh
//! cargo run --example axum_session            # memory store on 127.0.0.1:3000
//! REDIS_URL=redis://127.0.0.1:6379 cargo run --example axum_session
//! REDIS_URL=redis://127.0.0.1:7000,redis://127.0.0.1:7001,redis://127.0.0.1:7002 \
//!     cargo run --example axum_session          # a Redis Cluster
//! ```
//!
//! See `examples/demo/mod.rs` for the routes and the environment.

#[allow(dead_code)]
#[path = "demo/mod.rs"]
mod demo;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    demo::main(demo::DemoMode::Session).await
}
