//! `apply`: compare the definition files with the catalog, show the plan, then register it in one transaction.

use std::path::PathBuf;

use serde::Serialize;
use sluice_catalog::FeatureGroupChange;

use crate::project::FeatureStore;
use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum PlanAction {
    Create,
    Unchanged,
    /// Fields that can change in place (description, TTL).
    Update {
        fields: Vec<String>,
    },
    /// Fields whose change needs a new version.
    Incompatible {
        fields: Vec<String>,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct PlanItem {
    pub kind: &'static str,
    pub name: String,
    pub version: u32,
    pub file: PathBuf,
    #[serde(flatten)]
    pub action: PlanAction,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    pub items: Vec<PlanItem>,
    #[serde(skip)]
    changes: Vec<FeatureGroupChange>,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty()
    }

    /// The first change that cannot be applied, as the error `apply` would return.
    pub fn check(&self) -> Result<()> {
        for item in &self.items {
            if let PlanAction::Incompatible { fields } = &item.action {
                return Err(Error::IncompatibleChange {
                    feature_group: format!("{}:{}", item.name, item.version),
                    fields: fields.join(", "),
                });
            }
        }
        Ok(())
    }
}

impl FeatureStore {
    /// What `apply` would do, without doing it.
    pub async fn plan(&self) -> Result<Plan> {
        let definitions = self.definitions()?;
        let mut plan = Plan::default();
        for located in definitions.feature_groups {
            let spec = located.item;
            let existing = match self
                .catalog
                .feature_group(&spec.name, Some(spec.version))
                .await
            {
                Ok(record) => Some(record.spec),
                Err(
                    sluice_catalog::Error::FeatureGroupNotFound { .. }
                    | sluice_catalog::Error::VersionNotFound { .. },
                ) => None,
                Err(e) => return Err(e.into()),
            };
            let action = match existing {
                None => {
                    plan.changes.push(FeatureGroupChange::Create(spec.clone()));
                    PlanAction::Create
                }
                Some(old) => {
                    let incompatible = old.incompatible_changes(&spec);
                    let compatible = old.compatible_changes(&spec);
                    if !incompatible.is_empty() {
                        PlanAction::Incompatible {
                            fields: incompatible,
                        }
                    } else if !compatible.is_empty() {
                        plan.changes.push(FeatureGroupChange::Update(spec.clone()));
                        PlanAction::Update { fields: compatible }
                    } else {
                        PlanAction::Unchanged
                    }
                }
            };
            plan.items.push(PlanItem {
                kind: "feature_group",
                name: spec.name,
                version: spec.version,
                file: located.file,
                action,
            });
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
