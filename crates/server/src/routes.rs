//! The route table, with auth per scope, metrics on every route, the
//! in-flight limit on the data routes and a JSON body on every error.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::header::{CONTENT_TYPE, VARY};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::auth::Scope;
use crate::metrics_format::MetricsFormat;
use crate::state::AppState;
use crate::{kserve, limits, push, vectors, Error};

// The route templates, named once: the router matches them, and the
// metrics label each request with the one it matched without copying it.
const HEALTH: &str = "/health";
const METRICS: &str = "/metrics";
const SERVER: &str = "/v2";
const LIVE: &str = "/v2/health/live";
const READY: &str = "/v2/health/ready";
const MODEL: &str = "/v2/models/{name}";
const MODEL_READY: &str = "/v2/models/{name}/ready";
const INFER: &str = "/v2/models/{name}/infer";
const VERSION: &str = "/v2/models/{name}/versions/{version}";
const VERSION_READY: &str = "/v2/models/{name}/versions/{version}/ready";
const VERSION_INFER: &str = "/v2/models/{name}/versions/{version}/infer";
const VECTORS: &str = "/v1/feature-views/{name}/{version}/vectors";
const PUSH: &str = "/v1/feature-groups/{name}/{version}/rows";
const ROUTES: [&str; 13] = [
    HEALTH,
    METRICS,
    SERVER,
    LIVE,
    READY,
    MODEL,
    MODEL_READY,
    INFER,
    VERSION,
    VERSION_READY,
    VERSION_INFER,
    VECTORS,
    PUSH,
];

pub fn router(state: Arc<AppState>) -> Router {
    let open = Router::new()
        .route(HEALTH, get(health))
        .route(METRICS, get(metrics))
        .route(SERVER, get(kserve::server_metadata))
        .route(LIVE, get(kserve::live))
        .route(READY, get(kserve::ready));
    // The data routes (a route layer wraps the routes added before it) are
    // limited in flight inside the API key check: a request without a
    // valid key is told so, not to retry.
    let read = Router::new()
        .route(INFER, post(kserve::infer))
        .route(VERSION_INFER, post(kserve::version_infer))
        .route(VECTORS, post(vectors::vectors))
        .route_layer(from_fn_with_state(state.clone(), limits::limit_in_flight))
        .route(MODEL, get(kserve::metadata))
        .route(MODEL_READY, get(kserve::model_ready))
        .route(VERSION, get(kserve::version_metadata))
        .route(VERSION_READY, get(kserve::version_ready))
        .route_layer(from_fn_with_state(
            (state.clone(), Scope::Read),
            require_scope,
        ));
    let write = Router::new()
        .route(PUSH, post(push::push))
        .route_layer(from_fn_with_state(state.clone(), limits::limit_in_flight))
        .route_layer(from_fn_with_state(
            (state.clone(), Scope::Write),
            require_scope,
        ));
    open.merge(read)
        .merge(write)
        .route_layer(from_fn_with_state(state.clone(), track))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(DefaultBodyLimit::max(limits::BODY_LIMIT))
        .layer(axum::middleware::from_fn(limits::json_errors))
}

/// 200 while the server serves and logs its predictions; 503 while the
/// prediction log writer is down (its last commit failed, or it stopped),
/// so that predictions going unlogged do not go unnoticed.
async fn health(State(state): State<Arc<AppState>>) -> Response {
    let models = state.models().served().count();
    match state.log.writer_down() {
        None => Json(json!({ "status": "ok", "models": models, "prediction_log": "up" }))
            .into_response(),
        Some(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "degraded",
                "models": models,
                "prediction_log": "down",
                "error": format!("the prediction log writer is down: {why}"),
            })),
        )
            .into_response(),
    }
}

/// The metrics in the exposition format the scraper asks for; `Vary` keeps
/// a cache between them from answering one format's request with the other.
async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let format = MetricsFormat::negotiate(&headers);
    // Monitors run elsewhere (cron, pipelines); each scrape reads their latest results.
    match state.store.latest_monitor_runs().await {
        Ok(runs) => state.metrics.drift(&runs),
        Err(e) => tracing::warn!("drift gauges not refreshed: {e}"),
    }
    (
        [(CONTENT_TYPE, format.content_type()), (VARY, "Accept")],
        state.metrics.render(format),
    )
        .into_response()
}

async fn not_found(request: Request) -> Response {
    Error::NotFound(format!(
        "no route for {} {}",
        request.method(),
        request.uri().path()
    ))
    .into_response()
}

async fn method_not_allowed(request: Request) -> Response {
    Error::Http {
        status: StatusCode::METHOD_NOT_ALLOWED,
        message: format!(
            "{} is not allowed on {}",
            request.method(),
            request.uri().path()
        ),
    }
    .into_response()
}

async fn require_scope(
    State((state, scope)): State<(Arc<AppState>, Scope)>,
    request: Request,
    next: Next,
) -> Response {
    match state.auth.check(request.headers(), scope) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

/// Counts and times every routed request, labelled by route template and
/// (for served models only, to bound label cardinality) model name.
async fn track(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let route = match request.extensions().get::<MatchedPath>() {
        Some(matched) => match ROUTES.into_iter().find(|route| *route == matched.as_str()) {
            Some(route) => Cow::Borrowed(route),
            // A route added to the router but not to ROUTES still gets its own label.
            None => Cow::Owned(matched.as_str().to_string()),
        },
        None => Cow::Borrowed("unmatched"),
    };
    let model = request
        .uri()
        .path()
        .strip_prefix("/v2/models/")
        .and_then(|rest| rest.split('/').next())
        .filter(|name| state.models().versions.contains_key(*name))
        .unwrap_or("")
        .to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    state
        .metrics
        .observe(route, &model, response.status().as_u16(), started.elapsed());
    response
}
