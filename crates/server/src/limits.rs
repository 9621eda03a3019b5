//! What keeps an overloaded server answering: a limit on the data requests
//! served at once (beyond it, 503 with `Retry-After` at once, not a queue),
//! a limit on the keys one request may carry, and a JSON body on the
//! errors axum answers itself, as on every other.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::Semaphore;

use crate::state::AppState;
use crate::{Error, Result};

/// The largest request body, axum's default made explicit so that the 413
/// can name it. A body this size holds hundreds of thousands of JSON keys,
/// far more than `max_keys_per_request` lets through.
pub const BODY_LIMIT: usize = 2 << 20;

/// The most of an axum plain-text error kept in its JSON body.
const MESSAGE_LIMIT: usize = 4096;

/// Permits for the data requests served at once.
pub struct InFlight {
    permits: Arc<Semaphore>,
    limit: usize,
}

impl InFlight {
    pub fn new(limit: usize) -> Self {
        let limit = limit.max(1);
        Self {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
        }
    }
}

/// Serves a data request only while fewer than `max_in_flight` are being
/// served, else answers 503 with `Retry-After` at once. An admitted
/// request keeps the latency of a server at its limit: a request beyond it
/// could only wait behind the others on the same workers (at 512
/// connections the p99 was 1.8 s), while a client told to retry may go to
/// another server.
pub async fn limit_in_flight(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let in_flight = &state.in_flight;
    match in_flight.permits.clone().try_acquire_owned() {
        // Handlers do their work without awaiting, so a worker serves each
        // request it reads to the end before reading the next: without
        // what follows every request would be admitted, however many wait
        // behind it (`bench serve`'s overload run: no 503s and a 24 s p99).
        Ok(_permit) if is_large(&request) && on_many_workers() => {
            // A large request gives its worker up (another takes the
            // worker's place) while it is served, so the workers keep
            // reading requests and refusing those beyond the limit. Its body
            // is read first: the connection's task, blocked here, is the one
            // that would read it.
            let (parts, body) = request.into_parts();
            let body = match axum::body::to_bytes(body, BODY_LIMIT).await {
                Ok(bytes) => bytes,
                Err(e) => {
                    return Error::BadRequest(format!("reading the request body: {e}"))
                        .into_response()
                }
            };
            let request = Request::from_parts(parts, Body::from(body));
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(next.run(request))
            })
        }
        Ok(_permit) => {
            // A small one yields once first: the worker reads the other
            // connections' requests, so that the limit sees them all.
            tokio::task::yield_now().await;
            next.run(request).await
        }
        Err(_) => Error::Overloaded {
            limit: in_flight.limit,
        }
        .into_response(),
    }
}

/// Bodies from this size (hundreds of keys) take long enough to serve that
/// handing the worker over costs little beside them; smaller ones keep
/// their worker, for the latency of one-key lookups. Bodies over
/// [`BODY_LIMIT`] go the usual way, to the usual 413.
const LARGE_BODY: u64 = 4096;

fn is_large(request: &Request) -> bool {
    request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .is_some_and(|length| (LARGE_BODY..=BODY_LIMIT as u64).contains(&length))
}

/// `block_in_place` needs a runtime with more than one worker thread.
fn on_many_workers() -> bool {
    tokio::runtime::Handle::current().runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
}

/// Refuses a request of more than `limit` keys (or pushed rows), naming both.
pub fn check_keys(count: usize, limit: usize) -> Result<()> {
    if count > limit {
        return Err(Error::TooManyKeys { count, limit });
    }
    Ok(())
}

/// Gives the error answers axum writes itself as plain text (413 for a
/// body over [`BODY_LIMIT`], 400 for a path it cannot decode, and any other)
/// the `{"error": "..."}` body of every other error, keeping their headers.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
        format!("the request body is larger than the limit of {BODY_LIMIT} bytes")
    } else {
        let text = axum::body::to_bytes(body, MESSAGE_LIMIT)
            .await
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&text).trim().to_string();
        if text.is_empty() {
            status.canonical_reason().unwrap_or("error").to_string()
        } else {
            text
        }
    };
    let body = json!({ "error": message }).to_string();
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_up_to_the_limit_pass_and_beyond_it_name_both_counts() {
        assert!(check_keys(100, 100).is_ok());
        let e = check_keys(101, 100).unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        let message = e.to_string();
        assert!(
            message.contains("101")
                && message.contains("100")
                && message.contains("max_keys_per_request"),
            "{message}"
        );
    }

    #[test]
    fn a_request_beyond_the_in_flight_limit_is_refused_until_a_permit_returns() {
        let in_flight = InFlight::new(0);
        assert_eq!(in_flight.limit, 1, "a limit of 0 would refuse everything");
        let held = in_flight.permits.clone().try_acquire_owned().unwrap();
        assert!(in_flight.permits.clone().try_acquire_owned().is_err());
        drop(held);
        assert!(in_flight.permits.clone().try_acquire_owned().is_ok());
    }
}
