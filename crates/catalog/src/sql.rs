//! The catalog's SQL: one schema and one set of statements for SQLite and PostgreSQL.

use std::path::Path;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::any::AnyPoolOptions;
use sqlx::Row;
use sqlx::{AnyPool, AssertSqlSafe};

use crate::error::db;
use sluice_types::{ModelSpec, TrainingDatasetSpec};

use crate::records::{
    Catalog, CatalogChange, CommitOperation, CommitRecord, FeatureGroupRecord, FeatureViewRecord,
    ModelRecord, ModelVersion, PlaceFiles, TrainingDatasetRecord, Versioned,
};
use crate::runs::{RunProgress, RunRecord, RunStatus};
use crate::{Error, Result};

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS feature_groups (
        name TEXT NOT NULL,
        version BIGINT NOT NULL,
        spec TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (name, version))",
    "CREATE TABLE IF NOT EXISTS feature_views (
        name TEXT NOT NULL,
        version BIGINT NOT NULL,
        spec TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (name, version))",
    "CREATE TABLE IF NOT EXISTS training_datasets (
        feature_view TEXT NOT NULL,
        view_version BIGINT NOT NULL,
        version BIGINT NOT NULL,
        spec TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (feature_view, view_version, version))",
    "CREATE TABLE IF NOT EXISTS feature_group_commits (
        name TEXT NOT NULL,
        version BIGINT NOT NULL,
        offline_version BIGINT NOT NULL,
        operation TEXT NOT NULL,
        rows_affected BIGINT NOT NULL,
        committed_at BIGINT NOT NULL,
        source TEXT NOT NULL,
        PRIMARY KEY (name, version, offline_version))",
    "CREATE TABLE IF NOT EXISTS pipeline_runs (
        id BIGINT NOT NULL PRIMARY KEY,
        pipeline TEXT NOT NULL,
        sink TEXT NOT NULL,
        status TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        ended_at BIGINT,
        rows_in BIGINT NOT NULL,
        rows_out BIGINT NOT NULL,
        offline_version BIGINT,
        error TEXT,
        state TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS models (
        name TEXT NOT NULL,
        version BIGINT NOT NULL,
        spec TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (name, version))",
    "CREATE TABLE IF NOT EXISTS model_aliases (
        name TEXT NOT NULL,
        alias TEXT NOT NULL,
        version BIGINT NOT NULL,
        PRIMARY KEY (name, alias))",
];

/// The SQL dialects the catalog runs on; the statements are the same, only opening differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
}

