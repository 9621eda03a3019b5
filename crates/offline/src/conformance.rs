//! The conformance suite every [`OfflineStore`](crate::OfflineStore) backend must pass.
//!
//! A backend's test file adds one line:
//! `sluice_offline::offline_store_conformance!(|| async { /* a fresh fixture */ });`
//! The factory returns a [`Fixture`] whose store holds no feature group yet.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{
    AsArray, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
    UInt64Array,
};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, TimestampMicrosecondType};
use futures::TryStreamExt;
use sluice_types::{ColumnSpec, ColumnType, FeatureGroupSpec};

use crate::{open_offline_store, OfflineStoreRef, ReadAt, SEQUENCE_COLUMN};

/// What a read found: `x` per (key, event time).
pub type State = BTreeMap<(i64, i64), f64>;

/// A feature group keyed by `id` with event time `ts`, a float `x` and a text `tag`.
pub fn fg() -> FeatureGroupSpec {
    let columns = vec![
        ColumnSpec::new("id", ColumnType::Int64),
        ColumnSpec::new("ts", ColumnType::Timestamp),
        ColumnSpec::new("x", ColumnType::Float64).nullable(),
        ColumnSpec::new("tag", ColumnType::String).nullable(),
    ];
    FeatureGroupSpec {
        primary_key: vec!["id".into()],
        event_time: Some("ts".into()),
        ..FeatureGroupSpec::keyed_by_all("tx", 1, columns)
    }
}

/// Rows in the feature group's schema, in memory, as appends take them.
pub fn batch(rows: &[(i64, i64, f64)]) -> RecordBatch {
    RecordBatch::try_new(
        fg().arrow_schema(),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.1))
                    .with_timezone("UTC"),
            ),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.2))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| tag(r.2)))),
        ],
    )
    .unwrap()
}

/// The text column's value for a row: derived from `x`, so reads can check it.
pub fn tag(x: f64) -> String {
    format!("x={x}")
}

/// A store under test and the project folder it was opened in, which also
/// holds the files a test stages for upserts.
pub struct Fixture {
    /// The project folder.
    pub dir: tempfile::TempDir,
    /// The store under test.
    pub store: OfflineStoreRef,
    staged: usize,
}

impl Fixture {
    /// Opens the store at `url` with a new, empty project folder.
    pub fn open(url: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = open_offline_store(url, dir.path()).unwrap();
        Self {
            dir,
            store,
            staged: 0,
        }
    }

    /// Writes rows to a staging Parquet file with an input-order column, as ingest does.
    pub fn stage(&mut self, rows: &[(i64, i64, f64)]) -> PathBuf {
        self.staged += 1;
        let path = self
            .dir
            .path()
            .join(format!("staged-{}.parquet", self.staged));
        let rows = batch(rows);
        let mut fields: Vec<Field> = rows
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new(SEQUENCE_COLUMN, DataType::UInt64, false));
        let schema = Arc::new(Schema::new(fields));
        let mut columns = rows.columns().to_vec();
        columns.push(Arc::new(UInt64Array::from_iter_values(
            0..rows.num_rows() as u64,
        )));
        let staged = RecordBatch::try_new(schema.clone(), columns).unwrap();
        let mut writer = parquet::arrow::ArrowWriter::try_new(
            std::fs::File::create(&path).unwrap(),
            schema,
            None,
        )
        .unwrap();
        writer.write(&staged).unwrap();
        writer.close().unwrap();
        path
    }

    /// The group's rows at `at`, checked on the way: the declared schema, each
    /// tag beside its `x`, one row per (key, event time).
    pub async fn read(&self, at: ReadAt) -> State {
        let batches: Vec<RecordBatch> = self
            .store
            .scan(&fg(), at, None)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let mut state = State::new();
        for batch in batches {
            assert_eq!(
                batch.schema(),
                fg().arrow_schema(),
                "reads return the declared schema"
            );
            let id = batch.column(0).as_primitive::<Int64Type>();
            let ts = batch.column(1).as_primitive::<TimestampMicrosecondType>();
            let x = batch.column(2).as_primitive::<Float64Type>();
            let tags = batch.column(3).as_string::<i32>();
            for i in 0..batch.num_rows() {
                assert_eq!(tags.value(i), tag(x.value(i)), "text travels with its row");
                let previous = state.insert((id.value(i), ts.value(i)), x.value(i));
                assert!(previous.is_none(), "one row per (key, event time)");
            }
        }
        state
    }
}

