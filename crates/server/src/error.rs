//! Errors as HTTP answers: a status and a JSON body `{"error": "..."}` naming the problem.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// What `Retry-After` tells a client turned away by the in-flight limit: a
/// request takes milliseconds, so a second later the server has room again
/// unless it is overloaded for longer.
pub const RETRY_AFTER_SECONDS: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    BadRequest(String),

    #[error("{0}")]
    NotFound(String),

    /// A well-formed request the model cannot answer (missing feature values).
    #[error("{0}")]
    Unprocessable(String),

    #[error("no API key: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'")]
    MissingKey,

    #[error("the API key is not valid")]
    InvalidKey,

    #[error("the API key lacks the '{scope}' scope")]
    Forbidden { scope: &'static str },

    /// More keys (or pushed rows) in one request than `[server] max_keys_per_request`.
    #[error(
        "the request has {count} keys (rows); at most {limit} are taken in one request ([server] max_keys_per_request): split it"
    )]
    TooManyKeys { count: usize, limit: usize },

    /// `[server] max_in_flight` data requests are being served: answered at
    /// once, with `Retry-After`, rather than queued behind them.
    #[error(
        "the server is serving its limit of {limit} requests ([server] max_in_flight); retry after {RETRY_AFTER_SECONDS} s"
    )]
    Overloaded { limit: usize },

    /// An answer axum gives itself (413 for a body over the limit, 400 for
    /// a path it cannot decode), its plain text made JSON.
    #[error("{message}")]
    Http { status: StatusCode, message: String },

    #[error("server configuration: {0}")]
    Config(String),

    #[error("{0}")]
    Internal(String),

    /// Boxed: these are large and rare on the request path.
    #[error(transparent)]
    Store(Box<sluice_featurestore::Error>),

    #[error(transparent)]
    Pipeline(Box<sluice_pipelines::Error>),
}

impl Error {
    /// A failed lookup of a named object: an unknown name or version is a 404.
    pub fn from_lookup(e: sluice_featurestore::Error) -> Self {
        match e {
            sluice_featurestore::Error::Catalog(c) if c.is_user_error() => {
                Error::NotFound(c.to_string())
            }
            other => other.into(),
        }
    }
}

impl From<sluice_featurestore::Error> for Error {
    fn from(e: sluice_featurestore::Error) -> Self {
        Error::Store(Box::new(e))
    }
}

impl From<sluice_pipelines::Error> for Error {
    fn from(e: sluice_pipelines::Error) -> Self {
        Error::Pipeline(Box::new(e))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn status(&self) -> StatusCode {
        match self {
            Error::BadRequest(_) | Error::TooManyKeys { .. } => StatusCode::BAD_REQUEST,
            Error::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::Http { status, .. } => *status,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::MissingKey | Error::InvalidKey => StatusCode::UNAUTHORIZED,
            Error::Forbidden { .. } => StatusCode::FORBIDDEN,
            Error::Config(_) | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Error::Store(e) if e.is_user_error() => StatusCode::BAD_REQUEST,
            Error::Pipeline(e) if e.is_user_error() => StatusCode::BAD_REQUEST,
            Error::Store(_) | Error::Pipeline(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = axum::Json(json!({ "error": self.to_string() }));
        // Shedding load is the server working as configured; logging every
        // refusal would add work exactly when there is too much.
        if let Error::Overloaded { .. } = self {
            let retry = [(axum::http::header::RETRY_AFTER, RETRY_AFTER_SECONDS)];
            return (status, retry, body).into_response();
        }
        if status.is_server_error() {
            tracing::error!("{self}");
        }
        (status, body).into_response()
    }
}
