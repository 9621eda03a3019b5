//! `NAME`, `NAME:VERSION` and `NAME@ALIAS`: how commands, definitions,
//! pipelines and the server name a model version, parsed in one place.

use std::fmt;
use std::str::FromStr;

use crate::name::validate_name;
use crate::{Error, NameRef, Result};

/// Which version of a model a reference picks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ModelSelector {
    /// The newest registered version.
    Latest,
    /// A version number, 1 or more.
    Version(u32),
    /// The version an alias (`production`, `staging`) points at now.
    Alias(String),
}

/// A model version as users write it: `fraud`, `fraud:3` or `fraud@production`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelRef {
    /// The model's name.
    pub name: String,
    /// Which of its versions.
    pub selector: ModelSelector,
}

impl ModelRef {
    /// Parses `NAME`, `NAME:VERSION` or `NAME@ALIAS`; the name and alias must
    /// be valid names and the version a positive integer.
    pub fn parse(text: &str) -> Result<Self> {
        if let Some((name, alias)) = text.split_once('@') {
            validate_name(name)?;
            validate_name(alias).map_err(|e| match e {
                Error::InvalidName { reason, .. } => Error::InvalidName {
                    name: text.to_string(),
                    reason: format!("alias '{alias}': {reason}"),
                },
                other => other,
            })?;
            return Ok(Self {
                name: name.to_string(),
                selector: ModelSelector::Alias(alias.to_string()),
            });
        }
        let NameRef { name, version } = NameRef::parse(text)?;
        Ok(Self {
            name,
            selector: version.map_or(ModelSelector::Latest, ModelSelector::Version),
        })
    }

    /// The same model at a given version.
    pub fn version(name: impl Into<String>, version: u32) -> Self {
        Self {
            name: name.into(),
            selector: ModelSelector::Version(version),
        }
    }
}

impl FromStr for ModelRef {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        Self::parse(text)
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.selector {
            ModelSelector::Latest => write!(f, "{}", self.name),
            ModelSelector::Version(v) => write!(f, "{}:{v}", self.name),
            ModelSelector::Alias(alias) => write!(f, "{}@{alias}", self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_forms_parse_and_print_back() {
        for (text, selector) in [
            ("fraud", ModelSelector::Latest),
            ("fraud:3", ModelSelector::Version(3)),
            (
                "fraud@production",
                ModelSelector::Alias("production".into()),
            ),
        ] {
            let parsed = ModelRef::parse(text).unwrap();
            assert_eq!(parsed.name, "fraud");
            assert_eq!(parsed.selector, selector);
            assert_eq!(parsed.to_string(), text);
        }
    }

    #[test]
    fn bad_names_versions_and_aliases_are_refused_naming_the_text() {
        for (text, needle) in [
            ("fraud:0", "not a positive integer"),
            ("fraud:x", "not a positive integer"),
            ("fr aud", "ASCII letters"),
            ("fraud@", "alias '': names cannot be empty"),
            ("fraud@pro duction", "alias 'pro duction'"),
            ("@production", "names cannot be empty"),
        ] {
            let err = ModelRef::parse(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}