/// Applies writes to a model of the store: the last row of each (key, event time) wins.
pub fn apply(model: &mut State, rows: &[(i64, i64, f64)]) {
    for &(id, ts, x) in rows {
        model.insert((id, ts), x);
    }
}

/// Every commit reads back exactly by version and by time; a version never
/// written is named.
pub async fn time_travel_returns_each_commit_exactly(mut f: Fixture) {
    assert!(
        f.read(ReadAt::Latest).await.is_empty(),
        "a never-written group reads as empty"
    );
    let writes: Vec<Vec<(i64, i64, f64)>> = vec![
        vec![(1, 10, 1.0), (2, 10, 2.0), (1, 5, 0.5)],
        // Replaces (1, 10), adds a late event for key 2, and repeats (3, 7) so the last copy wins.
        vec![(1, 10, 1.5), (2, 3, 2.5), (3, 7, 3.0), (3, 7, 3.5)],
        vec![(4, 1, 4.0)],
    ];
    let mut model = State::new();
    let mut expected_by_version = Vec::new();
    for rows in &writes {
        let staged = f.stage(rows);
        let metrics = f.store.upsert(&fg(), &[staged]).await.unwrap();
        apply(&mut model, rows);
        expected_by_version.push((metrics.version, model.clone()));
    }
    assert_eq!(
        expected_by_version
            .iter()
            .map(|(v, _)| *v)
            .collect::<Vec<_>>(),
        vec![0, 1, 2],
        "one commit per upsert"
    );
    for (version, expected) in &expected_by_version {
        assert_eq!(
            &f.read(ReadAt::Version(*version)).await,
            expected,
            "state at commit {version}"
        );
    }
    assert_eq!(f.read(ReadAt::Latest).await, model);
    assert_eq!(model[&(3, 7)], 3.5);
    assert_eq!(f.store.latest_version(&fg()).await.unwrap(), Some(2));

    let err = f
        .store
        .scan(&fg(), ReadAt::Version(9), None)
        .await
        .err()
        .unwrap();
    assert!(
        err.kind().is_caller_fault() && err.to_string().contains("commit 9"),
        "{err}"
    );
    let before_anything = chrono::DateTime::from_timestamp(0, 0).unwrap();
    assert!(
        f.read(ReadAt::Time(before_anything)).await.is_empty(),
        "before the first commit there were no rows"
    );
    assert_eq!(
        f.read(ReadAt::Time(chrono::Utc::now())).await,
        model,
        "now reads the latest commit"
    );
}

/// A delete removes every row of the keys asked and nothing else, keeps the
/// history readable, and commits nothing when no row matches.
pub async fn deletes_remove_only_the_keys_rows(mut f: Fixture) {
    let rows = vec![
        (1, 1, 1.0),
        (1, 2, 1.1),
        (2, 1, 2.0),
        (3, 1, 3.0),
        (3, 9, 3.1),
    ];
    let staged = f.stage(&rows);
    f.store.upsert(&fg(), &[staged]).await.unwrap();
    let keys = RecordBatch::try_new(
        fg().key_schema(),
        vec![Arc::new(Int64Array::from(vec![1, 3, 42]))],
    )
    .unwrap();
    let metrics = f
        .store
        .delete_keys(&fg(), &keys)
        .await
        .unwrap()
        .expect("rows were deleted");
    assert_eq!(metrics.version, 1);
    assert_eq!(metrics.rows_deleted, 4);
    let expected: State = [((2, 1), 2.0)].into_iter().collect();
    assert_eq!(f.read(ReadAt::Latest).await, expected);
    assert_eq!(
        f.read(ReadAt::Version(0)).await.len(),
        5,
        "the history before the delete stays readable"
    );

    let nothing = RecordBatch::try_new(
        fg().key_schema(),
        vec![Arc::new(Int64Array::from(vec![77]))],
    )
    .unwrap();
    assert!(
        f.store
            .delete_keys(&fg(), &nothing)
            .await
            .unwrap()
            .is_none(),
        "no commit when nothing matches"
    );
}

