//! The Flight RPCs. JSON tickets, descriptors and commands are Sluice's
//! own; anything else is a Flight SQL message and goes to the SQL service.

use std::pin::Pin;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::ipc::writer::IpcWriteOptions;
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_descriptor::DescriptorType;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::{
    Action, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightEndpoint, FlightInfo,
    HandshakeRequest, HandshakeResponse, PollInfo, PutResult, SchemaAsIpc, SchemaResult, Ticket,
};
use futures::stream::{self, BoxStream, Stream, StreamExt, TryStreamExt};
use tonic::{Request, Response, Status, Streaming};

use super::answers::{self, Rows};
use super::tickets::{self, Command, DatasetSplit, GroupRows};
use super::{actions, status, store_status, SluiceFlight};
use crate::auth::Scope;
use crate::Error;

type Answer<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Encodes batches as Flight data, the schema first even when no batch follows.
fn encode(schema: SchemaRef, rows: Rows) -> Answer<FlightData> {
    let batches = rows.map_err(|s| FlightError::Tonic(Box::new(s)));
    FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .build(batches)
        .map_err(|e| match e {
            FlightError::Tonic(status) => *status,
            other => Status::internal(other.to_string()),
        })
        .boxed()
}

/// The first message of a client stream, which carries the descriptor,
/// and the stream's batches (that message included).
async fn opened(
    request: Request<Streaming<FlightData>>,
) -> Result<
    (
        FlightDescriptor,
        BoxStream<'static, Result<RecordBatch, FlightError>>,
    ),
    Status,
> {
    let mut messages = request.into_inner();
    let first = messages
        .message()
        .await?
        .ok_or_else(|| Status::invalid_argument("the call sent no messages"))?;
    let descriptor = first
        .flight_descriptor
        .clone()
        .ok_or_else(|| Status::invalid_argument("the first message has no flight descriptor"))?;
    // Arrow C++ clients (pyarrow) may open with a message that carries only
    // the descriptor, the schema following in the next; it holds no data.
    let leading = (!first.data_header.is_empty()).then_some(Ok(first));
    let all = stream::iter(leading)
        .chain(messages)
        .map_err(|s| FlightError::Tonic(Box::new(s)));
    let batches = FlightRecordBatchStream::new_from_flight_data(all).boxed();
    Ok((descriptor, batches))
}

/// Every batch of an upload; a decoding failure names the batch it met.
async fn collect(
    mut batches: BoxStream<'static, Result<RecordBatch, FlightError>>,
) -> Result<Vec<RecordBatch>, Status> {
    let mut all = Vec::new();
    while let Some(batch) = batches.next().await {
        match batch {
            Ok(batch) => all.push(batch),
            Err(FlightError::Tonic(status)) => return Err(*status),
            Err(e) => {
                return Err(Status::invalid_argument(format!(
                    "batch {}: cannot decode it: {e}",
                    all.len() + 1
                )))
            }
        }
    }
    Ok(all)
}

/// The command in a `do_put`/`do_exchange` descriptor.
fn command(descriptor: &FlightDescriptor) -> Result<Command, Status> {
    if descriptor.r#type() != DescriptorType::Cmd {
        return Err(Status::invalid_argument(
            "the descriptor must be a command: {\"insert\": {...}} or {\"features\": {...}}",
        ));
    }
    tickets::parse_command(&descriptor.cmd).map_err(status)
}

/// A descriptor's ticket: a JSON ticket as the command, or a path
/// `[NAME]` (a feature group) or `[VIEW, VERSION, SPLIT]` (a training dataset).
fn descriptor_ticket(descriptor: &FlightDescriptor) -> Result<tickets::Ticket, Status> {
    if descriptor.r#type() == DescriptorType::Cmd {
        return tickets::parse_ticket(&descriptor.cmd).map_err(status);
    }
    match descriptor.path.as_slice() {
        [group] => Ok(tickets::Ticket::FeatureGroup(GroupRows {
            name: group.clone(),
            as_of: None,
            commit: None,
            columns: None,
            keys: None,
            limit: None,
        })),
        [view, version, split] => Ok(tickets::Ticket::TrainingDataset(DatasetSplit {
            feature_view: view.clone(),
            version: version.parse().map_err(|_| {
                Status::invalid_argument(format!("'{version}' is not a training dataset number"))
            })?,
            split: split.clone(),
        })),
        other => Err(Status::invalid_argument(format!(
            "a path descriptor is [FEATURE_GROUP] or [FEATURE_VIEW, DATASET, SPLIT], not {other:?}"
        ))),
    }
}

