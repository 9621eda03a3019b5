//! Errors as HTTP answers: a status and a JSON body `{"error": "..."}` naming the problem.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sluice_types::ErrorKind;

/// What `Retry-After` tells a client turned away by the in-flight limit: a
/// request takes milliseconds, so a second later the server has room again
/// unless it is overloaded for longer.
pub const RETRY_AFTER_SECONDS: u32 = 1;

/// Why a request, or the server's start, failed; answered as an HTTP status
/// and a JSON body `{"error": "..."}`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A malformed request: its body, inputs, shapes, datatypes, keys or
    /// values; the text says which.
    #[error("{0}")]
    BadRequest(String),

    /// No route for the path, or a model or model version the server does not serve.
    #[error("{0}")]
    NotFound(String),

    /// A well-formed request the model cannot answer (missing feature values).
    #[error("{0}")]
    Unprocessable(String),

    /// API keys are configured and the request carries none (401).
    #[error("no API key: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'")]
    MissingKey,

    /// The request's API key is not a configured one (401).
    #[error("the API key is not valid")]
    InvalidKey,

    /// The request's API key is valid but lacks the scope its route needs (403).
    #[error("the API key lacks the '{scope}' scope")]
    Forbidden {
        /// The scope needed: `read` or `write`.
        scope: &'static str,
    },

    /// More keys (or pushed rows) in one request than `[server] max_keys_per_request`.
    #[error(
        "the request has {count} keys (rows); at most {limit} are taken in one request ([server] max_keys_per_request): split it"
    )]
    TooManyKeys {
        /// Keys (or rows) in the request.
        count: usize,
        /// The configured maximum.
        limit: usize,
    },

    /// `[server] max_in_flight` data requests are being served: answered at
    /// once, with `Retry-After`, rather than queued behind them.
    #[error(
        "the server is serving its limit of {limit} requests ([server] max_in_flight); retry after {RETRY_AFTER_SECONDS} s"
    )]
    Overloaded {
        /// The limit in force (`max_in_flight`, at least 1).
        limit: usize,
    },

    /// An answer with a status no other variant gives (405 for a method a
    /// route does not take). Axum's own plain-text answers (413, a path it
    /// cannot decode) are not these: `limits::json_errors` rewrites them.
    #[error("{message}")]
    Http {
        /// The status to answer with.
        status: StatusCode,
        /// The body's `error` text.
        message: String,
    },

    /// A `[server]` setting cannot be used: a duration, an API key (or the
    /// environment variable it names) or its scopes, a model to serve.
    /// Found at start; met in a request, it answers 500.
    #[error("server configuration: {0}")]
    Config(String),

    /// A fault of the server itself: it cannot listen, a task of its failed,
    /// an answer or a prediction-log batch could not be built.
    #[error("{0}")]
    Internal(String),

    /// The feature store failed or refused. Boxed: these are large and
    /// rare on the request path.
    #[error(transparent)]
    Store(Box<sluice_featurestore::Error>),

    /// Loading or resolving a model to serve failed. Boxed, as `Store`.
    #[error(transparent)]
    Pipeline(Box<sluice_pipelines::Error>),
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

/// A result whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// What kind of failure this is; the HTTP status follows from it,
    /// except for the answers only HTTP has (authentication, 422, `Http`'s own status).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::BadRequest(_)
            | Error::TooManyKeys { .. }
            | Error::Unprocessable(_)
            | Error::MissingKey
            | Error::InvalidKey
            | Error::Forbidden { .. }
            | Error::Config(_) => ErrorKind::InvalidInput,
            Error::Http { status, .. } if status.is_server_error() => ErrorKind::Internal,
            Error::Http { .. } => ErrorKind::InvalidInput,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Overloaded { .. } => ErrorKind::Unavailable,
            Error::Internal(_) => ErrorKind::Internal,
            Error::Store(e) => e.kind(),
            Error::Pipeline(e) => e.kind(),
        }
    }

    /// The HTTP status to answer with: [`http_status`] of the kind, but 401
    /// and 403 for keys, 422, an `Http` error's own status, and 500 for a
    /// setting met in a request.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Http { status, .. } => *status,
            Error::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::MissingKey | Error::InvalidKey => StatusCode::UNAUTHORIZED,
            Error::Forbidden { .. } => StatusCode::FORBIDDEN,
            // A server that starts with a bad setting answers no request;
            // reached in a request, the setting is the server's fault.
            Error::Config(_) => StatusCode::INTERNAL_SERVER_ERROR,
            other => http_status(other.kind()),
        }
    }
}

