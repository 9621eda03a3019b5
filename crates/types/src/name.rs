//! Names of feature groups and other versioned objects, and `NAME[:VERSION]` references.

use std::fmt;

use crate::{Error, Result};

const MAX_NAME_LEN: usize = 64;

/// Checks that `name` is safe to use as an identifier, a table name and a path
/// segment: ASCII letters, digits and `_`, starting with a letter or `_`.
pub fn validate_name(name: &str) -> Result<()> {
    let invalid = |reason: &str| Error::InvalidName {
        name: name.to_string(),
        reason: reason.to_string(),
    };
    let mut chars = name.chars();
    match chars.next() {
        None => return Err(invalid("names cannot be empty")),
        Some(c) if !(c.is_ascii_alphabetic() || c == '_') => {
            return Err(invalid("names start with a letter or '_'"))
        }
        _ => {}
    }
    if name.len() > MAX_NAME_LEN {
        return Err(invalid("names are at most 64 characters"));
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(invalid("names hold only ASCII letters, digits and '_'"));
    }
    Ok(())
}

/// A reference `NAME[:VERSION]`; no version means "the latest".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameRef {
    /// The object's name, checked by [`validate_name`].
    pub name: String,
    /// A version of 1 or more; `None` for the latest.
    pub version: Option<u32>,
}

impl NameRef {
    /// Parses `NAME` or `NAME:VERSION`, refusing an invalid name and a version
    /// that is not a positive integer.
    pub fn parse(text: &str) -> Result<Self> {
        let (name, version) = match text.split_once(':') {
            Some((name, version)) => {
                let parsed = version
                    .parse::<u32>()
                    .ok()
                    .filter(|v| *v > 0)
                    .ok_or_else(|| Error::InvalidName {
                        name: text.to_string(),
                        reason: format!("version '{version}' is not a positive integer"),
                    })?;
                (name, Some(parsed))
            }
            None => (text, None),
        };
        validate_name(name)?;
        Ok(Self {
            name: name.to_string(),
            version,
        })
    }
}

impl fmt::Display for NameRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.version {
            Some(v) => write!(f, "{}:{v}", self.name),
            None => write!(f, "{}", self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_name_and_version() {
        assert_eq!(
            NameRef::parse("card_activity:2").unwrap(),
            NameRef {
                name: "card_activity".into(),
                version: Some(2)
            }
        );
        assert_eq!(NameRef::parse("fg").unwrap().version, None);
    }

    #[test]
    fn rejects_traversal_and_bad_versions() {
        for bad in [
            "../etc", "a/b", "", "1abc", "fg:0", "fg:x", "fg;drop", "a b",
        ] {
            assert!(NameRef::parse(bad).is_err(), "{bad} should be rejected");
        }
    }
}