/// Checks an existing file's SQLite header and length: a file cut short (a
/// copy that did not finish, a full disk) may still open, and then answer
/// with whatever pages it kept.
fn check_sqlite_header(path: &Path) -> std::result::Result<(), String> {
    use std::io::Read;
    let mut header = [0u8; 100];
    let (length, read) = match std::fs::File::open(path) {
        Ok(mut file) => {
            let length = file.metadata().map_err(|e| e.to_string())?.len();
            let read = file.read(&mut header).map_err(|e| e.to_string())?;
            (length, read)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.to_string()),
    };
    if length == 0 {
        return Ok(());
    }
    if read < header.len() || !header.starts_with(b"SQLite format 3\0") {
        return Err("it is not a SQLite database".into());
    }
    let page_size = match u16::from_be_bytes([header[16], header[17]]) {
        1 => 65_536,
        size => u64::from(size),
    };
    let word = |at: usize| {
        u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    // The size in the header counts only when it was written with the last
    // change (offset 92 equals the change counter at 24), and the file is
    // at rest only without a write-ahead log: while one exists, a
    // checkpoint may be moving pages into the file.
    let wal = std::path::PathBuf::from(format!("{}-wal", path.display()));
    if word(92) != word(24) || wal.exists() {
        return Ok(());
    }
    let pages = u64::from(word(28));
    if length < page_size * pages {
        return Err(format!(
            "it is truncated: its header gives {pages} pages of {page_size} bytes, the file holds {length} bytes"
        ));
    }
    Ok(())
}

/// Reads a SQLite file's schema on one connection of its own. The pool
/// retries a connection that fails until its acquire timeout (30 s) and then
/// reports only "pool timed out"; a file that is not a database fails here
/// at once with SQLite's own reason.
async fn check_sqlite_file(url: &str) -> std::result::Result<(), sqlx::Error> {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut connection = sqlx::AnyConnection::connect(url).await?;
    sqlx::query("SELECT count(*) FROM sqlite_master")
        .fetch_one(&mut connection)
        .await?;
    sqlx::query("PRAGMA quick_check(1)")
        .fetch_one(&mut connection)
        .await
        .and_then(|row| {
            use sqlx::Row;
            let verdict: String = row.try_get(0)?;
            match verdict.as_str() {
                "ok" => Ok(()),
                other => Err(sqlx::Error::Protocol(format!("integrity check: {other}"))),
            }
        })?;
    connection.close().await
}

/// The catalog on SQLite (embedded default) or PostgreSQL (shared), through
/// one code path: sqlx's `Any` driver and SQL both dialects accept.
pub struct SqlCatalog {
    pool: AnyPool,
    dialect: Dialect,
}

impl SqlCatalog {
    /// Opens (creating if needed) a SQLite catalog file, in WAL mode so that readers never block.
    pub async fn open_sqlite(path: &Path) -> Result<Self> {
        let open_error = |message: String| Error::Open {
            path: path.to_path_buf(),
            message,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                open_error(format!(
                    "cannot create its folder {}: {e}",
                    parent.display()
                ))
            })?;
        }
        let url = format!("sqlite://{}?mode=rwc", path.display());
        check_sqlite_header(path).map_err(open_error)?;
        check_sqlite_file(&url).await.map_err(|e| {
            open_error(format!(
                "{} (a file that is not a SQLite database, or a truncated one, cannot be read)",
                e.to_string().trim()
            ))
        })?;
        Self::open(&url, Dialect::Sqlite).await
    }

    /// Connects to PostgreSQL (`postgres://user@host:port/db`).
    pub async fn open_postgres(url: &str) -> Result<Self> {
        Self::open(url, Dialect::Postgres).await
    }

    async fn open(url: &str, dialect: Dialect) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let mut options = AnyPoolOptions::new().max_connections(8);
        if dialect == Dialect::Sqlite {
            options = options.max_connections(4).after_connect(|connection, _| {
                Box::pin(async move {
                    // Several processes may share the file: wait for a writer rather than fail.
                    sqlx::query("PRAGMA busy_timeout = 10000")
                        .execute(&mut *connection)
                        .await?;
                    sqlx::query("PRAGMA journal_mode = WAL")
                        .execute(&mut *connection)
                        .await?;
                    Ok(())
                })
            });
        }
        let pool = options.connect(url).await.map_err(db("open"))?;
        let catalog = Self { pool, dialect };
        catalog.migrate(dialect).await?;
        Ok(catalog)
    }

    /// A transaction that will write. On SQLite it takes the write lock at
    /// `BEGIN IMMEDIATE`, waiting (busy_timeout) for another writer: a plain
    /// `BEGIN` reads first and must then upgrade to a writer, which SQLite
    /// refuses at once ("database is locked") while another connection holds
    /// the lock, so two writers failed instead of taking turns.
    async fn begin_write(
        &self,
    ) -> std::result::Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.dialect {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Dialect::Postgres => self.pool.begin().await,
        }
    }

    /// Brings the schema to the current version. Every statement is idempotent;
    /// on PostgreSQL an advisory lock keeps concurrent first opens from racing.
    async fn migrate(&self, dialect: Dialect) -> Result<()> {
        let mut tx = self.begin_write().await.map_err(db("migrate"))?;
        if dialect == Dialect::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(7418250101)")
                .execute(&mut *tx)
                .await
                .map_err(db("migrate"))?;
        }
        for statement in SCHEMA {
            sqlx::query(*statement)
                .execute(&mut *tx)
                .await
                .map_err(db("migrate"))?;
        }
        tx.commit().await.map_err(db("migrate"))
    }
}

