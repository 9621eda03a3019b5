//! A feature view resolved once into owned specs, for long-running readers
//! (the online server) that must not go back to the catalog per request and
//! must not borrow the store.

use std::sync::{Arc, OnceLock};

use arrow::array::{ArrayRef, RecordBatch, TimestampMicrosecondArray};
use arrow::compute::cast;
use arrow::datatypes::{Field, Schema, SchemaRef};
use chrono::{DateTime, Utc};
use sluice_catalog::CatalogChange;
use sluice_online::OnlineRead;
use sluice_transforms::OnDemandFeatures;
use sluice_types::coerce::InputCoercer;
use sluice_types::{
    ColumnSpec, ColumnType, FeatureGroupSpec, FeatureViewSpec, NameRef, REQUEST_TIME,
};

use crate::feature_view::{FeatureView, OnlineVectors};
use crate::project::FeatureStore;
use crate::{Error, FeatureGroup, Result};

/// A feature view's spec with the specs of the groups it joins (in join
/// order), its spine group, and its compiled on-demand features.
#[derive(Debug, Clone)]
pub struct ResolvedView {
    /// The view's registered definition.
    pub spec: FeatureViewSpec,
    /// The definition of each joined group, in join order.
    pub groups: Vec<Arc<FeatureGroupSpec>>,
    /// The spine group's definition, when the view names one.
    pub spine: Option<Arc<FeatureGroupSpec>>,
    /// The view's on-demand features, compiled against its columns.
    pub on_demand: Arc<OnDemandFeatures>,
    /// Worked out on first use by a request path, then shared by every request.
    serving: OnceLock<Arc<ServingPlan>>,
}

/// What answering a request against a view needs beyond its specs, worked
/// out once: per-request work is then the lookups and the answer itself,
/// not names, schemas and coercers built anew.
#[derive(Debug)]
struct ServingPlan {
    key_names: Vec<String>,
    feature_names: Vec<String>,
    /// Parses request keys into the view's key types.
    keys: InputCoercer,
    joins: Vec<JoinPlan>,
    /// The answer's columns before the on-demand features: request values, then joined features.
    schema: SchemaRef,
}

#[derive(Debug)]
struct JoinPlan {
    /// Coerces keys to the group's key types.
    keys: InputCoercer,
    /// Each selected feature, with its index among the group's columns (as a lookup returns them).
    selected: Vec<(String, usize)>,
    /// `name:version`, as the answer's statuses name the group.
    label: String,
}

impl ResolvedView {
    /// Compiles the view's on-demand expressions against what they may read:
    /// the keys, `request_time`, the request values and the joined features.
    pub(crate) fn compile_on_demand(
        spec: &FeatureViewSpec,
        groups: &[Arc<FeatureGroupSpec>],
        spine: Option<&Arc<FeatureGroupSpec>>,
    ) -> Result<Arc<OnDemandFeatures>> {
        let fields: Vec<Field> = key_columns(spec, groups, spine)
            .into_iter()
            .chain([ColumnSpec::new(REQUEST_TIME, ColumnType::Timestamp)])
            .chain(spec.request.iter().cloned())
            .chain(joined_columns(spec, groups))
            .map(|c| Field::new(&c.name, c.column_type.arrow_type(), true))
            .collect();
        let label = format!("{}:{}", spec.name, spec.version);
        Ok(Arc::new(OnDemandFeatures::compile(
            &label,
            &Schema::new(fields),
            &spec.on_demand,
        )?))
    }

    /// `joined` (spine columns, request values included, then joined
    /// features) with the on-demand features appended, `time` serving as
    /// `request_time`.
    pub fn with_on_demand(&self, joined: RecordBatch, time: &str) -> Result<RecordBatch> {
        if self.on_demand.is_empty() {
            return Ok(joined);
        }
        let index = joined
            .schema()
            .index_of(time)
            .map_err(sluice_types::Error::from)?;
        let request_time = cast(joined.column(index), &ColumnType::Timestamp.arrow_type())
            .map_err(sluice_types::Error::from)?;
        self.append_on_demand(joined, vec![(REQUEST_TIME.to_string(), request_time)])
    }

