//! API keys with scopes: `read` for feature vectors and predictions,
//! `write` for pushing rows. No key configured leaves every route open.

use std::collections::HashMap;

use axum::http::HeaderMap;
use sluice_types::config::ApiKeyConfig;

use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Read,
    Write,
}

impl Scope {
    fn name(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
        }
    }
}

/// Keys are held as their blake3 digests: no plaintext key stays in memory,
/// and a lookup compares digests of the attacker's guess, so its timing says
/// nothing about how much of a real key a guess matched.
#[derive(Debug, Default)]
pub struct ApiKeys {
    scopes: HashMap<[u8; 32], Vec<Scope>>,
}

fn digest(key: &str) -> [u8; 32] {
    *blake3::hash(key.as_bytes()).as_bytes()
}

impl ApiKeys {
    pub fn from_config(keys: &[ApiKeyConfig]) -> Result<Self> {
        let mut scopes = HashMap::new();
        for (i, entry) in keys.iter().enumerate() {
            let what = format!("server.api_keys[{i}]");
            let key = match (&entry.key, &entry.key_env) {
                (Some(key), None) => key.clone(),
                (None, Some(var)) => std::env::var(var).map_err(|_| {
                    Error::Config(format!("{what}: environment variable {var} is not set"))
                })?,
                _ => {
                    return Err(Error::Config(format!(
                        "{what}: give exactly one of key or key_env"
                    )))
                }
            };
            if key.len() < 16 {
                return Err(Error::Config(format!(
                    "{what}: a key must be at least 16 characters"
                )));
            }
            let parsed = entry
                .scopes
                .iter()
                .map(|s| match s.as_str() {
                    "read" => Ok(Scope::Read),
                    "write" => Ok(Scope::Write),
                    other => Err(Error::Config(format!(
                        "{what}: unknown scope '{other}' (read, write)"
                    ))),
                })
                .collect::<Result<Vec<_>>>()?;
            if parsed.is_empty() {
                return Err(Error::Config(format!("{what}: give at least one scope")));
            }
            scopes.insert(digest(&key), parsed);
        }
        Ok(Self { scopes })
    }

    pub fn is_open(&self) -> bool {
        self.scopes.is_empty()
    }

    /// The request's key (`Authorization: Bearer K` or `X-API-Key: K`) must hold `scope`.
    pub fn check(&self, headers: &HeaderMap, scope: Scope) -> Result<()> {
        if self.is_open() {
            return Ok(());
        }
        let bearer = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let given = bearer.or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()));
        let Some(key) = given else {
            return Err(Error::MissingKey);
        };
        let scopes = self
            .scopes
            .get(&digest(key.trim()))
            .ok_or(Error::InvalidKey)?;
        if scopes.contains(&scope) {
            Ok(())
        } else {
            Err(Error::Forbidden {
                scope: scope.name(),
            })
        }
    }
}
