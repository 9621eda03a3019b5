//! The online server (`sluice serve`): feature vectors from the online
//! store, predictions over the Open Inference Protocol (KServe v2 REST),
//! pushed rows, prediction logging, Prometheus metrics and API keys; and,
//! on a port of its own, Arrow Flight and Flight SQL (the catalog, rows,
//! training data, batch features, ingest and read-only SQL).
//!
//! This crate owns HTTP and Flight: routes, RPCs, request parsing, status codes, auth and
//! metrics. It reads and writes data only through `sluice-featurestore`
//! and predicts only through `sluice-pipelines`' `ServingModel`, so online
//! predictions use the same transformations and estimator as batch ones;
//! it must not open a backend or compute a feature itself.

mod auth;
mod binary_tensors;
mod error;
mod flight;
mod json_values;
mod kserve;
mod limits;
mod log_commits;
mod log_queue;
mod lookup;
mod metrics;
mod metrics_format;
mod prediction_log;
mod push;
mod request;
mod routes;
pub mod runtime;
mod state;
mod vectors;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use sluice_featurestore::FeatureStore;
use sluice_types::config::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use error::{http_status, Error, Result};
pub use flight::{BatchFeatures, Command as FlightCommand, DatasetSplit, GroupRows, Ticket};
pub use kserve::{parse_infer_body, parse_infer_request, InferRequest};
pub use request::{RequestColumn, RequestValues};

/// A running server: where it listens, and how to stop it.
pub struct RunningServer {
    /// The address it listens on, with the port the system chose when 0 was asked for.
    pub addr: SocketAddr,
    /// Where Flight and Flight SQL listen, when they were asked for.
    pub flight_addr: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<()>>,
    /// Printed at start-up: what is served and whether the routes are open.
    pub banner: Vec<String>,
}

impl RunningServer {
    /// Stops accepting requests, finishes those in flight, commits the
    /// prediction log and returns.
    pub async fn stop(self) -> Result<()> {
        let _ = self.stop.send(true);
        self.task
            .await
            .map_err(|e| Error::Internal(format!("the server task failed: {e}")))?
    }

    /// Waits until the server ends on its own (it does not, unless it fails) or `signal` resolves.
    pub async fn run_until(self, signal: impl std::future::Future<Output = ()>) -> Result<()> {
        signal.await;
        self.stop().await
    }
}

/// Binds `addr` for HTTP and, when given, `flight` for Arrow Flight (port 0
/// picks a free one), loads the models to serve and starts serving.
pub async fn start(
    store: Arc<FeatureStore>,
    config: ServerConfig,
    addr: SocketAddr,
    flight: Option<SocketAddr>,
) -> Result<RunningServer> {
    let refresh = parse_duration("server.refresh", &config.refresh)?;
    let flush = parse_duration("server.log_flush", &config.log_flush)?;
    let auth = auth::ApiKeys::from_config(&config.api_keys)?;
    let (stop, stopped) = watch::channel(false);
    let (log, log_task) = prediction_log::PredictionLog::start(
        store.clone(),
        config.log_queue,
        flush,
        stopped.clone(),
    );
    let state = Arc::new(state::AppState::new(store, config, auth, log).await?);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Internal(format!("cannot listen on {addr}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Internal(format!("cannot read the listening address: {e}")))?;
    // Without TCP_NODELAY a response written in more than one segment waits
    // for the client's ACK of the first (Nagle's algorithm).
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("could not set TCP_NODELAY on a connection: {e}");
        }
    });
    let mut banner = state.banner(addr);
    let (flight_addr, flight_task) = match flight {
        Some(flight) => {
            let (bound, task) = flight::start(state.clone(), flight, addr, stopped.clone()).await?;
            banner.insert(
                1,
                format!("flight and flight sql listening on grpc://{bound}"),
            );
            (Some(bound), Some(task))
        }
        None => (None, None),
    };
    let refresher = tokio::spawn(state::refresh_loop(state.clone(), refresh, stopped.clone()));
    let app = routes::router(state.clone());
    let mut shutdown = stopped;
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stopped_signal(&mut shutdown).await })
            .await
            .map_err(|e| Error::Internal(format!("the server failed: {e}")));
        refresher.abort();
        // The Flight service holds the state too; the log ends once no one does.
        let flight_served = match flight_task {
            Some(task) => task
                .await
                .map_err(|e| Error::Internal(format!("the Flight task failed: {e}")))
                .and_then(|served| served),
            None => Ok(()),
        };
        drop(state);
        log_task
            .await
            .map_err(|e| Error::Internal(format!("the prediction log task failed: {e}")))?;
        served.and(flight_served)
    });
    Ok(RunningServer {
        addr,
        flight_addr,
        stop,
        task,
        banner,
    })
}

/// Resolves once the stop flag turns true (or its sender is gone).
pub(crate) async fn stopped_signal(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

fn parse_duration(setting: &str, text: &str) -> Result<Duration> {
    humantime::parse_duration(text)
        .map_err(|e| Error::Config(format!("{setting} = '{text}' is not a duration: {e}")))
}
