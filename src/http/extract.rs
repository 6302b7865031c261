//! What the `Identity` extractors of both frameworks (and the guards) answer.

use super::Anonymous;
#[cfg(any(feature = "axum", feature = "actix"))]
use super::IdentityRejection;
#[cfg(all(feature = "jwt", any(feature = "axum", feature = "actix")))]
use crate::identity::Checked;
use crate::identity::Identity;
#[cfg(any(feature = "axum", feature = "actix"))]
use crate::rejection::Reason;

/// What a request's extensions hold for the extractors: the identity the layer put in,
/// else (looked up only then) the mark of an anonymous request it let through.
pub(crate) struct Found<'a, F: FnOnce() -> Option<&'a Anonymous>> {
    pub(crate) identity: Option<&'a Identity>,
    pub(crate) anonymous: F,
}

#[cfg(any(feature = "axum", feature = "actix"))]
/// What an optional extractor answers: the identity, `None` for an anonymous request,
/// or the missing layer.
pub(crate) fn identity<'a>(
    found: Found<'a, impl FnOnce() -> Option<&'a Anonymous>>,
    layer: &'static str,
) -> Result<Option<Identity>, IdentityRejection> {
    Ok(anonymous_or(found, layer)?.ok())
}

#[cfg(any(feature = "axum", feature = "actix"))]
/// What a required extractor answers: the identity, or why not.
pub(crate) fn required<'a>(
    found: Found<'a, impl FnOnce() -> Option<&'a Anonymous>>,
    layer: &'static str,
) -> Result<Identity, IdentityRejection> {
    anonymous_or(found, layer)?
        .map_err(|a| IdentityRejection::Anonymous(a.rejection(Reason::MissingToken)))
}

#[cfg(any(feature = "axum", feature = "actix"))]
/// The identity, or the anonymous mark; the missing layer if neither is there.
fn anonymous_or<'a>(
    found: Found<'a, impl FnOnce() -> Option<&'a Anonymous>>,
    layer: &'static str,
) -> Result<Result<Identity, &'a Anonymous>, IdentityRejection> {
    if let Some(identity) = found.identity {
        return Ok(Ok(identity.clone()));
    }
    match (found.anonymous)() {
        Some(anonymous) => Ok(Err(anonymous)),
        None => {
            tracing::error!(
                layer,
                "an Identity extractor ran on a route without a layer"
            );
            Err(IdentityRejection::MissingLayer { layer })
        }
    }
}

/// The application's claims of an identity, as `T`.
#[cfg(all(feature = "jwt", any(feature = "axum", feature = "actix")))]
pub(crate) fn claims<T: serde::de::DeserializeOwned>(
    identity: &Identity,
) -> Result<super::Claims<T>, IdentityRejection> {
    match identity.claims::<T>() {
        Some(Ok(claims)) => Ok(super::Claims(claims)),
        // A session-mode identity: the route is wired to the wrong mode.
        None if matches!(identity.checked(), Some(Checked::Key(_))) => {
            tracing::error!("a Claims<T> extractor ran on a session-mode route");
            Err(IdentityRejection::NotJwt)
        }
        Some(Err(_)) | None => Err(IdentityRejection::BadClaims(
            identity.rejection(Reason::InvalidToken),
        )),
    }
}