impl SluiceFlight {
    /// What `get_flight_info` and `list_flights` answer for one ticket.
    async fn info(
        &self,
        ticket: &tickets::Ticket,
        descriptor: FlightDescriptor,
    ) -> Result<FlightInfo, Status> {
        let schema = answers::ticket_schema(&self.state.store, ticket).await?;
        let bytes = serde_json::to_vec(ticket)
            .map_err(|e| status(Error::Internal(format!("cannot encode a ticket: {e}"))))?;
        let total = answers::ticket_rows_total(&self.state.store, ticket)
            .await
            .map_or(-1, |rows| rows as i64);
        FlightInfo::new()
            .try_with_schema(&schema)
            .map_err(|e| status(Error::Internal(format!("cannot encode a schema: {e}"))))
            .map(|info| {
                info.with_endpoint(FlightEndpoint::new().with_ticket(Ticket::new(bytes)))
                    .with_descriptor(descriptor)
                    .with_total_records(total)
            })
    }

    /// Every feature group version, feature view version and training dataset split.
    async fn catalog_tickets(&self) -> Result<Vec<tickets::Ticket>, Status> {
        let store = &self.state.store;
        let mut all = Vec::new();
        for record in store.feature_groups().await.map_err(store_status)? {
            all.push(tickets::Ticket::FeatureGroup(GroupRows {
                name: format!("{}:{}", record.spec.name, record.spec.version),
                as_of: None,
                commit: None,
                columns: None,
                keys: None,
                limit: None,
            }));
        }
        for record in store.feature_views().await.map_err(store_status)? {
            if record.spec.spine.is_some() {
                all.push(tickets::Ticket::BatchFeatures(tickets::BatchFeatures {
                    feature_view: format!("{}:{}", record.spec.name, record.spec.version),
                    start: None,
                    end: None,
                }));
            }
        }
        for record in store
            .registry()
            .training_datasets()
            .await
            .map_err(store_status)?
        {
            for split in &record.spec.splits {
                all.push(tickets::Ticket::TrainingDataset(DatasetSplit {
                    feature_view: format!(
                        "{}:{}",
                        record.spec.feature_view, record.spec.feature_view_version
                    ),
                    version: record.version,
                    split: split.name.clone(),
                }));
            }
        }
        Ok(all)
    }
}

#[tonic::async_trait]
impl FlightService for SluiceFlight {
    type HandshakeStream = Answer<HandshakeResponse>;
    type ListFlightsStream = Answer<FlightInfo>;
    type DoGetStream = Answer<FlightData>;
    type DoPutStream = Answer<PutResult>;
    type DoActionStream = Answer<arrow_flight::Result>;
    type ListActionsStream = Answer<ActionType>;
    type DoExchangeStream = Answer<FlightData>;

    /// Keys travel with every call, so the handshake only checks the one it carries.
    async fn handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<Self::HandshakeStream>, Status> {
        self.authorize(&request, Scope::Read)?;
        let answer = HandshakeResponse {
            protocol_version: 0,
            payload: Default::default(),
        };
        Ok(Response::new(stream::iter([Ok(answer)]).boxed()))
    }

    async fn list_flights(
        &self,
        request: Request<Criteria>,
    ) -> Result<Response<Self::ListFlightsStream>, Status> {
        self.authorize(&request, Scope::Read)?;
        let mut infos = Vec::new();
        for ticket in self.catalog_tickets().await? {
            let bytes = serde_json::to_vec(&ticket)
                .map_err(|e| status(Error::Internal(format!("cannot encode a ticket: {e}"))))?;
            infos.push(Ok(self
                .info(&ticket, FlightDescriptor::new_cmd(bytes))
                .await?));
        }
        Ok(Response::new(stream::iter(infos).boxed()))
    }