fn micros_to_time(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

/// The kinds of versioned definitions, each in its own table of the same shape.
#[derive(Debug, Clone, Copy)]
enum Kind {
    FeatureGroup,
    FeatureView,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::FeatureGroup => "feature group",
            Kind::FeatureView => "feature view",
        }
    }

    /// Fixed table names, never derived from input.
    fn table(self) -> &'static str {
        match self {
            Kind::FeatureGroup => "feature_groups",
            Kind::FeatureView => "feature_views",
        }
    }
}

fn parse_spec<T: DeserializeOwned>(name: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt {
        name: name.to_string(),
        message: e.to_string(),
    })
}

fn spec_json<T: Serialize>(spec: &T) -> String {
    serde_json::to_string(spec).expect("a spec always serialises")
}

/// Every model alias, as (name, version, alias), ordered by alias.
struct Aliases(Vec<(String, u32, String)>);

impl Aliases {
    /// The aliases pointing at `name` `version`.
    fn of(&self, name: &str, version: u32) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, v, _)| n == name && *v == version)
            .map(|(_, _, alias)| alias.clone())
            .collect()
    }
}

impl SqlCatalog {
    async fn aliases(&self) -> Result<Aliases> {
        let rows = sqlx::query("SELECT name, version, alias FROM model_aliases ORDER BY alias")
            .fetch_all(&self.pool)
            .await
            .map_err(db("list model aliases"))?;
        Ok(Aliases(
            rows.iter()
                .map(|row| (row.get(0), row.get::<i64, _>(1) as u32, row.get(2)))
                .collect(),
        ))
    }

    async fn list<T: DeserializeOwned>(&self, kind: Kind) -> Result<Vec<Versioned<T>>> {
        let sql = format!(
            "SELECT name, spec, created_at FROM {} ORDER BY name, version",
            kind.table()
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await
            .map_err(db("list"))?;
        rows.iter()
            .map(|row| {
                let name: String = row.get(0);
                Ok(Versioned {
                    spec: parse_spec(&name, row.get(1))?,
                    created_at: micros_to_time(row.get(2)),
                })
            })
            .collect()
    }

    async fn get<T: DeserializeOwned>(
        &self,
        kind: Kind,
        name: &str,
        version: Option<u32>,
    ) -> Result<Versioned<T>> {
        let sql = format!(
            "SELECT version FROM {} WHERE name = $1 ORDER BY version",
            kind.table()
        );
        let versions: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(sql))
            .bind(name)
            .fetch_all(&self.pool)
            .await
            .map_err(db("read"))?;
        let Some(latest) = versions.last().copied() else {
            let sql = format!("SELECT DISTINCT name FROM {} ORDER BY name", kind.table());
            let known = sqlx::query_scalar(AssertSqlSafe(sql))
                .fetch_all(&self.pool)
                .await
                .map_err(db("list"))?;
            return Err(Error::NotFound {
                kind: kind.label(),
                name: name.to_string(),
                known,
            });
        };
        let wanted = version.map_or(latest, i64::from);
        if !versions.contains(&wanted) {
            return Err(Error::VersionNotFound {
                kind: kind.label(),
                name: name.to_string(),
                version: version.unwrap_or_default(),
                available: versions.iter().map(|v| *v as u32).collect(),
            });
        }
        let sql = format!(
            "SELECT spec, created_at FROM {} WHERE name = $1 AND version = $2",
            kind.table()
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(name)
            .bind(wanted)
            .fetch_one(&self.pool)
            .await
            .map_err(db("read"))?;
        Ok(Versioned {
            spec: parse_spec(name, row.get(0))?,
            created_at: micros_to_time(row.get(1)),
        })
    }
}

async fn insert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    kind: Kind,
    name: &str,
    version: u32,
    spec: String,
    now: i64,
) -> Result<()> {
    let sql = format!(
        "INSERT INTO {} (name, version, spec, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (name, version) DO NOTHING",
        kind.table()
    );
    let inserted = sqlx::query(AssertSqlSafe(sql))
        .bind(name)
        .bind(i64::from(version))
        .bind(spec)
        .bind(now)
        .execute(&mut **tx)
        .await
        .map_err(db("register"))?;
    if inserted.rows_affected() == 0 {
        return Err(Error::AlreadyExists {
            kind: kind.label(),
            name: name.to_string(),
            version,
        });
    }
    Ok(())
}

