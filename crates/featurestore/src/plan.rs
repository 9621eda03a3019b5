//! `apply`: compare the definition files with the catalog, show the plan, then register it in one transaction.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use std::collections::HashMap;

use sluice_catalog::{CatalogChange, Versioned};
use sluice_types::{FeatureGroupSpec, NameRef};

use crate::project::FeatureStore;
use crate::resolved_view::ResolvedView;
use crate::{Error, Result};

/// What `apply` does with one definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum PlanAction {
    /// Registers it: the catalog has no such name and version.
    Create,
    /// Nothing: the registered version is the same.
    Unchanged,
    /// Fields that can change in place (the description, and a group's TTL).
    Update {
        /// The fields that differ.
        fields: Vec<String>,
    },
    /// Fields whose change needs a new version; `apply` refuses the whole plan.
    Incompatible {
        /// The fields that differ.
        fields: Vec<String>,
    },
}

/// One definition in a plan, and what `apply` does with it.
#[derive(Debug, Clone, Serialize)]
pub struct PlanItem {
    /// `feature_group` or `feature_view`.
    pub kind: &'static str,
    /// The definition's name.
    pub name: String,
    /// The definition's version.
    pub version: u32,
    /// The definition file it is in.
    pub file: PathBuf,
    /// What `apply` does with it.
    #[serde(flatten)]
    pub action: PlanAction,
}

/// What `apply` would do with the project's definitions, and the catalog
/// changes that do it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    /// One per definition: feature groups first, then feature views.
    pub items: Vec<PlanItem>,
    #[serde(skip)]
    changes: Vec<CatalogChange>,
}

impl Plan {
    /// Whether applying it would change the catalog (anything to create or update).
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }

    /// The first change that cannot be applied, as the error `apply` would return.
    pub fn check(&self) -> Result<()> {
        for item in &self.items {
            if let PlanAction::Incompatible { fields } = &item.action {
                return Err(Error::IncompatibleChange {
                    kind: if item.kind == "feature_view" {
                        "feature view"
                    } else {
                        "feature group"
                    },
                    name: format!("{}:{}", item.name, item.version),
                    fields: fields.join(", "),
                });
            }
        }
        Ok(())
    }
}

impl FeatureStore {
    /// What `apply` would do, without doing it. Feature views are checked
    /// against the feature groups they join, registered or defined alongside.
    pub async fn plan(&self) -> Result<Plan> {
        let definitions = self.definitions()?;
        let mut plan = Plan::default();
        let mut groups: HashMap<(String, u32), FeatureGroupSpec> = self
            .catalog
            .feature_groups()
            .await?
            .into_iter()
            .map(|r| ((r.spec.name.clone(), r.spec.version), r.spec))
            .collect();
        for located in definitions.feature_groups {
            let spec = located.item;
            let existing = not_found_is_none(
                self.catalog
                    .feature_group(&spec.name, Some(spec.version))
                    .await,
            )?;
            plan.add(
                PlanItem::new("feature_group", &spec.name, spec.version, located.file),
                existing.map(|old| {
                    (
                        old.incompatible_changes(&spec),
                        old.compatible_changes(&spec),
                    )
                }),
                CatalogChange::CreateFeatureGroup(spec.clone()),
                CatalogChange::UpdateFeatureGroup(spec.clone()),
            );
            groups
                .entry((spec.name.clone(), spec.version))
                .or_insert(spec);
        }
        let lookup = |name: &NameRef| {
            name.version
                .and_then(|v| groups.get(&(name.name.clone(), v)).cloned())
        };
        for located in definitions.feature_views {
            let spec = located.item;
            let invalid = |message: String| Error::InvalidFeatureView {
                file: located.file.clone(),
                feature_view: format!("{}:{}", spec.name, spec.version),
                message,
            };
            spec.validate(&lookup).map_err(invalid)?;
            let resolve = |text: &str| {
                NameRef::parse(text)
                    .ok()
                    .and_then(|name| lookup(&name))
                    .map(Arc::new)
            };
            let joined: Vec<Arc<FeatureGroupSpec>> = spec
                .joins
                .iter()
                .filter_map(|join| resolve(&join.feature_group))
                .collect();
            let spine = spec.spine.as_deref().and_then(resolve);
            ResolvedView::compile_on_demand(&spec, &joined, spine.as_ref())
                .and_then(|features| features.check_lossless().map_err(Error::from))
                .map_err(|e| {
                    invalid(match e {
                        Error::OnDemand(inner) => match *inner {
                            sluice_transforms::Error::OnDemand {
                                feature, message, ..
                            } => format!("on-demand feature '{feature}': {message}"),
                            other => other.to_string(),
                        },
                        other => other.to_string(),
                    })
                })?;
            let existing = not_found_is_none(
                self.catalog
                    .feature_view(&spec.name, Some(spec.version))
                    .await,
            )?;
            plan.add(
                PlanItem::new("feature_view", &spec.name, spec.version, located.file),
                existing.map(|old| {
                    (
                        old.incompatible_changes(&spec),
                        old.compatible_changes(&spec),
                    )
                }),
                CatalogChange::CreateFeatureView(spec.clone()),
                CatalogChange::UpdateFeatureView(spec.clone()),
            );
        }
        Ok(plan)
    }

    /// Registers a plan in one catalog transaction; refuses if any change is incompatible.
    pub async fn apply(&self, plan: &Plan) -> Result<()> {
        plan.check()?;
        if plan.has_changes() {
            self.catalog.apply(&plan.changes).await?;
        }
        Ok(())
    }
}

/// A registered version, or `None` when the catalog has no such name or version.
fn not_found_is_none<T>(
    found: std::result::Result<Versioned<T>, sluice_catalog::Error>,
) -> Result<Option<T>> {
    match found {
        Ok(record) => Ok(Some(record.spec)),
        Err(
            sluice_catalog::Error::NotFound { .. } | sluice_catalog::Error::VersionNotFound { .. },
        ) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

impl PlanItem {
    /// An item whose action `Plan::add` decides.
    fn new(kind: &'static str, name: &str, version: u32, file: PathBuf) -> Self {
        Self {
            kind,
            name: name.to_string(),
            version,
            file,
            action: PlanAction::Unchanged,
        }
    }
}

impl Plan {
    /// Adds one definition's item, given its (incompatible, compatible)
    /// differences from the registered version (none: not registered), and
    /// queues the catalog change it needs.
    fn add(
        &mut self,
        mut item: PlanItem,
        differences: Option<(Vec<String>, Vec<String>)>,
        create: CatalogChange,
        update: CatalogChange,
    ) {
        let action = match differences {
            None => {
                self.changes.push(create);
                PlanAction::Create
            }
            Some((incompatible, _)) if !incompatible.is_empty() => PlanAction::Incompatible {
                fields: incompatible,
            },
            Some((_, compatible)) if !compatible.is_empty() => {
                self.changes.push(update);
                PlanAction::Update { fields: compatible }
            }
            Some(_) => PlanAction::Unchanged,
        };
        item.action = action;
        self.items.push(item);
    }
}
