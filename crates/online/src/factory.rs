//! Chooses the online-store backend by URL scheme.

use std::path::Path;
use std::sync::Arc;

use sluice_types::config::{local_path, split_url};

use crate::{EmbeddedOnlineStore, Error, OnlineStoreRef, RedisOnlineStore, Result};

/// The key prefix when a Redis URL names none.
pub const DEFAULT_REDIS_PREFIX: &str = "sluice";

/// Checks that `url` names a known backend, without connecting to it.
pub fn check_online_url(url: &str) -> Result<()> {
    let (scheme, _) = split_url(url).ok_or_else(|| Error::BadUrl {
        url: url.to_string(),
    })?;
    match scheme {
        "embedded" | "redis" | "rediss" => Ok(()),
        "redis+cluster" | "rediss+cluster" => cluster_nodes(url).map(|_| ()),
        other => Err(Error::UnknownScheme {
            scheme: other.to_string(),
        }),
    }
}

/// Opens the online store named by `url`; relative paths are relative to `project_dir`.
///
/// `embedded://DIR` is a redb file in DIR. `redis://HOST:PORT/DB?prefix=NAME`
/// stores every key under `NAME:` (default `sluice`), so projects can share a
/// server. `redis+cluster://HOST:PORT,HOST:PORT?prefix=NAME` is a Redis
/// Cluster reached through any of the listed nodes.
pub async fn open_online_store(url: &str, project_dir: &Path) -> Result<OnlineStoreRef> {
    let (scheme, location) = split_url(url).ok_or_else(|| Error::BadUrl {
        url: url.to_string(),
    })?;
    match scheme {
        "embedded" => Ok(Arc::new(EmbeddedOnlineStore::open(&local_path(
            project_dir,
            location,
        ))?)),
        "redis+cluster" | "rediss+cluster" => {
            let (nodes, prefix) = cluster_nodes(url)?;
            Ok(Arc::new(
                RedisOnlineStore::connect_cluster(&nodes, url, &prefix).await?,
            ))
        }
        "redis" | "rediss" => {
            let mut parsed = url::Url::parse(url).map_err(|_| Error::BadUrl {
                url: url.to_string(),
            })?;
            let prefix = parsed
                .query_pairs()
                .find(|(k, _)| k == "prefix")
                .map_or(DEFAULT_REDIS_PREFIX.to_string(), |(_, v)| v.into_owned());
            let others: Vec<(String, String)> = parsed
                .query_pairs()
                .filter(|(k, _)| k != "prefix")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            parsed.set_query(None);
            if !others.is_empty() {
                parsed.query_pairs_mut().extend_pairs(others);
            }
            Ok(Arc::new(
                RedisOnlineStore::connect(parsed.as_str(), &prefix).await?,
            ))
        }
        other => Err(Error::UnknownScheme {
            scheme: other.to_string(),
        }),
    }
}

/// The node URLs (`redis://[user:password@]host:port`, the query passed on)
/// and the key prefix of a `redis+cluster://` URL. A cluster has only
/// database 0, so any other database is refused.
fn cluster_nodes(url: &str) -> Result<(Vec<String>, String)> {
    let bad = || Error::BadUrl {
        url: url.to_string(),
    };
    let (scheme, rest) = split_url(url).ok_or_else(bad)?;
    let node_scheme = scheme.strip_suffix("+cluster").ok_or_else(bad)?;
    let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, database) = location.split_once('/').unwrap_or((location, ""));
    if !matches!(database, "" | "0") {
        return Err(Error::ClusterDatabase {
            url: url.to_string(),
        });
    }
    let (credentials, hosts) = match authority.rsplit_once('@') {
        Some((credentials, hosts)) => (format!("{credentials}@"), hosts),
        None => (String::new(), authority),
    };
    let mut prefix = DEFAULT_REDIS_PREFIX.to_string();
    let mut passed = Vec::new();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if key == "prefix" {
            prefix = value.into_owned();
        } else {
            passed.push((key.into_owned(), value.into_owned()));
        }
    }
    let suffix = if passed.is_empty() {
        String::new()
    } else {
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(passed)
            .finish();
        format!("?{query}")
    };
    let nodes: Vec<String> = hosts
        .split(',')
        .map(|host| {
            if host.is_empty() {
                return Err(bad());
            }
            let node = format!("{node_scheme}://{credentials}{host}{suffix}");
            url::Url::parse(&node).map_err(|_| bad())?;
            Ok(node)
        })
        .collect::<Result<_>>()?;
    Ok((nodes, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_urls_list_their_nodes_with_credentials_and_options() {
        let (nodes, prefix) =
            cluster_nodes("redis+cluster://u:p@h1:7001,h2:7002/0?prefix=prod&protocol=resp3")
                .unwrap();
        assert_eq!(
            nodes,
            [
                "redis://u:p@h1:7001?protocol=resp3",
                "redis://u:p@h2:7002?protocol=resp3"
            ]
        );
        assert_eq!(prefix, "prod");
        let (nodes, prefix) = cluster_nodes("rediss+cluster://h1:7001").unwrap();
        assert_eq!(nodes, ["rediss://h1:7001"]);
        assert_eq!(prefix, DEFAULT_REDIS_PREFIX);
    }

    #[test]
    fn cluster_urls_with_a_database_or_an_empty_node_are_refused() {
        let err = cluster_nodes("redis+cluster://h1:7001/3").unwrap_err();
        assert!(
            matches!(err, Error::ClusterDatabase { .. }) && err.to_string().contains("/3"),
            "{err}"
        );
        assert!(matches!(
            cluster_nodes("redis+cluster://h1:7001,,h2:7002"),
            Err(Error::BadUrl { .. })
        ));
        assert!(matches!(
            check_online_url("redis+cluster://h1:notaport"),
            Err(Error::BadUrl { .. })
        ));
    }
}
