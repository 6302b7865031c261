//! actix-web integration: the same guarantees for actix apps, over the same core.
//!
//! [`KickoutAuth`] is a middleware (`App::wrap`, or `Scope::wrap` for one scope) that
//! runs the same request pipeline as the tower layer: the same
//! [`TokenSource`](crate::TokenSource) rules, the same [`Auth`](crate::Auth) handle
//! (either mode, any store), the same [`Identity`](crate::Identity) in the request's
//! extensions, and the same status, challenge and JSON body on refusal (or the handle's
//! own, [`AuthBuilder::on_rejection`](crate::AuthBuilder::on_rejection)). `Identity` and [`UserId`](crate::UserId) are
//! extractors, answering like the axum ones (401 on an anonymous request of an optional
//! scope, 500 naming the middleware where none ran); [`Rejection`], [`Error`] and
//! [`IdentityRejection`] are `ResponseError`s.
//!
//! actix-web 4 has its own `http` types: pass its `HeaderName` to
//! [`TokenSource::header`](crate::TokenSource::header) as it is, and read a rejection's status as actix's with
//! `ResponseError::status_code` (`status()` is `http` 1's, for tower).
//!
//! ```
//! use actix_web::{App, HttpResponse, web};
//! use kickout::{Auth, Identity, actix::KickoutAuth, store::MemoryStore};
//!
//! async fn me(me: Identity) -> HttpResponse {
//!     HttpResponse::Ok().body(me.user_id().to_owned())
//! }
//!
//! let auth = Auth::new(MemoryStore::new());
//! let app = App::new()
//!     .app_data(web::Data::new(auth.clone())) // for login / logout / kickout in handlers
//!     .service(web::scope("/api").wrap(KickoutAuth::new(auth)).route("/me", web::get().to(me)));
//! # let _ = app;
//! ```

mod extract;
mod future;
mod guard;
mod middleware;
mod respond;

pub use extract::MaybeIdentity;
pub use future::ResponseFuture;
pub use guard::{GuardMiddleware, GuardResponse};
pub use middleware::{KickoutAuth, KickoutAuthMiddleware};

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use self::respond::{status, to_actix};
use crate::error::Error;
use crate::http::IdentityRejection;
use crate::rejection::Rejection;

impl ResponseError for Rejection {
    fn status_code(&self) -> StatusCode {
        status(self.status())
    }

    fn error_response(&self) -> HttpResponse {
        to_actix(self.clone().into_http())
    }
}

impl ResponseError for IdentityRejection {
    fn status_code(&self) -> StatusCode {
        status(self.status())
    }

    fn error_response(&self) -> HttpResponse {
        to_actix(self.clone().into_http())
    }
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        status(self.status())
    }

    fn error_response(&self) -> HttpResponse {
        self.log_detail();
        to_actix(self.to_http())
    }
}
