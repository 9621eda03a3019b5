//! Flight SQL: read-only queries over the feature store's tables, planned
//! by DataFusion (see `FeatureStore::sql`), plus the catalog calls ADBC and
//! JDBC drivers make on connecting. Statements that write are refused.

use std::pin::Pin;
use std::sync::{Arc, LazyLock};

use arrow::datatypes::SchemaRef;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::sql::metadata::{SqlInfoData, SqlInfoDataBuilder};
use arrow_flight::sql::server::FlightSqlService;
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest,
    ActionCreatePreparedStatementResult, CommandGetCatalogs, CommandGetDbSchemas,
    CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables, CommandPreparedStatementQuery,
    CommandStatementQuery, ProstMessageExt, SqlInfo, TicketStatementQuery,
};
use arrow_flight::{
    Action, FlightData, FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest,
    HandshakeResponse, IpcMessage, SchemaAsIpc, Ticket,
};
use futures::stream::{Stream, StreamExt, TryStreamExt};
use prost::Message;
use tonic::{Request, Response, Status, Streaming};

use super::store_status;
use crate::state::AppState;

/// The one catalog and schema every table is in.
const CATALOG: &str = "sluice";
const SCHEMA: &str = "public";
const TABLE_TYPE: &str = "TABLE";

static SQL_INFO: LazyLock<SqlInfoData> = LazyLock::new(|| {
    let mut info = SqlInfoDataBuilder::new();
    info.append(SqlInfo::FlightSqlServerName, "Sluice");
    info.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    info.append(SqlInfo::FlightSqlServerArrowVersion, "1.3");
    info.append(SqlInfo::FlightSqlServerReadOnly, true);
    info.append(SqlInfo::FlightSqlServerSql, true);
    info.append(SqlInfo::FlightSqlServerSubstrait, false);
    info.append(SqlInfo::FlightSqlServerTransaction, 0_i32);
    info.build().expect("the server's SQL info is well formed")
});

type DoGetStream = Pin<Box<dyn Stream<Item = Result<FlightData, Status>> + Send + 'static>>;

/// The Flight SQL half of the service.
#[derive(Clone)]
pub struct SqlService {
    state: Arc<AppState>,
}

impl SqlService {
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }

    /// Plans a query for its schema (nothing runs until its rows are read).
    async fn schema_of(&self, query: &str) -> Result<SchemaRef, Status> {
        Ok(self
            .state
            .store
            .sql(query)
            .await
            .map_err(store_status)?
            .schema)
    }

    /// Runs a query and streams its answer.
    async fn run(&self, query: &str) -> Result<Response<DoGetStream>, Status> {
        let answer = self.state.store.sql(query).await.map_err(store_status)?;
        let rows = answer
            .rows
            .map_err(|e| FlightError::Tonic(Box::new(store_status(e))));
        let data = FlightDataEncoderBuilder::new()
            .with_schema(answer.schema)
            .build(rows)
            .map_err(|e| match e {
                FlightError::Tonic(status) => *status,
                other => Status::internal(other.to_string()),
            });
        Ok(Response::new(data.boxed()))
    }

    /// A `FlightInfo` whose one endpoint's ticket is `ticket`.
    fn info(
        schema: &arrow::datatypes::Schema,
        ticket: Vec<u8>,
        descriptor: FlightDescriptor,
    ) -> Result<Response<FlightInfo>, Status> {
        let info = FlightInfo::new()
            .try_with_schema(schema)
            .map_err(|e| Status::internal(format!("cannot encode a schema: {e}")))?
            .with_endpoint(FlightEndpoint::new().with_ticket(Ticket::new(ticket)))
            .with_descriptor(descriptor);
        Ok(Response::new(info))
    }

    /// The `FlightInfo` of a catalog command: its ticket is the command itself.
    fn command_info(
        schema: &arrow::datatypes::Schema,
        command: impl ProstMessageExt,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        Self::info(
            schema,
            command.as_any().encode_to_vec(),
            request.into_inner(),
        )
    }

    /// A computed batch as a `do_get` answer.
    fn batch_answer<E: std::fmt::Display>(
        batch: Result<arrow::array::RecordBatch, E>,
    ) -> Result<Response<DoGetStream>, Status> {
        let batch = batch.map_err(|e| Status::internal(e.to_string()))?;
        let data = FlightDataEncoderBuilder::new()
            .with_schema(batch.schema())
            .build(futures::stream::iter([Ok(batch)]))
            .map_err(|e| Status::internal(e.to_string()));
        Ok(Response::new(data.boxed()))
    }

    /// The tables matching a `GetTables` request, with their schemas when asked.
    async fn tables(&self, query: CommandGetTables) -> Result<arrow::array::RecordBatch, Status> {
        let include_schema = query.include_schema;
        let table_pattern = query.table_name_filter_pattern.clone();
        let catalog_wanted = query.catalog.as_deref().is_none_or(|c| c == CATALOG);
        let schema_wanted = query
            .db_schema_filter_pattern
            .as_deref()
            .is_none_or(|p| like(p, SCHEMA));
        let types_wanted =
            query.table_types.is_empty() || query.table_types.iter().any(|t| t == TABLE_TYPE);
        let mut builder = query.into_builder();
        if catalog_wanted && schema_wanted && types_wanted {
            for table in self.state.store.sql_tables().await.map_err(store_status)? {
                if table_pattern
                    .as_deref()
                    .is_some_and(|p| !like(p, &table.name))
                {
                    continue;
                }
                let schema = if include_schema {
                    self.schema_of(&format!("SELECT * FROM \"{}\" LIMIT 0", table.name))
                        .await?
                } else {
                    Arc::new(arrow::datatypes::Schema::empty())
                };
                builder
                    .append(CATALOG, SCHEMA, &table.name, TABLE_TYPE, &schema)
                    .map_err(|e| Status::internal(e.to_string()))?;
            }
        }
        builder.build().map_err(|e| Status::internal(e.to_string()))
    }
}

