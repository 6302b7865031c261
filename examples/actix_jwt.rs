//! The actix-web demo server in JWT mode (signed tokens that can still be logged out, kicked out and banned):
//! DESIGN.md's HTTP contract. Same environment as the axum demos (`BIND`, `REDIS_URL`,
//! `ADMIN_KEY`, `TOKEN_TTL_SECS`, `JWT_SECRET`).
//!
//! ```sh
//! cargo run --features actix --example actix_jwt
//! ```

#[allow(dead_code)]
#[path = "actix_demo/mod.rs"]
mod actix_demo;

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    actix_demo::main(actix_demo::DemoMode::Jwt).await
}