    /// `base` with the on-demand features appended, computed from `base`
    /// and the `extra` columns it lacks (keys, `request_time`).
    fn append_on_demand(
        &self,
        base: RecordBatch,
        extra: Vec<(String, ArrayRef)>,
    ) -> Result<RecordBatch> {
        if self.on_demand.is_empty() {
            return Ok(base);
        }
        let base_fields: Vec<Field> = base
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let mut fields = base_fields.clone();
        let mut columns = base.columns().to_vec();
        for (name, column) in extra {
            if base.column_by_name(&name).is_none() {
                fields.push(Field::new(&name, column.data_type().clone(), true));
                columns.push(column);
            }
        }
        let input = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
            .map_err(sluice_types::Error::from)?;
        let computed = self.on_demand.evaluate(&input)?;
        let mut fields = base_fields;
        fields.extend(self.on_demand.fields());
        let mut columns = base.columns().to_vec();
        columns.extend(computed);
        Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
            .map_err(sluice_types::Error::from)?)
    }

    /// `NAME:VERSION`, as messages name the view.
    pub fn label(&self) -> String {
        format!("{}:{}", self.spec.name, self.spec.version)
    }

    fn serving(&self) -> &ServingPlan {
        self.serving.get_or_init(|| {
            let key_columns = self.key_columns();
            let key_names: Vec<String> = key_columns.iter().map(|c| c.name.clone()).collect();
            let keys = InputCoercer::new(Arc::new(FeatureGroupSpec::keyed_by_all(
                &self.spec.name,
                self.spec.version,
                key_columns,
            )));
            let joins = self
                .spec
                .joins
                .iter()
                .zip(&self.groups)
                .map(|(join, group)| JoinPlan {
                    keys: InputCoercer::new(group.clone()),
                    label: format!("{}:{}", group.name, group.version),
                    selected: join
                        .selected(group)
                        .into_iter()
                        .filter_map(|name| {
                            let index = group.columns.iter().position(|c| c.name == name)?;
                            Some((name, index))
                        })
                        .collect(),
                })
                .collect();
            let fields: Vec<Field> = self
                .spec
                .request
                .iter()
                .cloned()
                .chain(self.joined_columns())
                .map(|c| Field::new(&c.name, c.column_type.arrow_type(), true))
                .collect();
            Arc::new(ServingPlan {
                key_names,
                feature_names: self.feature_columns().into_iter().map(|c| c.name).collect(),
                keys,
                joins,
                schema: Arc::new(Schema::new(fields)),
            })
        })
    }

    /// The names of `key_columns`, worked out once.
    pub fn key_names(&self) -> &[String] {
        &self.serving().key_names
    }

    /// The key columns' types, as `coerce_keys` returns them, worked out once.
    pub fn key_schema(&self) -> &SchemaRef {
        self.serving().keys.schema()
    }

    /// The names of `feature_columns`, worked out once.
    pub fn feature_names(&self) -> &[String] {
        &self.serving().feature_names
    }

    /// Parses a batch of the view's key columns (text or typed) into their
    /// types by the ingest rules; `what` names the input in errors.
    pub fn coerce_keys(&self, what: &str, keys: &RecordBatch) -> Result<RecordBatch> {
        Ok(self.serving().keys.coerce_keys(what, keys)?)
    }

    /// The spine's key columns (each once, typed as the spine group or else the joined group says).
    pub fn key_columns(&self) -> Vec<ColumnSpec> {
        key_columns(&self.spec, &self.groups, self.spine.as_ref())
    }

    /// The view's feature columns in view order: the request values, the
    /// joined features (typed as their groups say), the on-demand features.
    pub fn feature_columns(&self) -> Vec<ColumnSpec> {
        let on_demand = self
            .spec
            .on_demand
            .iter()
            .map(|f| ColumnSpec::new(&f.name, f.column_type).nullable());
        self.spec
            .request
            .iter()
            .cloned()
            .chain(self.joined_columns())
            .chain(on_demand)
            .collect()
    }

    /// The features the joins bring in, in join order.
    pub fn joined_columns(&self) -> Vec<ColumnSpec> {
        joined_columns(&self.spec, &self.groups)
    }

    /// What a spine must hold: every key column, the time column and the request values.
    pub fn spine_spec(&self, time: &str) -> FeatureGroupSpec {
        let mut columns = self.key_columns();
        let primary_key = columns.iter().map(|c| c.name.clone()).collect();
        columns.push(ColumnSpec::new(time, ColumnType::Timestamp));
        columns.extend(self.spec.request.iter().cloned());
        FeatureGroupSpec {
            name: "spine".into(),
            version: 1,
            primary_key,
            event_time: Some(time.to_string()),
            online: false,
            ttl: None,
            description: String::new(),
            validation: Default::default(),
            expectations: Vec::new(),
            statistics: true,
            columns,
        }
    }
}