/// SQL `LIKE` as Flight SQL's filter patterns use it: `%` any run, `_` one character.
fn like(pattern: &str, text: &str) -> bool {
    fn matches(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('%', rest)) => (0..=t.len()).any(|i| matches(rest, &t[i..])),
            Some(('_', rest)) => !t.is_empty() && matches(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && matches(rest, &t[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    matches(&p, &t)
}

#[tonic::async_trait]
impl FlightSqlService for SqlService {
    type FlightService = SqlService;

    async fn do_handshake(
        &self,
        _request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<
        Response<Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>>,
        Status,
    > {
        // The outer service answers handshakes; one arriving here has passed it.
        Ok(Response::new(futures::stream::empty().boxed()))
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = self.schema_of(&query.query).await?;
        let ticket = TicketStatementQuery {
            statement_handle: query.query.into_bytes().into(),
        };
        Self::info(
            &schema,
            ticket.as_any().encode_to_vec(),
            request.into_inner(),
        )
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let query = String::from_utf8(ticket.statement_handle.to_vec())
            .map_err(|_| Status::invalid_argument("the statement handle is not UTF-8 text"))?;
        self.run(&query).await
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        _request: Request<Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let schema = self.schema_of(&query.query).await?;
        let IpcMessage(dataset_schema) =
            SchemaAsIpc::new(&schema, &arrow::ipc::writer::IpcWriteOptions::default())
                .try_into()
                .map_err(|e: arrow::error::ArrowError| Status::internal(e.to_string()))?;
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: query.query.into_bytes().into(),
            dataset_schema,
            parameter_schema: Default::default(),
        })
    }

    async fn do_action_close_prepared_statement(
        &self,
        _query: ActionClosePreparedStatementRequest,
        _request: Request<Action>,
    ) -> Result<(), Status> {
        // A handle is the query's text: nothing is held open.
        Ok(())
    }

    async fn get_flight_info_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let text = String::from_utf8(query.prepared_statement_handle.to_vec())
            .map_err(|_| Status::invalid_argument("the statement handle is not UTF-8 text"))?;
        let schema = self.schema_of(&text).await?;
        Self::info(
            &schema,
            query.as_any().encode_to_vec(),
            request.into_inner(),
        )
    }

    async fn do_get_prepared_statement(
        &self,
        query: CommandPreparedStatementQuery,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let text = String::from_utf8(query.prepared_statement_handle.to_vec())
            .map_err(|_| Status::invalid_argument("the statement handle is not UTF-8 text"))?;
        self.run(&text).await
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder(&SQL_INFO).schema();
        Self::info(
            &schema,
            query.as_any().encode_to_vec(),
            request.into_inner(),
        )
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        Self::batch_answer(query.into_builder(&SQL_INFO).build())
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder().schema();
        Self::command_info(&schema, query, request)
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let mut builder = query.into_builder();
        builder.append(CATALOG);
        Self::batch_answer(builder.build())
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder().schema();
        Self::command_info(&schema, query, request)
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let mut builder = query.into_builder();
        builder.append(CATALOG, SCHEMA);
        Self::batch_answer(builder.build())
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder().schema();
        Self::command_info(&schema, query, request)
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        Self::batch_answer(Ok::<_, Status>(self.tables(query).await?))
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder().schema();
        Self::command_info(&schema, query, request)
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        _request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let mut builder = query.into_builder();
        builder.append(TABLE_TYPE);
        Self::batch_answer(builder.build())
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

#[cfg(test)]
mod tests {
    use super::like;

    #[test]
    fn like_patterns() {
        assert!(like("%", "transactions"));
        assert!(like("trans%", "transactions"));
        assert!(like("%_v1", "transactions_v1"));
        assert!(!like("%_v1", "transactions_v2"));
        assert!(like("t_ansactions", "transactions"));
        assert!(!like("cards", "transactions"));
    }
}
