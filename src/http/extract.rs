//! What the `Identity` extractors of both frameworks answer.

use super::{Anonymous, IdentityRejection};
use crate::identity::Identity;
use crate::rejection::{Reason, Rejection};

/// What an extractor finds: the identity the layer put in, `None` for an anonymous
/// request the layer let through, or the missing layer.
pub(crate) fn identity(
    identity: Option<&Identity>,
    anonymous: Option<&Anonymous>,
    layer: &'static str,
) -> Result<Option<Identity>, IdentityRejection> {
    match (identity, anonymous) {
        (Some(identity), _) => Ok(Some(identity.clone())),
        (None, Some(_)) => Ok(None),
        (None, None) => {
            tracing::error!(
                layer,
                "an Identity extractor ran on a route without a layer"
            );
            Err(IdentityRejection::MissingLayer { layer })
        }
    }
}

/// What a required extractor answers: the identity, or why not.
pub(crate) fn required(
    identity: Option<&Identity>,
    anonymous: Option<&Anonymous>,
    layer: &'static str,
) -> Result<Identity, IdentityRejection> {
    match self::identity(identity, anonymous, layer)? {
        Some(identity) => Ok(identity),
        None => Err(IdentityRejection::Anonymous(anonymous.map_or_else(
            || Rejection::new(Reason::MissingToken),
            |a| a.rejection(Reason::MissingToken),
        ))),
    }
}

/// The application's claims of an identity, as `T`.
#[cfg(feature = "jwt")]
pub(crate) fn claims<T: serde::de::DeserializeOwned>(
    identity: &Identity,
) -> Result<super::Claims<T>, IdentityRejection> {
    match identity.claims::<T>() {
        Some(Ok(claims)) => Ok(super::Claims(claims)),
        Some(Err(_)) | None => Err(IdentityRejection::BadClaims(Rejection::new(
            Reason::InvalidToken,
        ))),
    }
}