    async fn get_flight_info(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.authorize(&request, Scope::Read)?;
        let descriptor = request.get_ref();
        if descriptor.r#type() == DescriptorType::Cmd && !tickets::is_json(&descriptor.cmd) {
            return self.sql.get_flight_info(request).await;
        }
        let ticket = descriptor_ticket(descriptor)?;
        let descriptor = descriptor.clone();
        Ok(Response::new(self.info(&ticket, descriptor).await?))
    }

    async fn poll_flight_info(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<PollInfo>, Status> {
        self.authorize(&request, Scope::Read)?;
        Err(Status::unimplemented(
            "poll_flight_info: every answer is ready at once; call get_flight_info",
        ))
    }

    async fn get_schema(
        &self,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<SchemaResult>, Status> {
        self.authorize(&request, Scope::Read)?;
        let descriptor = request.get_ref();
        if descriptor.r#type() == DescriptorType::Cmd && !tickets::is_json(&descriptor.cmd) {
            return self.sql.get_schema(request).await;
        }
        let ticket = descriptor_ticket(descriptor)?;
        let schema = answers::ticket_schema(&self.state.store, &ticket).await?;
        let result = SchemaResult::try_from(SchemaAsIpc::new(&schema, &IpcWriteOptions::default()))
            .map_err(|e| status(Error::Internal(format!("cannot encode a schema: {e}"))))?;
        Ok(Response::new(result))
    }

    async fn do_get(
        &self,
        request: Request<Ticket>,
    ) -> Result<Response<Self::DoGetStream>, Status> {
        self.authorize(&request, Scope::Read)?;
        if !tickets::is_json(&request.get_ref().ticket) {
            return self.sql.do_get(request).await;
        }
        let ticket = tickets::parse_ticket(&request.get_ref().ticket).map_err(status)?;
        let (schema, rows) = answers::ticket_rows(&self.state.store, &ticket).await?;
        Ok(Response::new(encode(schema, rows)))
    }

    async fn do_put(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoPutStream>, Status> {
        self.authorize(&request, Scope::Write)?;
        let (descriptor, batches) = opened(request).await?;
        if descriptor.r#type() == DescriptorType::Cmd && !tickets::is_json(&descriptor.cmd) {
            return Err(Status::invalid_argument(
                "Sluice's SQL is read-only: Flight SQL updates and ingests are refused; write with {\"insert\": {\"feature_group\": ...}}",
            ));
        }
        let Command::Insert { feature_group } = command(&descriptor)? else {
            return Err(Status::invalid_argument(
                "do_put takes an 'insert' command; 'features' is a do_exchange",
            ));
        };
        let batches = collect(batches).await?;
        let metrics = answers::insert(&self.state.store, &feature_group, batches).await?;
        let body = serde_json::to_vec(&metrics)
            .map_err(|e| status(Error::Internal(format!("cannot encode the answer: {e}"))))?;
        let answer = PutResult {
            app_metadata: body.into(),
        };
        Ok(Response::new(stream::iter([Ok(answer)]).boxed()))
    }

    async fn do_exchange(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<Self::DoExchangeStream>, Status> {
        self.authorize(&request, Scope::Read)?;
        let (descriptor, batches) = opened(request).await?;
        let command = command(&descriptor)?;
        let spine = collect(batches).await?;
        let joined = answers::features(&self.state.store, &command, spine).await?;
        Ok(Response::new(encode(
            joined.schema(),
            answers::in_pieces(joined),
        )))
    }

    async fn do_action(
        &self,
        request: Request<Action>,
    ) -> Result<Response<Self::DoActionStream>, Status> {
        self.authorize(&request, Scope::Read)?;
        let action = request.get_ref().r#type.clone();
        if !actions::ACTIONS.iter().any(|(name, _)| *name == action) {
            return self.sql.do_action(request).await;
        }
        let value = actions::run(&self.state.store, self.http, &action).await?;
        let body = serde_json::to_vec(&value)
            .map_err(|e| status(Error::Internal(format!("cannot encode the answer: {e}"))))?;
        let answer = arrow_flight::Result { body: body.into() };
        Ok(Response::new(stream::iter([Ok(answer)]).boxed()))
    }

    async fn list_actions(
        &self,
        request: Request<Empty>,
    ) -> Result<Response<Self::ListActionsStream>, Status> {
        self.authorize(&request, Scope::Read)?;
        let mut types: Vec<Result<ActionType, Status>> =
            actions::action_types().into_iter().map(Ok).collect();
        let sql = self.sql.list_actions(request).await?.into_inner();
        types.extend(sql.collect::<Vec<_>>().await);
        Ok(Response::new(stream::iter(types).boxed()))
    }
}