/// Random mixes of upserts and appends (repeats, late events), each run on a
/// fresh store, checked against a model.
pub async fn random_upserts_match_a_model<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Fixture>,
{
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = prop::collection::vec(
        prop::collection::vec((0i64..8, 0i64..6, -50.0f64..50.0), 1..20),
        1..5,
    );
    for _ in 0..4 {
        let writes = strategy.new_tree(&mut runner).unwrap().current();
        let mut f = make().await;
        let mut model = State::new();
        for (i, rows) in writes.iter().enumerate() {
            // Odd writes append, with event times no earlier write used, as append requires.
            let rows: Vec<_> = if i % 2 == 1 {
                let shift = 1_000 * i as i64;
                rows.iter()
                    .map(|&(id, ts, x)| (id, ts + shift, x))
                    .collect()
            } else {
                rows.clone()
            };
            if i % 2 == 1 {
                f.store.append(&fg(), &[batch(&rows)]).await.unwrap();
            } else {
                let staged = f.stage(&rows);
                f.store.upsert(&fg(), &[staged]).await.unwrap();
            }
            apply(&mut model, &rows);
        }
        assert_eq!(f.read(ReadAt::Latest).await, model, "writes: {writes:?}");
    }
}

/// Each append is one commit that upserts then see; an append with a batch
/// of the wrong shape commits nothing.
pub async fn appends_add_rows_as_one_commit_each(mut f: Fixture) {
    let first = vec![(1, 1, 1.0), (2, 1, 2.0)];
    let metrics = f.store.append(&fg(), &[batch(&first)]).await.unwrap();
    assert_eq!(
        (metrics.version, metrics.rows_inserted),
        (0, 2),
        "the first append creates the table"
    );
    // (4, 4) is repeated: the last copy wins, as in an upsert.
    let second = vec![(3, 1, 3.0), (1, 2, 1.5), (4, 4, 4.0), (4, 4, 4.5)];
    let metrics = f
        .store
        .append(&fg(), &[batch(&second[..2]), batch(&second[2..])])
        .await
        .unwrap();
    assert_eq!((metrics.version, metrics.rows_inserted), (1, 3));

    let mut model = State::new();
    apply(&mut model, &first);
    let after_first = model.clone();
    apply(&mut model, &second);
    assert_eq!(f.read(ReadAt::Latest).await, model);
    assert_eq!(f.read(ReadAt::Version(0)).await, after_first);
    assert_eq!(model[&(4, 4)], 4.5);

    let staged = f.stage(&[(3, 1, 9.0)]);
    let metrics = f.store.upsert(&fg(), &[staged]).await.unwrap();
    assert_eq!(
        (metrics.rows_inserted, metrics.rows_updated),
        (0, 1),
        "an upsert finds appended rows"
    );
    model.insert((3, 1), 9.0);
    assert_eq!(f.read(ReadAt::Latest).await, model);

    let without_x = batch(&[(5, 1, 5.0)]).project(&[0, 1, 3]).unwrap();
    let err = f
        .store
        .append(&fg(), &[batch(&[(6, 1, 6.0)]), without_x])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("tx:1") && err.contains("'x'"), "{err}");
    assert_eq!(
        f.store.latest_version(&fg()).await.unwrap(),
        Some(2),
        "a failed append commits nothing"
    );
    assert_eq!(f.read(ReadAt::Latest).await, model);
}

