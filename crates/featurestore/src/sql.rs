//! Read-only SQL over the project's data, planned by DataFusion: every
//! feature group as a table (`NAME` for its latest registered version,
//! `NAME_vN` for version N, each at its latest commit) and every training
//! dataset split (`VIEW_vV_tdN_SPLIT`). What Flight SQL clients query.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use sluice_offline::{OfflineStoreRef, ReadAt};
use sluice_types::FeatureGroupSpec;

use crate::project::FeatureStore;
use crate::training_data::dataset_dir;
use crate::{Error, Result};

/// One table a query can name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SqlTable {
    /// The name SQL uses.
    pub name: String,
    /// `feature_group` or `training_dataset`.
    pub kind: &'static str,
    /// What it reads: `NAME:VERSION` of a group, `VIEW:V/tdN/SPLIT` of a dataset split.
    pub source: String,
}

/// A planned query: its schema, and its rows as they are computed.
pub struct SqlAnswer {
    /// The answer's columns.
    pub schema: SchemaRef,
    /// The rows, batch by batch; the query runs as the stream is polled.
    pub rows: BoxStream<'static, Result<RecordBatch>>,
}

/// A feature group's latest commit, read when DataFusion executes the scan.
struct GroupPartition {
    offline: OfflineStoreRef,
    spec: Arc<FeatureGroupSpec>,
    schema: SchemaRef,
}

impl std::fmt::Debug for GroupPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "GroupPartition({}:{})",
            self.spec.name, self.spec.version
        )
    }
}

impl PartitionStream for GroupPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let offline = self.offline.clone();
        let spec = self.spec.clone();
        let rows =
            futures::stream::once(async move { offline.scan(&spec, ReadAt::Latest, None).await })
                .try_flatten()
                .map_err(|e| DataFusionError::External(Box::new(e)));
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), rows))
    }
}

impl FeatureStore {
    /// The tables [`Self::sql`] can name, in name order.
    pub async fn sql_tables(&self) -> Result<Vec<SqlTable>> {
        let mut tables = BTreeMap::new();
        for (name, spec) in self.sql_groups().await? {
            let source = format!("{}:{}", spec.name, spec.version);
            tables.insert(
                name.clone(),
                SqlTable {
                    name,
                    kind: "feature_group",
                    source,
                },
            );
        }
        for (name, (source, _)) in self.sql_datasets().await? {
            tables.insert(
                name.clone(),
                SqlTable {
                    name,
                    kind: "training_dataset",
                    source,
                },
            );
        }
        Ok(tables.into_values().collect())
    }

    /// Plans `query` (one read-only statement) and returns its schema and a
    /// stream of its rows. DDL, DML and other statements are refused.
    pub async fn sql(&self, query: &str) -> Result<SqlAnswer> {
        let ctx =
            SessionContext::new_with_config(SessionConfig::new().with_information_schema(true));
        let fail = |e: DataFusionError| Error::Sql {
            query: query.to_string(),
            message: first_line(&e),
        };
        for (name, spec) in self.sql_groups().await? {
            let schema = spec.arrow_schema();
            let partition = GroupPartition {
                offline: self.offline.clone(),
                spec,
                schema: schema.clone(),
            };
            let table = StreamingTable::try_new(schema, vec![Arc::new(partition)]).map_err(fail)?;
            ctx.register_table(name.as_str(), Arc::new(table))
                .map_err(fail)?;
        }
        for (name, (_, path)) in self.sql_datasets().await? {
            if path.exists() {
                ctx.register_parquet(
                    name.as_str(),
                    path.to_string_lossy().as_ref(),
                    ParquetReadOptions::default(),
                )
                .await
                .map_err(fail)?;
            }
        }
        let read_only = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let frame = ctx.sql_with_options(query, read_only).await.map_err(fail)?;
        let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
        let query_text = query.to_string();
        let rows = frame
            .execute_stream()
            .await
            .map_err(fail)?
            .map_err(move |e| Error::Sql {
                query: query_text.clone(),
                message: first_line(&e),
            })
            .boxed();
        Ok(SqlAnswer { schema, rows })
    }

    /// Every registered group version under `NAME_vN`, and the latest
    /// version of each group under `NAME`.
    async fn sql_groups(&self) -> Result<Vec<(String, Arc<FeatureGroupSpec>)>> {
        let mut latest: BTreeMap<String, Arc<FeatureGroupSpec>> = BTreeMap::new();
        let mut tables = Vec::new();
        for record in self.feature_groups().await? {
            let spec = Arc::new(record.spec);
            tables.push((format!("{}_v{}", spec.name, spec.version), spec.clone()));
            let newer = latest
                .get(&spec.name)
                .is_none_or(|seen| seen.version < spec.version);
            if newer {
                latest.insert(spec.name.clone(), spec);
            }
        }
        tables.extend(latest);
        Ok(tables)
    }

    /// Every training dataset split: its table name, its label and its file.
    async fn sql_datasets(&self) -> Result<BTreeMap<String, (String, std::path::PathBuf)>> {
        let mut tables = BTreeMap::new();
        for record in self.catalog.training_datasets().await? {
            let spec = &record.spec;
            let dir = self.dir().join(dataset_dir(
                &spec.feature_view,
                spec.feature_view_version,
                record.version,
            ));
            for split in &spec.splits {
                tables.insert(
                    format!(
                        "{}_v{}_td{}_{}",
                        spec.feature_view, spec.feature_view_version, record.version, split.name
                    ),
                    (
                        format!(
                            "{}:{}/td{}/{}",
                            spec.feature_view,
                            spec.feature_view_version,
                            record.version,
                            split.name
                        ),
                        dir.join(format!("{}.parquet", split.name)),
                    ),
                );
            }
        }
        Ok(tables)
    }
}

/// DataFusion's message without its backtrace or context lines.
fn first_line(e: &DataFusionError) -> String {
    let text = e.to_string();
    text.lines().next().unwrap_or_default().to_string()
}