fn key_columns(
    spec: &FeatureViewSpec,
    groups: &[Arc<FeatureGroupSpec>],
    spine: Option<&Arc<FeatureGroupSpec>>,
) -> Vec<ColumnSpec> {
    let mut columns: Vec<ColumnSpec> = Vec::new();
    for (join, group) in spec.joins.iter().zip(groups) {
        for (spine_column, group_column) in join.on.pairs() {
            if columns.iter().any(|c| c.name == spine_column) {
                continue;
            }
            let column_type = spine
                .and_then(|g| g.column(spine_column))
                .or_else(|| group.column(group_column))
                .map_or(ColumnType::String, |c| c.column_type);
            columns.push(ColumnSpec::new(spine_column, column_type));
        }
    }
    columns
}

fn joined_columns(spec: &FeatureViewSpec, groups: &[Arc<FeatureGroupSpec>]) -> Vec<ColumnSpec> {
    spec.joins
        .iter()
        .zip(groups)
        .flat_map(|(join, group)| {
            join.selected(group)
                .into_iter()
                .filter_map(|name| group.column(&name).cloned())
                .collect::<Vec<_>>()
        })
        .collect()
}

impl FeatureView<'_> {
    /// The view as owned specs.
    pub fn resolved(&self) -> ResolvedView {
        ResolvedView {
            spec: self.spec.clone(),
            groups: self.groups.iter().map(|g| g.spec.clone()).collect(),
            spine: self.spine_group.as_ref().map(|g| g.spec.clone()),
            on_demand: self.on_demand.clone(),
            serving: OnceLock::new(),
        }
    }
}

impl FeatureStore {
    /// Looks keys up in one group's online store, judging TTL against `now`.
    pub async fn lookup_in(
        &self,
        spec: &Arc<FeatureGroupSpec>,
        keys: &RecordBatch,
        now: DateTime<Utc>,
    ) -> Result<OnlineRead> {
        let keys = InputCoercer::new(spec.clone()).coerce_keys("key", keys)?;
        self.read_online(spec, &keys, now).await
    }

    /// `lookup_in` for keys already in the group's key types.
    async fn read_online(
        &self,
        spec: &FeatureGroupSpec,
        keys: &RecordBatch,
        now: DateTime<Utc>,
    ) -> Result<OnlineRead> {
        if !spec.online {
            return Err(Error::NotOnline {
                feature_group: format!("{}:{}", spec.name, spec.version),
            });
        }
        Ok(self
            .online()
            .await?
            .read(spec, keys, now.timestamp_micros())
            .await?)
    }