/// A scan of some columns gives those columns, in the order asked, with the
/// same rows as a full scan; an unknown column is named.
pub async fn scans_read_only_the_asked_columns(mut f: Fixture) {
    let rows = vec![(1, 1, 1.0), (2, 1, 2.0), (3, 5, 3.5)];
    let staged = f.stage(&rows);
    f.store.upsert(&fg(), &[staged]).await.unwrap();
    let asked = ["tag".to_string(), "id".to_string()];
    let batches: Vec<RecordBatch> = f
        .store
        .scan(&fg(), ReadAt::Latest, Some(&asked))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let mut got: Vec<(i64, String)> = Vec::new();
    for batch in &batches {
        let schema = batch.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["tag", "id"]);
        let tags = batch.column(0).as_string::<i32>();
        let ids = batch.column(1).as_primitive::<Int64Type>();
        got.extend((0..batch.num_rows()).map(|i| (ids.value(i), tags.value(i).to_string())));
    }
    got.sort();
    let expected: Vec<(i64, String)> = rows.iter().map(|r| (r.0, tag(r.2))).collect();
    assert_eq!(got, expected);

    let unknown = ["nope".to_string()];
    let err = f
        .store
        .scan(&fg(), ReadAt::Latest, Some(&unknown))
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("tx:1") && err.contains("'nope'"), "{err}");
}

/// Writers that race for the same commit number: the store's commit is
/// conditional (create-if-absent), so the loser retries at the next number
/// and every row lands exactly once.
pub async fn concurrent_appends_all_land(f: Fixture) {
    f.store
        .append(&fg(), &[batch(&[(0, 0, 0.0)])])
        .await
        .unwrap();
    let batches: Vec<Vec<(i64, i64, f64)>> = (1..=4)
        .map(|w| (0..5).map(|i| (w * 100 + i, w, i as f64)).collect())
        .collect();
    let writes = batches.iter().map(|rows| {
        let store = f.store.clone();
        let rows = batch(rows);
        async move { store.append(&fg(), &[rows]).await }
    });
    let results = futures::future::join_all(writes).await;
    let mut versions: Vec<u64> = results.into_iter().map(|r| r.unwrap().version).collect();
    versions.sort();
    assert_eq!(versions, vec![1, 2, 3, 4], "one commit each, none lost");
    let mut model = State::new();
    apply(&mut model, &[(0, 0, 0.0)]);
    for rows in &batches {
        apply(&mut model, rows);
    }
    assert_eq!(f.read(ReadAt::Latest).await, model);
}

/// Model artefacts go beside the tables: written once, read back whole.
pub async fn files_are_kept_beside_the_tables(mut f: Fixture) {
    let path = ".models/fraud/abc123.json";
    assert_eq!(f.store.get_file(path).await.unwrap(), None);
    let bytes: Vec<u8> = (0..50_000u32).flat_map(|i| i.to_le_bytes()).collect();
    f.store.put_file(path, bytes.clone()).await.unwrap();
    assert_eq!(f.store.get_file(path).await.unwrap(), Some(bytes.clone()));
    // Content-named, so a second put of the same name keeps the first file.
    f.store.put_file(path, b"other".to_vec()).await.unwrap();
    assert_eq!(f.store.get_file(path).await.unwrap(), Some(bytes));
    let shown = f.store.file_location(path);
    assert!(shown.ends_with("/.models/fraud/abc123.json"), "{shown}");
    assert!(
        !shown.contains("secret"),
        "no credentials in messages: {shown}"
    );
    // Files do not disturb the tables.
    let staged = f.stage(&[(1, 1, 1.0)]);
    f.store.upsert(&fg(), &[staged]).await.unwrap();
    assert_eq!(f.read(ReadAt::Latest).await.len(), 1);
}

/// Expands to one test per conformance case for the backend that `$make` (an
/// expression returning `impl Future<Output = Fixture>`, called for every fresh
/// store a test needs) builds.
#[macro_export]
macro_rules! offline_store_conformance {
    ($make:expr) => {
        mod offline_store_conformance {
            use super::*;

            $crate::offline_store_conformance!(@one_fixture_each $make;
                time_travel_returns_each_commit_exactly,
                deletes_remove_only_the_keys_rows,
                appends_add_rows_as_one_commit_each,
                concurrent_appends_all_land,
                files_are_kept_beside_the_tables,
                scans_read_only_the_asked_columns,
            );

            #[tokio::test]
            async fn random_upserts_match_a_model() {
                $crate::conformance::random_upserts_match_a_model($make).await;
            }
        }
    };
    (@one_fixture_each $make:expr; $($case:ident,)*) => {
        $(
            #[tokio::test]
            async fn $case() {
                let fixture = ($make)().await;
                $crate::conformance::$case(fixture).await;
            }
        )*
    };
}
