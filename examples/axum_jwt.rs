//! The JWT-mode demo server (signed tokens that can still be logged out, kicked out and
//! banned): DESIGN.md's HTTP contract on axum.
//!
//! ```sh
//! JWT_SECRET='a long random secret' cargo run --example axum_jwt
//! REDIS_URL=redis://127.0.0.1:6379 cargo run --example axum_jwt
//! ```
//!
//! See `examples/demo/mod.rs` for the routes and the environment.

#[allow(dead_code)]
#[path = "demo/mod.rs"]
mod demo;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    demo::main(demo::DemoMode::Jwt).await
}
