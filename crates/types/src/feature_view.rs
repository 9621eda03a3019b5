//! The definition of a feature view: which features of which feature groups,
//! joined as of the spine's time on which keys, with which labels.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::column::{ColumnSpec, ColumnType};
use crate::duration::Ttl;
use crate::feature_group::FeatureGroupSpec;
use crate::name::{validate_name, NameRef};

/// Model-dependent transformation functions a feature view may name; fitted
/// and applied by `sluice-models`. `impute_constant:VALUE` takes a number.
pub const TRANSFORMS: &[&str] = &[
    "standard_scaler",
    "min_max_scaler",
    "robust_scaler",
    "label_encoder",
    "one_hot_encoder",
    "log1p",
    "impute_mean",
    "impute_constant:VALUE",
];

fn is_known_transform(name: &str) -> bool {
    match name.strip_prefix("impute_constant:") {
        Some(value) => value.parse::<f64>().is_ok_and(f64::is_finite),
        None => name != "impute_constant:VALUE" && TRANSFORMS.contains(&name),
    }
}

/// A feature view as defined in `features/*.toml` (`[[feature_view]]`) and
/// recorded in the catalog: the features a model reads, offline and online.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureViewSpec {
    /// A valid name, unique together with `version`.
    pub name: String,
    /// Starts at 1; any change but the description needs a new version.
    pub version: u32,
    /// `NAME:VERSION` of the feature group whose rows (keys, event time, labels) drive training rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spine: Option<String>,
    /// Columns of the spine that models learn to predict; they need a spine
    /// and may not be its key or event time.
    #[serde(default)]
    pub labels: Vec<String>,
    /// The feature groups joined onto the spine, at least one; a column may
    /// come from only one of them.
    pub joins: Vec<JoinSpec>,
    /// Feature column → transformation function name.
    #[serde(default)]
    pub transforms: BTreeMap<String, String>,
    /// Request-time values: columns of the spine offline, values sent with
    /// each request online. They are features themselves and inputs of the
    /// on-demand features.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request: Vec<ColumnSpec>,
    /// Features computed per row from the keys, `request_time`, the request
    /// values and the joined features, by one evaluator offline and online.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_demand: Vec<OnDemandSpec>,
    /// Free text for people; the only part that may change in place.
    #[serde(default)]
    pub description: String,
}

/// `{ name = "amount_to_mean_7d", expr = "amount / (amount_mean_7d + 1)" }`:
/// a SQL expression (DataFusion dialect) whose result is cast to `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnDemandSpec {
    /// The feature's name, distinct from every other column of the view and from `request_time`.
    pub name: String,
    /// The expression, over the view's keys, `request_time`, request values
    /// and joined features; planned and checked by `sluice apply`.
    pub expr: String,
    /// The feature's type, written `type`; float64 when left out.
    #[serde(rename = "type", default = "float64")]
    pub column_type: ColumnType,
}

fn float64() -> ColumnType {
    ColumnType::Float64
}

/// The name under which on-demand expressions see each row's time: the
/// spine row's time offline, the request's time online.
pub const REQUEST_TIME: &str = "request_time";

/// One feature group joined onto the spine as of each spine row's time: the
/// newest row at or before it, per key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinSpec {
    /// `NAME:VERSION`; the version is required so that a view always means the same data.
    pub feature_group: String,
    /// How spine columns match the group's primary key, which must be used whole.
    pub on: JoinKeys,
    /// The columns to bring in; all feature columns when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub select: Option<Vec<String>>,
    /// Rows older than this before the spine row's time do not count: the
    /// features are null instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<Ttl>,
}

/// Join keys: the same names on both sides, or spine column = feature-group column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum JoinKeys {
    /// `on = ["card_id"]`: each column has the same name on both sides.
    Same(Vec<String>),
    /// `on = { card_id = "id" }`: spine column = feature-group column.
    Mapped(BTreeMap<String, String>),
}

impl JoinKeys {
    /// (spine column, feature-group column) pairs.
    pub fn pairs(&self) -> Vec<(&str, &str)> {
        match self {
            JoinKeys::Same(names) => names.iter().map(|n| (n.as_str(), n.as_str())).collect(),
            JoinKeys::Mapped(map) => map.iter().map(|(s, f)| (s.as_str(), f.as_str())).collect(),
        }
    }
}

impl JoinSpec {
    /// The joined group as a reference, refusing one without a version.
    pub fn feature_group_ref(&self) -> Result<NameRef, String> {
        let name = NameRef::parse(&self.feature_group).map_err(|e| e.to_string())?;
        if name.version.is_none() {
            return Err(format!(
                "join '{}' must pin a version, e.g. {}:1",
                self.feature_group, self.feature_group
            ));
        }
        Ok(name)
    }

    /// The selected columns, or every feature column of `fg`.
    pub fn selected(&self, fg: &FeatureGroupSpec) -> Vec<String> {
        match &self.select {
            Some(columns) => columns.clone(),
            None => fg.feature_columns().map(|c| c.name.clone()).collect(),
        }
    }
}

