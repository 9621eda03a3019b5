//! The route table, with auth per scope and metrics on every route.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::auth::Scope;
use crate::state::AppState;
use crate::{kserve, push, vectors, Error};

pub fn router(state: Arc<AppState>) -> Router {
    let open = Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/v2", get(kserve::server_metadata))
        .route("/v2/health/live", get(kserve::live))
        .route("/v2/health/ready", get(kserve::ready));
    let read = Router::new()
        .route("/v2/models/{name}", get(kserve::metadata))
        .route("/v2/models/{name}/ready", get(kserve::model_ready))
        .route("/v2/models/{name}/infer", post(kserve::infer))
        .route(
            "/v2/models/{name}/versions/{version}",
            get(kserve::version_metadata),
        )
        .route(
            "/v2/models/{name}/versions/{version}/ready",
            get(kserve::version_ready),
        )
        .route(
            "/v2/models/{name}/versions/{version}/infer",
            post(kserve::version_infer),
        )
        .route(
            "/v1/feature-views/{name}/{version}/vectors",
            post(vectors::vectors),
        )
        .route_layer(from_fn_with_state(
            (state.clone(), Scope::Read),
            require_scope,
        ));
    let write = Router::new()
        .route("/v1/feature-groups/{name}/{version}/rows", post(push::push))
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
}

async fn health(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    Json(json!({ "status": "ok", "models": state.models().served().count() }))
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
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
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(json!({ "error": format!("{} is not allowed on {}", request.method(), request.uri().path()) })),
    )
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
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
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
    state.metrics.observe(
        &route,
        &model,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}