/// The one mapping from a kind of failure to an HTTP status.
pub fn http_status(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::AlreadyExists | ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        // Shedding load is the server working as configured; logging every
        // refusal would add work exactly when there is too much.
        if let Error::Overloaded { .. } = self {
            let body = axum::Json(json!({ "error": self.to_string() }));
            let retry = [(axum::http::header::RETRY_AFTER, RETRY_AFTER_SECONDS)];
            return (status, retry, body).into_response();
        }
        if status.is_server_error() {
            // The detail names files, hosts and internals a client has no
            // business seeing; the log keeps it under an id the client can quote.
            let request_id = uuid::Uuid::new_v4().to_string();
            tracing::error!(request_id = %request_id, "{self}");
            let body = axum::Json(json!({
                "error": format!(
                    "the server could not answer ({}); its log has the details under request id {request_id}",
                    status.canonical_reason().unwrap_or("server error").to_lowercase()
                ),
                "request_id": request_id,
            }));
            return (status, [("x-request-id", request_id.clone())], body).into_response();
        }
        (status, axum::Json(json!({ "error": self.to_string() }))).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answer(error: Error) -> (StatusCode, Option<String>, serde_json::Value) {
        let response = error.into_response();
        let status = response.status();
        let header = response
            .headers()
            .get("x-request-id")
            .map(|v| v.to_str().unwrap().to_string());
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, header, serde_json::from_slice(&body).unwrap())
    }

    #[tokio::test]
    async fn a_500_answers_a_request_id_and_keeps_the_detail_in_the_log() {
        let detail = "cannot open /srv/secret/catalog.db: disk I/O error";
        let (status, header, body) = answer(Error::Internal(detail.into())).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        let text = body["error"].as_str().unwrap();
        assert!(!text.contains("/srv/secret"), "{text}");
        let id = body["request_id"].as_str().unwrap();
        assert_eq!(header.as_deref(), Some(id));
        assert!(text.contains(id), "{text}");
    }

    #[tokio::test]
    async fn a_client_error_keeps_its_message() {
        let (status, header, body) = answer(Error::BadRequest("no 'inputs'".into())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(header, None);
        assert_eq!(body["error"], "no 'inputs'");
    }

    /// A store error's status follows its kind, through the one map.
    #[test]
    fn store_errors_take_the_status_of_their_kind() {
        let cases = [
            (
                sluice_featurestore::Error::NotOnline {
                    feature_group: "tx".into(),
                },
                StatusCode::BAD_REQUEST,
            ),
            (
                sluice_featurestore::Error::FileNotFound {
                    path: "x.csv".into(),
                },
                StatusCode::NOT_FOUND,
            ),
            (
                sluice_featurestore::Error::IncompatibleChange {
                    kind: "feature group",
                    name: "tx".into(),
                    fields: "columns".into(),
                },
                StatusCode::CONFLICT,
            ),
            (
                sluice_featurestore::Error::Write {
                    path: "td".into(),
                    message: "disk full".into(),
                },
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ];
        for (error, expected) in cases {
            let error = Error::from(error);
            assert_eq!(error.status(), expected, "{error}");
            assert_eq!(error.status(), http_status(error.kind()));
        }
    }
}
