//! Opening a catalog database: the checks that turn an unreadable SQLite
//! file into a clear error at once, and the connection pool for each dialect.

use std::path::Path;

use sqlx::any::AnyPoolOptions;

use super::{schema, Dialect, SqlCatalog};
use crate::error::db;
use crate::{Error, Result};

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
        schema::migrate(&catalog).await?;
        Ok(catalog)
    }
}
