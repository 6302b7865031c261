//! The JWT-mode demo server (signed tokens that can still be logged out, kicked out and
//! banned): the demo servers' HTTP contract (README: "The demo server") on axum.
//!
//! ```sh
//! cargo run --features jwt --example axum_jwt                # development secrets, loopback only
//! REDIS_URL=redis://127.0.0.1:6379 cargo run --features jwt,redis --example axum_jwt
//! DATABASE_URL=postgres://app:secret@127.0.0.1/app \
//!     cargo run --features jwt,postgres --example axum_jwt
//! BIND=0.0.0.0:3000 ADMIN_KEY='a long random key' \
//!     JWT_SECRET='at least 32 random bytes, kept secret' \
//!     cargo run --features jwt --example axum_jwt
//! ```
//!
//! Off loopback it refuses to start without `ADMIN_KEY` and `JWT_SECRET`. See
//! `examples/demo/mod.rs` for the routes and the environment.

#[allow(dead_code)]
#[path = "demo/mod.rs"]
mod demo;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let result = demo::main(demo::DemoMode::Jwt).await;
    demo::startup::report(result).into()
}
