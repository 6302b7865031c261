//! The actix-web demo server in session mode (opaque tokens):
//! DESIGN.md's HTTP contract. Same environment as the axum demos (`BIND`, `REDIS_URL`,
//! `ADMIN_KEY`, `TOKEN_TTL_SECS`, `IDLE_TIMEOUT_SECS`).
//!
//! ```sh
//! cargo run --features actix --example actix_session
//! ```

#[allow(dead_code)]
#[path = "actix_demo/mod.rs"]
mod actix_demo;

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    actix_demo::main(actix_demo::DemoMode::Session).await
}