    /// The view's features for the given spine keys from the online stores:
    /// one lookup per joined group for all keys, columns in view order typed
    /// as in batch data, and one status per key and join (a group's features
    /// are null unless PRESENT). `given` holds the request values, and may
    /// hold values that replace looked-up features; the on-demand features
    /// are computed from the result, with `now` as `request_time`.
    pub async fn online_vectors(
        &self,
        view: &ResolvedView,
        keys: &RecordBatch,
        given: Option<&RecordBatch>,
        now: DateTime<Utc>,
    ) -> Result<OnlineVectors> {
        let plan = view.serving();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(plan.schema.fields().len());
        // A given value, as the type of the answer's next column.
        let given_column = |name: &str, next: usize| -> Result<Option<ArrayRef>> {
            let Some(column) = given.and_then(|g| g.column_by_name(name)) else {
                return Ok(None);
            };
            Ok(Some(
                cast(column, plan.schema.field(next).data_type())
                    .map_err(sluice_types::Error::from)?,
            ))
        };
        for request in &view.spec.request {
            let column =
                given_column(&request.name, columns.len())?.ok_or_else(|| Error::InvalidSpine {
                    feature_view: view.label(),
                    message: format!(
                        "the request lacks the request-time value '{}' ({})",
                        request.name, request.column_type
                    ),
                })?;
            columns.push(column);
        }
        let mut status = Vec::with_capacity(view.groups.len());
        for ((join, group), join_plan) in view.spec.joins.iter().zip(&view.groups).zip(&plan.joins)
        {
            let renamed = join
                .on
                .pairs()
                .iter()
                .map(|(spine_column, group_column)| {
                    let column =
                        keys.column_by_name(spine_column)
                            .ok_or_else(|| Error::InvalidSpine {
                                feature_view: view.label(),
                                message: format!("the keys have no column '{spine_column}'"),
                            })?;
                    Ok((group_column.to_string(), column.clone()))
                })
                .collect::<Result<Vec<_>>>()?;
            let group_keys =
                RecordBatch::try_from_iter(renamed).map_err(sluice_types::Error::from)?;
            let group_keys = join_plan.keys.coerce_keys("key", &group_keys)?;
            let read = self.read_online(group, &group_keys, now).await?;
            for (feature, index) in &join_plan.selected {
                let column = match given_column(feature, columns.len())? {
                    Some(value) => value,
                    None => read.rows.column(*index).clone(),
                };
                columns.push(column);
            }
            status.push((join_plan.label.clone(), read.status));
        }
        let rows = RecordBatch::try_new_with_options(
            plan.schema.clone(),
            columns,
            &arrow::array::RecordBatchOptions::new().with_row_count(Some(keys.num_rows())),
        )
        .map_err(sluice_types::Error::from)?;
        if view.on_demand.is_empty() {
            return Ok(OnlineVectors { rows, status });
        }
        let mut extra: Vec<(String, ArrayRef)> = keys
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .zip(keys.columns().iter().cloned())
            .collect();
        extra.push((
            REQUEST_TIME.to_string(),
            Arc::new(
                TimestampMicrosecondArray::from_value(now.timestamp_micros(), keys.num_rows())
                    .with_timezone("UTC"),
            ),
        ));
        let rows = view.append_on_demand(rows, extra)?;
        Ok(OnlineVectors { rows, status })
    }

    /// The group `spec` describes: registered now if the catalog lacks it;
    /// an error if a group of that name and version exists with another shape.
    pub async fn ensure_feature_group(&self, spec: FeatureGroupSpec) -> Result<FeatureGroup<'_>> {
        let name = NameRef {
            name: spec.name.clone(),
            version: Some(spec.version),
        };
        let found = match self.feature_group(&name).await {
            Ok(group) => Some(group),
            Err(Error::Catalog(
                sluice_catalog::Error::NotFound { .. }
                | sluice_catalog::Error::VersionNotFound { .. },
            )) => None,
            Err(e) => return Err(e),
        };
        if let Some(existing) = found {
            let differences = existing.spec().incompatible_changes(&spec);
            if !differences.is_empty() {
                return Err(Error::IncompatibleChange {
                    kind: "feature group",
                    name: existing.label(),
                    fields: differences.join(", "),
                });
            }
            return Ok(existing);
        }
        let created = self
            .catalog
            .apply(&[CatalogChange::CreateFeatureGroup(spec)])
            .await;
        match created {
            Ok(()) => self.feature_group(&name).await,
            // Another process registered it first: use theirs if it has this shape.
            Err(first) => match self.feature_group(&name).await {
                Ok(group) => Ok(group),
                Err(_) => Err(first.into()),
            },
        }
    }
}