impl FeatureViewSpec {
    /// Checks the view against the feature groups it names (`lookup` finds a
    /// registered or about-to-be-registered group). Returns the first problem.
    pub fn validate(
        &self,
        lookup: &dyn Fn(&NameRef) -> Option<FeatureGroupSpec>,
    ) -> Result<(), String> {
        validate_name(&self.name).map_err(|e| e.to_string())?;
        if self.version == 0 {
            return Err("version must be 1 or more".into());
        }
        if self.joins.is_empty() {
            return Err("it joins no feature group".into());
        }
        let resolve = |text: &str| -> Result<FeatureGroupSpec, String> {
            let name = NameRef::parse(text).map_err(|e| e.to_string())?;
            lookup(&name)
                .ok_or_else(|| format!("feature group '{text}' is not registered or defined"))
        };
        // Spine columns and their types: from the spine group, else set by the first join using them.
        let mut spine_types: HashMap<String, ColumnType> = HashMap::new();
        let mut outputs: HashSet<String> = HashSet::new();
        let spine = match &self.spine {
            Some(text) => {
                let spine = resolve(text)?;
                let time = spine.event_time.clone().ok_or_else(|| {
                    format!("spine '{text}' has no event_time column, so it cannot drive a point-in-time join")
                })?;
                for column in &spine.columns {
                    spine_types.insert(column.name.clone(), column.column_type);
                }
                outputs.extend(spine.primary_key.iter().cloned());
                outputs.insert(time);
                for label in &self.labels {
                    if spine.column(label).is_none() {
                        return Err(format!(
                            "label '{label}' is not a column of spine '{text}' (columns: {})",
                            spine.column_list()
                        ));
                    }
                    if spine.is_key_or_time(label) {
                        return Err(format!(
                            "label '{label}' is a key or event-time column of spine '{text}'"
                        ));
                    }
                    outputs.insert(label.clone());
                }
                Some(spine)
            }
            None => {
                if !self.labels.is_empty() {
                    return Err("labels need a spine feature group to come from".into());
                }
                None
            }
        };
        for join in &self.joins {
            join.feature_group_ref()?;
            let fg = resolve(&join.feature_group)?;
            let label = &join.feature_group;
            if fg.event_time.is_none() {
                return Err(format!("feature group '{label}' has no event_time column, so it cannot be joined as of a time"));
            }
            let pairs = join.on.pairs();
            let fg_keys: HashSet<&str> = pairs.iter().map(|(_, f)| *f).collect();
            let primary: HashSet<&str> = fg.primary_key.iter().map(String::as_str).collect();
            if fg_keys != primary || pairs.len() != primary.len() {
                return Err(format!(
                    "join on '{label}' must use its primary key ({}), got {}",
                    fg.primary_key.join(", "),
                    pairs.iter().map(|(_, f)| *f).collect::<Vec<_>>().join(", ")
                ));
            }
            for (spine_column, fg_column) in pairs {
                let fg_type = fg
                    .column(fg_column)
                    .expect("a primary-key column")
                    .column_type;
                match spine_types.get(spine_column) {
                    Some(spine_type) if *spine_type != fg_type => {
                        return Err(format!(
                            "key '{spine_column}' is {spine_type} on the spine but '{fg_column}' of '{label}' is {fg_type}"
                        ))
                    }
                    Some(_) => {}
                    None if spine.is_some() => {
                        return Err(format!("key '{spine_column}' is not a column of spine '{}'", self.spine.as_deref().unwrap_or_default()))
                    }
                    None => {
                        spine_types.insert(spine_column.to_string(), fg_type);
                    }
                }
            }
            for column in join.selected(&fg) {
                if fg.column(&column).is_none() {
                    return Err(format!(
                        "'{column}' is not a column of '{label}' (columns: {})",
                        fg.column_list()
                    ));
                }
                if fg.is_key_or_time(&column) {
                    return Err(format!("'{column}' is a key or event-time column of '{label}'; select features only"));
                }
                if !outputs.insert(column.clone()) {
                    return Err(format!("column '{column}' would appear twice in the view; select it from one feature group"));
                }
            }
        }
        for column in &self.request {
            validate_name(&column.name).map_err(|e| format!("request value {e}"))?;
            if let Some(spine) = &spine {
                match spine.column(&column.name) {
                    Some(found) if found.column_type == column.column_type => {}
                    Some(found) => {
                        return Err(format!(
                            "request value '{}' is {} but the spine's column is {}",
                            column.name, column.column_type, found.column_type
                        ))
                    }
                    None => {
                        return Err(format!(
                            "request value '{}' is not a column of spine '{}' (columns: {}), so training data cannot hold it",
                            column.name,
                            spine.name,
                            spine.column_list()
                        ))
                    }
                }
                if spine.is_key_or_time(&column.name) || self.labels.contains(&column.name) {
                    return Err(format!(
                        "request value '{}' is a key, event time or label of the spine",
                        column.name
                    ));
                }
            }
            if !outputs.insert(column.name.clone()) {
                return Err(format!(
                    "request value '{}' has the name of another column of the view",
                    column.name
                ));
            }
        }
        for feature in &self.on_demand {
            validate_name(&feature.name).map_err(|e| format!("on-demand feature {e}"))?;
            if feature.name == REQUEST_TIME || !outputs.insert(feature.name.clone()) {
                return Err(format!(
                    "on-demand feature '{}' has the name of another column of the view",
                    feature.name
                ));
            }
            if feature.expr.trim().is_empty() {
                return Err(format!(
                    "on-demand feature '{}' has an empty expr",
                    feature.name
                ));
            }
        }
        for (column, transform) in &self.transforms {
            if !outputs.contains(column) || self.labels.contains(column) {
                return Err(format!(
                    "transform for '{column}', which is not a selected feature"
                ));
            }
            if !is_known_transform(transform) {
                return Err(format!(
                    "unknown transform '{transform}' for '{column}' (known: {})",
                    TRANSFORMS.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// Differences that can be applied in place (the description only).
    pub fn compatible_changes(&self, newer: &FeatureViewSpec) -> Vec<String> {
        if self.description != newer.description {
            vec!["description".into()]
        } else {
            Vec::new()
        }
    }

    /// Everything else changes what the view means: a new version is needed.
    pub fn incompatible_changes(&self, newer: &FeatureViewSpec) -> Vec<String> {
        let mut changes = Vec::new();
        if self.spine != newer.spine {
            changes.push("spine".to_string());
        }
        if self.labels != newer.labels {
            changes.push("labels".to_string());
        }
        if self.joins != newer.joins {
            changes.push("joins".to_string());
        }
        if self.transforms != newer.transforms {
            changes.push("transforms".to_string());
        }
        if self.request != newer.request {
            changes.push("request".to_string());
        }
        if self.on_demand != newer.on_demand {
            changes.push("on_demand".to_string());
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fg(name: &str, key: &str, key_type: ColumnType, event_time: bool) -> FeatureGroupSpec {
        let mut columns = vec![
            ColumnSpec::new(key, key_type),
            ColumnSpec::new("amount", ColumnType::Float64),
        ];
        if event_time {
            columns.push(ColumnSpec::new("ts", ColumnType::Timestamp));
        }
        FeatureGroupSpec {
            name: name.into(),
            version: 1,
            primary_key: vec![key.into()],
            event_time: event_time.then(|| "ts".to_string()),
            online: true,
            ttl: None,
            description: String::new(),
            validation: Default::default(),
            expectations: Vec::new(),
            statistics: true,
            columns,
        }
    }

    fn lookup(name: &NameRef) -> Option<FeatureGroupSpec> {
        match name.name.as_str() {
            "labels" => {
                let mut spine = fg("labels", "card_id", ColumnType::Int64, true);
                spine
                    .columns
                    .push(ColumnSpec::new("is_fraud", ColumnType::Bool));
                Some(spine)
            }
            "activity" => Some(fg("activity", "card_id", ColumnType::Int64, true)),
            "profile" => Some(fg("profile", "id", ColumnType::Int64, true)),
            "static" => Some(fg("static", "card_id", ColumnType::Int64, false)),
            "text_keys" => Some(fg("text_keys", "card_id", ColumnType::String, true)),
            _ => None,
        }
    }

    fn view(joins: &str) -> FeatureViewSpec {
        toml::from_str(&format!(
            "name = \"fraud\"\nversion = 1\nspine = \"labels:1\"\nlabels = [\"is_fraud\"]\njoins = {joins}\n"
        ))
        .unwrap()
    }

    #[test]
    fn same_and_mapped_keys_validate() {
        let v = view(
            r#"[{ feature_group = "activity:1", on = ["card_id"], ttl = "7d" }, { feature_group = "profile:1", on = { card_id = "id" }, select = [] }]"#,
        );
        v.validate(&lookup).unwrap();
    }

    #[test]
    fn rejects_groups_without_event_time_and_mismatched_keys() {
        let err = view(r#"[{ feature_group = "static:1", on = ["card_id"] }]"#)
            .validate(&lookup)
            .unwrap_err();
        assert!(err.contains("'static:1' has no event_time"), "{err}");
        let err = view(r#"[{ feature_group = "text_keys:1", on = ["card_id"] }]"#)
            .validate(&lookup)
            .unwrap_err();
        assert_eq!(
            err,
            "key 'card_id' is int64 on the spine but 'card_id' of 'text_keys:1' is string"
        );
        let err = view(r#"[{ feature_group = "activity", on = ["card_id"] }]"#)
            .validate(&lookup)
            .unwrap_err();
        assert!(err.contains("must pin a version"), "{err}");
        let err = view(r#"[{ feature_group = "activity:1", on = ["card_id"] }, { feature_group = "profile:1", on = { card_id = "id" } }]"#)
            .validate(&lookup)
            .unwrap_err();
        assert!(err.contains("'amount' would appear twice"), "{err}");
    }
}
