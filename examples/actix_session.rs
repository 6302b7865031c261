//! The actix-web demo server in session mode (opaque tokens): the demo servers' HTTP
//! contract (README: "The demo server"). Same environment as the axum demos
//! (`examples/demo/mod.rs`): `BIND`, `DATABASE_URL`, `REDIS_URL`, `REDIS_MIN_REPLICAS`,
//! `ADMIN_KEY` (required off loopback), `TOKEN_TTL_SECS`, `IDLE_TIMEOUT_SECS`,
//! `REFRESH_TTL_SECS`, `DEVICE_CLASSES`.
//!
//! ```sh
//! cargo run --features actix,jwt --example actix_session
//! ```

#[allow(dead_code)]
#[path = "actix_demo/mod.rs"]
mod actix_demo;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    let result = actix_demo::main(actix_demo::DemoMode::Session).await;
    actix_demo::startup::report(result).into()
}