async fn update(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    kind: Kind,
    name: &str,
    version: u32,
    spec: String,
) -> Result<()> {
    let sql = format!(
        "UPDATE {} SET spec = $1 WHERE name = $2 AND version = $3",
        kind.table()
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(spec)
        .bind(name)
        .bind(i64::from(version))
        .execute(&mut **tx)
        .await
        .map_err(db("update"))?;
    Ok(())
}

#[async_trait]
impl Catalog for SqlCatalog {
    async fn feature_groups(&self) -> Result<Vec<FeatureGroupRecord>> {
        self.list(Kind::FeatureGroup).await
    }

    async fn feature_group(&self, name: &str, version: Option<u32>) -> Result<FeatureGroupRecord> {
        self.get(Kind::FeatureGroup, name, version).await
    }

    async fn feature_views(&self) -> Result<Vec<FeatureViewRecord>> {
        self.list(Kind::FeatureView).await
    }

    async fn feature_view(&self, name: &str, version: Option<u32>) -> Result<FeatureViewRecord> {
        self.get(Kind::FeatureView, name, version).await
    }

    async fn create_training_dataset(
        &self,
        spec: &TrainingDatasetSpec,
        place: PlaceFiles<'_>,
    ) -> Result<u32> {
        let mut tx = self
            .begin_write()
            .await
            .map_err(db("begin training dataset"))?;
        let latest: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(version) FROM training_datasets WHERE feature_view = $1 AND view_version = $2",
        )
        .bind(&spec.feature_view)
        .bind(i64::from(spec.feature_view_version))
        .fetch_one(&mut *tx)
        .await
        .map_err(db("number training dataset"))?;
        let version = latest.unwrap_or(0) + 1;
        // A concurrent create that took the same number fails on the primary key: nothing half-written.
        sqlx::query(
            "INSERT INTO training_datasets (feature_view, view_version, version, spec, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&spec.feature_view)
        .bind(i64::from(spec.feature_view_version))
        .bind(version)
        .bind(spec_json(spec))
        .bind(Utc::now().timestamp_micros())
        .execute(&mut *tx)
        .await
        .map_err(db("record training dataset"))?;
        // The insert holds the number (a concurrent create waits on it or
        // fails), so the files can take it before the record becomes visible.
        place(version as u32).map_err(|message| Error::NotPlaced {
            kind: "training dataset of feature view",
            name: format!("{}:{}", spec.feature_view, spec.feature_view_version),
            version: version as u32,
            message,
        })?;
        tx.commit().await.map_err(db("record training dataset"))?;
        Ok(version as u32)
    }

    async fn training_dataset(
        &self,
        feature_view: &str,
        view_version: u32,
        version: u32,
    ) -> Result<TrainingDatasetRecord> {
        let all = self.training_datasets().await?;
        let mine: Vec<&TrainingDatasetRecord> = all
            .iter()
            .filter(|r| {
                r.spec.feature_view == feature_view && r.spec.feature_view_version == view_version
            })
            .collect();
        match mine.iter().find(|r| r.version == version) {
            Some(record) => Ok((*record).clone()),
            None => Err(Error::VersionNotFound {
                kind: "training dataset of feature view",
                name: format!("{feature_view}:{view_version}"),
                version,
                available: mine.iter().map(|r| r.version).collect(),
            }),
        }
    }

    async fn training_datasets(&self) -> Result<Vec<TrainingDatasetRecord>> {
        let rows = sqlx::query(
            "SELECT feature_view, version, spec, created_at FROM training_datasets
             ORDER BY feature_view, view_version, version",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db("list training datasets"))?;
        rows.iter()
            .map(|row| {
                let name: String = row.get(0);
                Ok(TrainingDatasetRecord {
                    version: row.get::<i64, _>(1) as u32,
                    spec: parse_spec(&name, row.get(2))?,
                    created_at: micros_to_time(row.get(3)),
                })
            })
            .collect()
    }

    async fn apply(&self, changes: &[CatalogChange]) -> Result<()> {
        let mut tx = self.begin_write().await.map_err(db("begin apply"))?;
        let now = Utc::now().timestamp_micros();
        for change in changes {
            match change {
                CatalogChange::CreateFeatureGroup(spec) => {
                    insert(
                        &mut tx,
                        Kind::FeatureGroup,
                        &spec.name,
                        spec.version,
                        spec_json(spec),
                        now,
                    )
                    .await?
                }
                CatalogChange::UpdateFeatureGroup(spec) => {
                    update(
                        &mut tx,
                        Kind::FeatureGroup,
                        &spec.name,
                        spec.version,
                        spec_json(spec),
                    )
                    .await?
                }
                CatalogChange::CreateFeatureView(spec) => {
                    insert(
                        &mut tx,
                        Kind::FeatureView,
                        &spec.name,
                        spec.version,
                        spec_json(spec),
                        now,
                    )
                    .await?
                }
                CatalogChange::UpdateFeatureView(spec) => {
                    update(
                        &mut tx,
                        Kind::FeatureView,
                        &spec.name,
                        spec.version,
                        spec_json(spec),
                    )
                    .await?
                }
            }
        }
        tx.commit().await.map_err(db("commit apply"))
    }

    async fn record_commit(&self, name: &str, version: u32, commit: &CommitRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO feature_group_commits
                (name, version, offline_version, operation, rows_affected, committed_at, source)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (name, version, offline_version) DO NOTHING",
        )
        .bind(name)
        .bind(i64::from(version))
        .bind(commit.offline_version as i64)
        .bind(commit.operation.to_string())
        .bind(commit.rows as i64)
        .bind(commit.committed_at.timestamp_micros())
        .bind(&commit.source)
        .execute(&self.pool)
        .await
        .map_err(db("record commit"))?;
        Ok(())
    }

    async fn commits(&self, name: &str, version: u32) -> Result<Vec<CommitRecord>> {
        let rows = sqlx::query(
            "SELECT offline_version, operation, rows_affected, committed_at, source FROM feature_group_commits
             WHERE name = $1 AND version = $2 ORDER BY offline_version",
        )
        .bind(name)
        .bind(i64::from(version))
        .fetch_all(&self.pool)
        .await
        .map_err(db("read commits"))?;
        rows.iter()
            .map(|row| {
                let operation: String = row.get(1);
                Ok(CommitRecord {
                    offline_version: row.get::<i64, _>(0) as u64,
                    operation: CommitOperation::parse(&operation).ok_or_else(|| {
                        Error::Corrupt {
                            name: name.to_string(),
                            message: format!("unknown commit operation '{operation}'"),
                        }
                    })?,
                    rows: row.get::<i64, _>(2) as u64,
                    committed_at: micros_to_time(row.get(3)),
                    source: row.get(4),
                })
            })
            .collect()
    }

    async fn start_run(&self, pipeline: &str, sink: &str) -> Result<u64> {
        // Ids are taken as MAX + 1 inside the insert; a concurrent start that
        // took the same id fails on the primary key and tries the next one.
        let mut attempts = 0;
        loop {
            let inserted = sqlx::query(
                "INSERT INTO pipeline_runs
                    (id, pipeline, sink, status, started_at, rows_in, rows_out, state)
                 SELECT COALESCE(MAX(id), 0) + 1, $1, $2, 'running', $3, 0, 0, 'null' FROM pipeline_runs
                 RETURNING id",
            )
            .bind(pipeline)
            .bind(sink)
            .bind(Utc::now().timestamp_micros())
            .fetch_one(&self.pool)
            .await;
            match inserted {
                Ok(row) => return Ok(row.get::<i64, _>(0) as u64),
                Err(e) if attempts < 5 && is_unique_violation(&e) => attempts += 1,
                Err(e) => return Err(db("start run")(e)),
            }
        }
    }

    async fn update_run(&self, id: u64, progress: &RunProgress) -> Result<()> {
        let ended_at =
            (progress.status != RunStatus::Running).then(|| Utc::now().timestamp_micros());
        let updated = sqlx::query(
            "UPDATE pipeline_runs SET status = $1, ended_at = $2, rows_in = $3, rows_out = $4,
                 offline_version = $5, error = $6, state = $7
             WHERE id = $8",
        )
        .bind(progress.status.as_str())
        .bind(ended_at)
        .bind(progress.rows_in as i64)
        .bind(progress.rows_out as i64)
        .bind(progress.offline_version.map(|v| v as i64))
        .bind(progress.error.as_deref())
        .bind(progress.state.to_string())
        .bind(id as i64)
        .execute(&self.pool)
        .await
        .map_err(db("update run"))?;
        if updated.rows_affected() == 0 {
            return Err(Error::NotFound {
                kind: "run",
                name: id.to_string(),
                known: Vec::new(),
            });
        }
        Ok(())
    }

    async fn runs(&self, pipeline: Option<&str>) -> Result<Vec<RunRecord>> {
        let rows = sqlx::query(
            "SELECT id, pipeline, sink, status, started_at, ended_at, rows_in, rows_out,
                    offline_version, error, state
             FROM pipeline_runs WHERE $1 IS NULL OR pipeline = $1 ORDER BY id DESC",
        )
        .bind(pipeline)
        .fetch_all(&self.pool)
        .await
        .map_err(db("list runs"))?;
        rows.iter()
            .map(|row| {
                let id = row.get::<i64, _>(0) as u64;
                let corrupt = |message: String| Error::Corrupt {
                    name: format!("run {id}"),
                    message,
                };
                let status: String = row.get(3);
                let state: String = row.get(10);
                Ok(RunRecord {
                    id,
                    pipeline: row.get(1),
                    sink: row.get(2),
                    started_at: micros_to_time(row.get(4)),
                    ended_at: row.get::<Option<i64>, _>(5).map(micros_to_time),
                    progress: RunProgress {
                        status: RunStatus::parse(&status)
                            .ok_or_else(|| corrupt(format!("unknown status '{status}'")))?,
                        rows_in: row.get::<i64, _>(6) as u64,
                        rows_out: row.get::<i64, _>(7) as u64,
                        offline_version: row.get::<Option<i64>, _>(8).map(|v| v as u64),
                        error: row.get(9),
                        state: serde_json::from_str(&state).map_err(|e| corrupt(e.to_string()))?,
                    },
                })
            })
            .collect()
    }

    async fn register_model(&self, spec: &ModelSpec) -> Result<u32> {
        let mut attempts = 0;
        loop {
            let inserted = sqlx::query(
                "INSERT INTO models (name, version, spec, created_at)
                 SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3 FROM models WHERE name = $1
                 RETURNING version",
            )
            .bind(&spec.name)
            .bind(spec_json(spec))
            .bind(Utc::now().timestamp_micros())
            .fetch_one(&self.pool)
            .await;
            match inserted {
                Ok(row) => return Ok(row.get::<i64, _>(0) as u32),
                Err(e) if attempts < 5 && is_unique_violation(&e) => attempts += 1,
                Err(e) => return Err(db("register model")(e)),
            }
        }
    }

    async fn models(&self) -> Result<Vec<ModelRecord>> {
        let aliases = self.aliases().await?;
        let rows = sqlx::query(
            "SELECT name, version, spec, created_at FROM models ORDER BY name, version",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db("list models"))?;
        rows.iter()
            .map(|row| {
                let name: String = row.get(0);
                let version = row.get::<i64, _>(1) as u32;
                Ok(ModelRecord {
                    version,
                    aliases: aliases.of(&name, version),
                    spec: parse_spec(&name, row.get(2))?,
                    created_at: micros_to_time(row.get(3)),
                })
            })
            .collect()
    }

    async fn model_versions(&self) -> Result<Vec<ModelVersion>> {
        let aliases = self.aliases().await?;
        let rows = sqlx::query("SELECT name, version FROM models ORDER BY name, version")
            .fetch_all(&self.pool)
            .await
            .map_err(db("list model versions"))?;
        Ok(rows
            .iter()
            .map(|row| {
                let name: String = row.get(0);
                let version = row.get::<i64, _>(1) as u32;
                ModelVersion {
                    aliases: aliases.of(&name, version),
                    name,
                    version,
                }
            })
            .collect())
    }

    async fn model(&self, name: &str, version: Option<u32>) -> Result<ModelRecord> {
        let all = self.models().await?;
        let mine: Vec<&ModelRecord> = all.iter().filter(|m| m.spec.name == name).collect();
        if mine.is_empty() {
            let mut known: Vec<String> = all.iter().map(|m| m.spec.name.clone()).collect();
            known.dedup();
            return Err(Error::NotFound {
                kind: "model",
                name: name.to_string(),
                known,
            });
        }
        let found = match version {
            Some(v) => mine.iter().find(|m| m.version == v),
            None => mine.last(),
        };
        found
            .map(|m| (*m).clone())
            .ok_or_else(|| Error::VersionNotFound {
                kind: "model",
                name: name.to_string(),
                version: version.unwrap_or_default(),
                available: mine.iter().map(|m| m.version).collect(),
            })
    }

    async fn model_by_alias(&self, name: &str, alias: &str) -> Result<ModelRecord> {
        let version: Option<i64> =
            sqlx::query_scalar("SELECT version FROM model_aliases WHERE name = $1 AND alias = $2")
                .bind(name)
                .bind(alias)
                .fetch_optional(&self.pool)
                .await
                .map_err(db("read model alias"))?;
        match version {
            Some(v) => self.model(name, Some(v as u32)).await,
            None => Err(Error::NotFound {
                kind: "model alias",
                name: format!("{name}@{alias}"),
                known: Vec::new(),
            }),
        }
    }

    async fn set_alias(&self, name: &str, alias: &str, version: u32) -> Result<Option<u32>> {
        sluice_types::name::validate_name(alias).map_err(|source| Error::InvalidAlias {
            model: name.to_string(),
            source: Box::new(source),
        })?;
        self.model(name, Some(version)).await?;
        let mut tx = self.begin_write().await.map_err(db("set model alias"))?;
        // SQLite's BEGIN IMMEDIATE already excludes other writers; PostgreSQL
        // needs the row locked so that a concurrent move waits for this one.
        let lock = match self.dialect {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        };
        let previous: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT version FROM model_aliases WHERE name = $1 AND alias = $2{lock}"
        )))
        .bind(name)
        .bind(alias)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db("set model alias"))?;
        sqlx::query(
            "INSERT INTO model_aliases (name, alias, version) VALUES ($1, $2, $3)
             ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version",
        )
        .bind(name)
        .bind(alias)
        .bind(i64::from(version))
        .execute(&mut *tx)
        .await
        .map_err(db("set model alias"))?;
        tx.commit().await.map_err(db("set model alias"))?;
        Ok(previous.map(|v| v as u32))
    }
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}
