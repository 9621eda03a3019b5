//! Arrow Flight and Flight SQL on a port of their own (`[server]
//! flight_port`, default 8815): the catalog as flights, feature-group rows,
//! training-dataset splits and batch features as `do_get` streams, a
//! point-in-time join of an uploaded spine as `do_exchange`, ingest as
//! `do_put`, and read-only SQL for ADBC, JDBC and BI tools. The same API keys
//! as HTTP, sent as call metadata; errors are gRPC codes with one line.

mod actions;
mod answers;
mod service;
mod sql;
mod tickets;

use std::net::SocketAddr;
use std::sync::Arc;

use arrow_flight::flight_service_server::FlightServiceServer;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;
use tonic::Status;

use crate::auth::Scope;
use crate::state::AppState;
use crate::Error;

pub use tickets::{BatchFeatures, Command, DatasetSplit, GroupRows, Ticket};

/// The largest message a client may send (one `do_put` or `do_exchange`
/// batch): tonic's default of 4 MiB would refuse a DataFrame of a few
/// hundred thousand rows sent as one batch.
const MAX_MESSAGE_BYTES: usize = 256 << 20;

/// The Flight service: the server's state, and the Flight SQL half it hands SQL calls to.
#[derive(Clone)]
pub struct SluiceFlight {
    state: Arc<AppState>,
    sql: sql::SqlService,
    /// Where the HTTP routes listen, for clients that want predictions.
    http: SocketAddr,
}

/// Binds `addr` (port 0 picks a free one) and serves Flight until `stopped` turns true.
pub(crate) async fn start(
    state: Arc<AppState>,
    addr: SocketAddr,
    http: SocketAddr,
    mut stopped: watch::Receiver<bool>,
) -> crate::Result<(SocketAddr, JoinHandle<crate::Result<()>>)> {
    let incoming = TcpIncoming::bind(addr)
        .map_err(|e| Error::Internal(format!("cannot listen for Flight on {addr}: {e}")))?
        .with_nodelay(Some(true));
    let bound = incoming
        .local_addr()
        .map_err(|e| Error::Internal(format!("cannot read the Flight address: {e}")))?;
    let service = SluiceFlight {
        sql: sql::SqlService::new(state.clone()),
        state,
        http,
    };
    let server = FlightServiceServer::new(service)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(usize::MAX);
    let task = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(server)
            .serve_with_incoming_shutdown(incoming, async move {
                while !*stopped.borrow() {
                    if stopped.changed().await.is_err() {
                        return;
                    }
                }
            })
            .await
            .map_err(|e| Error::Internal(format!("the Flight server failed: {e}")))
    });
    Ok((bound, task))
}

impl SluiceFlight {
    /// The call's API key (`authorization: Bearer K` or `x-api-key: K`) must hold `scope`.
    fn authorize<T>(&self, request: &tonic::Request<T>, scope: Scope) -> Result<(), Status> {
        self.state
            .auth
            .check(request.metadata().as_ref(), scope)
            .map_err(status)
    }
}

/// The gRPC status of an error: the code its kind maps to (401/403 become
/// UNAUTHENTICATED/PERMISSION_DENIED) and its one-line message; an
/// internal fault's detail goes to the log under an id the client is given.
pub(crate) fn status(error: Error) -> Status {
    use sluice_types::ErrorKind;
    match &error {
        Error::MissingKey | Error::InvalidKey => return Status::unauthenticated(error.to_string()),
        Error::Forbidden { .. } => return Status::permission_denied(error.to_string()),
        _ => {}
    }
    let message = error.to_string();
    match error.kind() {
        ErrorKind::InvalidInput => Status::invalid_argument(message),
        ErrorKind::NotFound => Status::not_found(message),
        ErrorKind::AlreadyExists => Status::already_exists(message),
        ErrorKind::Conflict => Status::aborted(message),
        ErrorKind::Unavailable => Status::unavailable(message),
        ErrorKind::Internal => {
            let request_id = uuid::Uuid::new_v4().to_string();
            tracing::error!(request_id = %request_id, "flight: {message}");
            Status::internal(format!(
                "the server could not answer; its log has the details under request id {request_id}"
            ))
        }
    }
}

/// A featurestore error as a gRPC status.
pub(crate) fn store_status(error: sluice_featurestore::Error) -> Status {
    status(Error::from(error))
}
