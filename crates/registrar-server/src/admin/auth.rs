//! Who may use the admin API: bearer tokens with the admin scope — a static token of `[http] admin_tokens`,
//! or a directory token (`registrar token --admin`, HS256 or EdDSA with the `[directory]` keys) whose scope
//! holds `admin`. Without any of those keys configured the admin API stays open (and `registrar serve` then
//! refuses a non-loopback `http.listen` unless `http.allow_unauthenticated` is set).

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::{ApiError, AppState};
use crate::directory::jwt::{Keys, verify};

/// The admin API's credentials.
pub(crate) struct AdminAuth {
    tokens: Vec<Vec<u8>>,
    keys: Keys,
    /// Whether `/metrics` needs a token too.
    pub(crate) metrics: bool,
}

impl AdminAuth {
    /// Static `tokens` and the directory's `keys`; `metrics`: whether `/metrics` is protected as well.
    pub(crate) fn new(tokens: &[String], keys: Keys, metrics: bool) -> Self {
        Self {
            tokens: tokens.iter().map(|t| t.as_bytes().to_vec()).collect(),
            keys,
            metrics,
        }
    }

    /// Whether any credential is configured (then every admin route requires one).
    pub(crate) fn enforced(&self) -> bool {
        !self.tokens.is_empty() || self.keys.any()
    }

    /// Whether the request's `Authorization: Bearer` carries an admin credential: `Ok`, or the answer (401
    /// without a valid token, 403 with a valid token lacking the admin scope).
    fn check(&self, headers: &HeaderMap) -> Result<(), Denied> {
        if !self.enforced() {
            return Ok(());
        }
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            });
        let Some(token) = token else {
            return Err(Denied::Unauthorized("an admin bearer token is required"));
        };
        let presented = token.as_bytes();
        // Every static token is compared, in constant time, whatever matched before.
        let mut matched = 0u8;
        for t in &self.tokens {
            matched |=
                u8::from(t.len() == presented.len() && bool::from(t.as_slice().ct_eq(presented)));
        }
        if matched == 1 {
            return Ok(());
        }
        if !self.keys.any() {
            return Err(Denied::Unauthorized(
                "the bearer token is not an admin token",
            ));
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        match verify(token, &self.keys, now) {
            Ok(c) if c.admin => Ok(()),
            Ok(_) => Err(Denied::Forbidden),
            Err(why) => Err(Denied::Unauthorized(why)),
        }
    }
}

/// Why a request is refused.
enum Denied {
    /// No valid token (401).
    Unauthorized(&'static str),
    /// A valid token without the admin scope (403).
    Forbidden,
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        match self {
            Self::Unauthorized(message) => {
                let mut r = ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    axum::http::HeaderValue::from_static("Bearer realm=\"registrar admin\""),
                );
                r
            }
            Self::Forbidden => ApiError::new(
                StatusCode::FORBIDDEN,
                "the token has no admin scope (registrar token --admin)",
            )
            .into_response(),
        }
    }
}

/// The middleware in front of every admin route.
pub(super) async fn require_admin(State(s): State<AppState>, req: Request, next: Next) -> Response {
    match s.auth.check(req.headers()) {
        Ok(()) => next.run(req).await,
        Err(d) => d.into_response(),
    }
}

/// The middleware in front of `/metrics`: protected only with `http.metrics_require_token`.
pub(super) async fn require_admin_for_metrics(
    State(s): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    if !s.auth.metrics {
        return next.run(req).await;
    }
    match s.auth.check(req.headers()) {
        Ok(()) => next.run(req).await,
        Err(d) => d.into_response(),
    }
}
