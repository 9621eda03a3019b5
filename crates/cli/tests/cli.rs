//! The `sluice` binary, driven in temporary projects: command shapes, exit
//! codes, `--json` documents, bad input that must write nothing, and a crash
//! in the middle of an ingest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const DEFINITIONS: &str = r#"
[[feature_group]]
name = "tx"
version = 1
primary_key = ["id"]
event_time = "ts"
online = true
description = "test transactions"
columns = [
  { name = "id", type = "int64" },
  { name = "ts", type = "timestamp" },
  { name = "amount", type = "float64", nullable = true },
  { name = "cat", type = "string", nullable = true },
]

[[feature_group]]
name = "aged"
version = 1
primary_key = ["id"]
event_time = "ts"
online = true
ttl = "1d"
columns = [
  { name = "id", type = "int64" },
  { name = "ts", type = "timestamp", format = "epoch_seconds" },
  { name = "v", type = "int32" },
]
"#;

struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Self {
        let project = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        project.ok(&["init"]);
        std::fs::remove_file(project.path("features/example.toml")).unwrap();
        std::fs::write(project.path("features/test.toml"), DEFINITIONS).unwrap();
        project
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Appends `text` to the project's sluice.toml.
    fn add_to_config(&self, text: &str) {
        let config = self.path("sluice.toml");
        let before = std::fs::read_to_string(&config).unwrap();
        std::fs::write(&config, format!("{before}\n{text}")).unwrap();
    }

    fn write(&self, name: &str, text: &str) -> String {
        std::fs::write(self.path(name), text).unwrap();
        self.path(name).display().to_string()
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("--project")
            .arg(self.dir.path())
            .args(args)
            .env_remove("SLUICE_PROJECT")
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        let stdout = self.ok(&args);
        serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("{args:?}: stdout is not one JSON document ({e}): {stdout}"))
    }

    /// Runs a command that must fail as a user error; returns stderr.
    fn user_error(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{args:?} should exit 1; stderr: {stderr}"
        );
        assert!(stderr.starts_with("error: "), "{stderr}");
        stderr
    }

    /// Everything a bad command must leave alone: catalog view, row counts and the offline files.
    fn snapshot(&self) -> (Value, BTreeMap<PathBuf, Vec<u8>>) {
        let show = self.json(&["show", "tx"]);
        let mut files = BTreeMap::new();
        collect_files(&self.path(".sluice/offline"), &mut files);
        (show, files)
    }
}

fn collect_files(dir: &Path, into: &mut BTreeMap<PathBuf, Vec<u8>>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_files(&path, into);
        } else {
            into.insert(path.clone(), std::fs::read(&path).unwrap());
        }
    }
}

fn applied() -> Project {
    let project = Project::new();
    project.ok(&["apply"]);
    project
}

#[test]
fn init_refuses_to_overwrite_and_every_command_has_help() {
    let project = Project::new();
    let stderr = project.user_error(&["init"]);
    assert!(stderr.contains("sluice.toml already exists"), "{stderr}");
    for command in [
        "init",
        "apply",
        "ingest",
        "read",
        "lookup",
        "delete",
        "list",
        "show",
        "quickstart",
        "generate",
        "bench",
        "features",
        "training-data",
        "run",
        "train",
        "models",
        "predict",
        "serve",
        "skew-check",
    ] {
        let out = project.run(&[command, "--help"]);
        assert!(out.status.success(), "{command} --help");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage:"),
            "{command} --help prints usage"
        );
    }
    let out = project.run(&["frobnicate"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "an unknown command is a user error"
    );
}

#[test]
fn serve_refuses_zero_workers_as_a_user_error() {
    let project = Project::new();
    let flag = project.user_error(&["serve", "--port", "0", "--workers", "0"]);
    assert!(flag.contains("--workers"), "{flag}");
    project.add_to_config("[server]\nworkers = 0\n");
    let setting = project.user_error(&["serve", "--port", "0"]);
    assert!(
        setting.contains("sluice.toml") && setting.contains("workers = 0"),
        "{setting}"
    );
}

#[test]
fn serve_refuses_a_realtime_priority_outside_1_to_99_as_a_user_error() {
    let project = Project::new();
    for wrong in ["0", "100"] {
        let flag = project.user_error(&["serve", "--port", "0", "--realtime-priority", wrong]);
        assert!(
            flag.contains("--realtime-priority") && flag.contains("1 to 99"),
            "{flag}"
        );
    }
    project.add_to_config("[server]\nrealtime_priority = 100\n");
    let setting = project.user_error(&["serve", "--port", "0"]);
    assert!(
        setting.contains("sluice.toml") && setting.contains("realtime_priority"),
        "{setting}"
    );
}

/// Real-time priority is a right (root, CAP_SYS_NICE or `ulimit -r`): where
/// this test has it, the served process's workers must run at SCHED_RR;
/// where it does not, `serve` must refuse, exit 1, and say what it needs.
#[cfg(target_os = "linux")]
#[test]
fn serve_runs_its_workers_at_the_realtime_priority_asked_for() {
    use std::io::{BufRead, BufReader};

    let project = Project::new();
    project.ok(&["apply"]);
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` outlives the call; geteuid takes nothing.
    let permitted = unsafe { libc::geteuid() == 0 }
        || (unsafe { libc::getrlimit(libc::RLIMIT_RTPRIO, &mut limit) } == 0
            && limit.rlim_cur >= 2);
    let args = [
        "serve",
        "--port",
        "0",
        "--workers",
        "2",
        "--realtime-priority",
        "2",
    ];
    if !permitted {
        let refused = project.user_error(&args);
        assert!(refused.contains("CAP_SYS_NICE"), "{refused}");
        return;
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("--project")
        .arg(project.dir.path())
        .args(args)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut banner = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let listening = line.contains("listening on");
        banner.push(line);
        if listening {
            break;
        }
    }
    assert!(
        banner
            .iter()
            .any(|l| l == "2 worker thread(s) at real-time priority 2 (SCHED_RR)"),
        "{banner:?}"
    );
    // Idle workers have parked (and taken their priority) long before this.
    std::thread::sleep(std::time::Duration::from_millis(200));
    // Fields after the parenthesised name: state is the 1st, rt_priority
    // the 38th and policy the 39th (proc(5)).
    let mut realtime = 0;
    let tasks = format!("/proc/{}/task", child.id());
    for task in std::fs::read_dir(&tasks).unwrap() {
        let stat = std::fs::read_to_string(task.unwrap().path().join("stat")).unwrap();
        let (name, rest) = stat.rsplit_once(") ").unwrap();
        let fields: Vec<&str> = rest.split(' ').collect();
        if (fields[38], fields[37]) == ("2", "2") {
            assert!(name.ends_with("(sluice-server"), "{stat}");
            realtime += 1;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        realtime, 2,
        "the two workers, and no other thread, at SCHED_RR 2"
    );
}

#[test]
fn apply_plans_then_applies_once() {
    let project = Project::new();
    let plan = project.json(&["apply", "--dry-run"]);
    assert_eq!(plan["applied"], false);
    assert_eq!(plan["plan"][0]["name"], "aged");
    assert_eq!(plan["plan"][0]["action"], "create");
    assert_eq!(
        project.json(&["list", "feature-groups"]),
        Value::Array(vec![]),
        "dry run registers nothing"
    );

    let first = project.json(&["apply"]);
    assert_eq!(first["applied"], true);
    let second = project.json(&["apply"]);
    assert_eq!(second["applied"], false);
    assert!(
        second["plan"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["action"] == "unchanged"),
        "{second}"
    );
    let listed = project.json(&["list", "feature-groups"]);
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(listed[1]["name"], "tx");
    assert_eq!(listed[1]["primary_key"], serde_json::json!(["id"]));

    std::fs::write(
        project.path("features/test.toml"),
        DEFINITIONS.replace("test transactions", "renamed"),
    )
    .unwrap();
    let update = project.json(&["apply"]);
    assert_eq!(update["plan"][1]["action"], "update");
    assert_eq!(
        update["plan"][1]["fields"],
        serde_json::json!(["description"])
    );

    std::fs::write(
        project.path("features/test.toml"),
        DEFINITIONS.replace(
            "\"amount\", type = \"float64\"",
            "\"amount\", type = \"float32\"",
        ),
    )
    .unwrap();
    let stderr = project.user_error(&["apply"]);
    assert!(
        stderr.contains("'tx:1' changed incompatibly (columns)")
            && stderr.contains("bump the version"),
        "{stderr}"
    );
    assert_eq!(
        project.json(&["show", "tx"])["columns"][2]["type"],
        "float64",
        "nothing applied"
    );
}

#[test]
fn ingest_read_lookup_and_delete_across_formats() {
    let project = applied();
    let csv = project.write(
        "a.csv",
        "id,ts,amount,cat\n1,2026-01-01T00:00:00Z,1.5,x\n2,2026-01-01T01:00:00+01:00,2.5,\n1,2026-01-02 00:00:00,3.5,y\n",
    );
    let ingest = project.json(&["ingest", "tx", &csv]);
    assert_eq!(ingest["rows"], 3);
    assert_eq!(ingest["offline_version"], 0);
    assert_eq!(ingest["online_rows_written"], 2, "two keys stored");
    assert_eq!(
        ingest["online_rows_older"], 1,
        "key 1's first row is superseded by its newer one"
    );

    // A late event for key 1, a replacement of (2, 00:00Z), and a new key; NDJSON with numbers as numbers.
    let ndjson = project.write(
        "b.ndjson",
        "{\"id\": 1, \"ts\": \"2025-12-31T00:00:00Z\", \"amount\": 0.5, \"cat\": \"late\"}\n\
         {\"id\": 2, \"ts\": \"2026-01-01T00:00:00Z\", \"amount\": 9.0, \"cat\": null}\n\
         {\"id\": 3, \"ts\": \"2026-01-03T00:00:00Z\", \"amount\": null, \"cat\": \"z\"}\n",
    );
    let second = project.json(&["ingest", "tx:1", &ndjson]);
    assert_eq!(
        (
            second["offline_rows_inserted"].as_u64(),
            second["offline_rows_updated"].as_u64()
        ),
        (Some(2), Some(1))
    );
    assert_eq!(
        second["online_rows_older"], 1,
        "the late event for key 1 is not served"
    );

    let lookup = project.json(&["lookup", "tx", "id=1", "id=2", "id=99"]);
    let results = lookup["results"].as_array().unwrap();
    assert_eq!(results[0]["key"]["id"], 1);
    assert_eq!(results[0]["status"], "PRESENT");
    assert_eq!(results[0]["values"]["amount"], 3.5);
    assert_eq!(results[0]["values"]["cat"], "y");
    assert_eq!(results[0]["values"]["ts"], "2026-01-02T00:00:00Z");
    assert_eq!(
        results[1]["values"]["amount"], 9.0,
        "equal event time: the later write wins"
    );
    assert_eq!(results[1]["values"]["cat"], Value::Null);
    assert_eq!(results[2]["status"], "MISSING");
    let keys: Vec<&str> = results[0]["values"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        vec!["ts", "amount", "cat"],
        "values keep the definition's column order"
    );

    let out = project.path("all.csv");
    project.ok(&["read", "tx", "--out", out.to_str().unwrap()]);
    let mut lines: Vec<String> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .skip(1)
        .map(String::from)
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        vec![
            "1,2025-12-31T00:00:00.000000Z,0.5,late",
            "1,2026-01-01T00:00:00.000000Z,1.5,x",
            "1,2026-01-02T00:00:00.000000Z,3.5,y",
            "2,2026-01-01T00:00:00.000000Z,9.0,",
            "3,2026-01-03T00:00:00.000000Z,,z",
        ]
    );
    let first_commit = project.path("first.parquet");
    project.ok(&[
        "read",
        "tx",
        "--commit",
        "0",
        "--out",
        first_commit.to_str().unwrap(),
    ]);
    let file = std::fs::File::open(&first_commit).unwrap();
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    assert_eq!(
        reader.metadata().file_metadata().num_rows(),
        3,
        "commit 0 had three rows"
    );
    let none = project.path("none.parquet");
    project.ok(&[
        "read",
        "tx",
        "--limit",
        "0",
        "--out",
        none.to_str().unwrap(),
    ]);
    let file = std::fs::File::open(&none).unwrap();
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    assert_eq!(reader.metadata().file_metadata().num_rows(), 0);
    assert_eq!(
        reader.schema().fields().len(),
        4,
        "no rows, still a Parquet file with the group's columns"
    );
    let limited = project.ok(&["read", "tx", "--limit", "2"]);
    assert!(limited.contains("first 2 rows"), "{limited}");

    let deleted = project.json(&["delete", "tx", "id=1"]);
    assert_eq!(deleted["offline_rows_deleted"], 3);
    assert_eq!(
        project.json(&["lookup", "tx", "id=1"])["results"][0]["status"],
        "MISSING"
    );
    let show = project.json(&["show", "tx"]);
    assert_eq!(show["offline_rows"], 2);
    let operations: Vec<&str> = show["commits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["operation"].as_str().unwrap())
        .collect();
    assert_eq!(operations, vec!["ingest", "ingest", "delete"]);
    assert_eq!(show["commits"][2]["offline_version"], 2);
    project.ok(&[
        "read",
        "tx",
        "--commit",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap().lines().count(),
        6,
        "history before the delete is intact"
    );
}

#[test]
fn parquet_input_and_ttl_expiry() {
    let project = applied();
    let now = chrono::Utc::now().timestamp();
    // Epoch-second timestamps as declared; int32 values widen losslessly.
    let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("id", arrow::datatypes::DataType::Int64, false),
        arrow::datatypes::Field::new("ts", arrow::datatypes::DataType::Int64, false),
        arrow::datatypes::Field::new("v", arrow::datatypes::DataType::Int32, false),
    ]));
    let batch = arrow::array::RecordBatch::try_new(
        schema.clone(),
        vec![
            std::sync::Arc::new(arrow::array::Int64Array::from(vec![1, 2])),
            std::sync::Arc::new(arrow::array::Int64Array::from(vec![
                now - 3 * 86_400,
                now - 60,
            ])),
            std::sync::Arc::new(arrow::array::Int32Array::from(vec![10, 20])),
        ],
    )
    .unwrap();
    let path = project.path("aged.parquet");
    let mut writer =
        parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema, None)
            .unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    project.ok(&["ingest", "aged", path.to_str().unwrap()]);
    let lookup = project.json(&["lookup", "aged", "id=1", "id=2"]);
    assert_eq!(lookup["results"][0]["status"], "EXPIRED");
    assert_eq!(lookup["results"][0]["values"]["v"], Value::Null);
    assert_eq!(lookup["results"][1]["status"], "PRESENT");
    assert_eq!(lookup["results"][1]["values"]["v"], 20);
}

#[test]
fn bad_input_names_the_offender_and_writes_nothing() {
    let project = applied();
    let good = project.write(
        "good.csv",
        "id,ts,amount,cat\n1,2026-01-01T00:00:00Z,1.0,a\n",
    );
    project.ok(&["ingest", "tx", &good]);
    let before = project.snapshot();

    let cases: Vec<(&str, &str, Vec<&str>)> = vec![
        (
            "missing.csv",
            "id,ts,amount\n2,2026-01-01T00:00:00Z,1.0\n",
            vec!["missing.csv", "missing column 'cat'"],
        ),
        (
            "unknown.csv",
            "id,ts,amount,cat,extra\n2,2026-01-01T00:00:00Z,1.0,a,b\n",
            vec!["unknown column 'extra'"],
        ),
        (
            "type.csv",
            "id,ts,amount,cat\n2,2026-01-01T00:00:00Z,1.0,a\n3,2026-01-01T00:00:00Z,lots,a\n",
            vec!["type.csv: line 3: column 'amount': cannot read 'lots' as float64"],
        ),
        (
            "nullkey.csv",
            "id,ts,amount,cat\n2,2026-01-01T00:00:00Z,1.0,a\n,2026-01-01T00:00:00Z,1.0,a\n",
            vec!["nullkey.csv: line 3: column 'id' is null but it is a primary-key column"],
        ),
        (
            "nullts.csv",
            "id,ts,amount,cat\n2,,1.0,a\n",
            vec!["line 2: column 'ts' is null but it is the event-time column"],
        ),
        (
            "badts.csv",
            "id,ts,amount,cat\n2,2026-13-45T99:00:00Z,1.0,a\n",
            vec!["line 2: column 'ts': cannot read '2026-13-45T99:00:00Z'"],
        ),
        (
            "floatkey.ndjson",
            "{\"id\": 1.5, \"ts\": \"2026-01-01T00:00:00Z\", \"amount\": 1, \"cat\": \"a\"}\n",
            vec!["floatkey.ndjson: line 1: column 'id': cannot read '1.5' as int64"],
        ),
        (
            "data.txt",
            "whatever",
            vec!["data.txt: cannot tell the format"],
        ),
    ];
    for (name, text, expected) in cases {
        let path = project.write(name, text);
        // The bad file comes second, so rows of the good first file must not be written either.
        let stderr = project.user_error(&["ingest", "tx", &good, &path]);
        for fragment in expected {
            assert!(
                stderr.contains(fragment),
                "{name}: expected '{fragment}' in: {stderr}"
            );
        }
        assert_eq!(stderr.lines().count(), 1, "one readable line: {stderr}");
        assert_eq!(project.snapshot(), before, "{name} changed the store");
    }

    let stderr = project.user_error(&["ingest", "tx", "/no/such/file.csv"]);
    assert!(
        stderr.contains("/no/such/file.csv: no such file"),
        "{stderr}"
    );
    let stderr = project.user_error(&["ingest", "nope", &good]);
    assert!(
        stderr.contains("feature group 'nope' is not registered (registered: aged, tx)"),
        "{stderr}"
    );
    let stderr = project.user_error(&["ingest", "tx:7", &good]);
    assert!(
        stderr.contains("'tx' has no version 7 (versions: 1)"),
        "{stderr}"
    );
    let stderr = project.user_error(&["ingest", "../tx", &good]);
    assert!(stderr.contains("invalid name '../tx'"), "{stderr}");
    let stderr = project.user_error(&["lookup", "tx", "id=abc"]);
    assert!(
        stderr.contains("column 'id': cannot read 'abc' as int64"),
        "{stderr}"
    );
    let stderr = project.user_error(&["read", "tx", "--as-of", "last tuesday"]);
    assert!(stderr.contains("--as-of 'last tuesday'"), "{stderr}");
    let stderr = project.user_error(&["read", "tx", "--commit", "5"]);
    assert!(stderr.contains("commit 5"), "{stderr}");
    assert_eq!(project.snapshot(), before);

    std::fs::write(
        project.path("features/broken.toml"),
        DEFINITIONS
            .replace("name = \"tx\"", "name = \"tx2\"")
            .replace("primary_key = [\"id\"]", "primary_key = [\"acct\"]"),
    )
    .unwrap();
    let stderr = project.user_error(&["apply"]);
    assert!(
        stderr.contains("broken.toml") && stderr.contains("primary key 'acct' is not a column"),
        "{stderr}"
    );
    std::fs::remove_file(project.path("features/broken.toml")).unwrap();

    std::fs::write(project.path("sluice.toml"), "[storage\ncatalog = 1").unwrap();
    let stderr = project.user_error(&["list", "feature-groups"]);
    assert!(stderr.contains("sluice.toml"), "{stderr}");
    std::fs::write(
        project.path("sluice.toml"),
        "[storage]\nonline = \"memcached://x\"\n",
    )
    .unwrap();
    let stderr = project.user_error(&["list", "feature-groups"]);
    assert!(stderr.contains("'memcached'"), "{stderr}");
}

#[test]
fn a_killed_ingest_leaves_the_previous_commit_and_can_be_rerun() {
    let project = applied();
    let first = project.write(
        "first.csv",
        "id,ts,amount,cat\n-1,2026-01-01T00:00:00Z,1.0,a\n",
    );
    project.ok(&["ingest", "tx", &first]);
    let big = project.path("big.csv");
    let generate = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "generate",
            "--rows",
            "600000",
            "--out",
            big.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(generate.status.success());
    // The generated file has the quickstart's columns; keep the test group's four.
    let text = std::fs::read_to_string(&big).unwrap();
    let mut trimmed = String::from("id,ts,amount,cat\n");
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        trimmed.push_str(&format!(
            "{},{},{},{}\n",
            fields[0], fields[1], fields[2], fields[12]
        ));
    }
    std::fs::write(&big, trimmed).unwrap();
    let before = project.snapshot();

    let staging = project.path(".sluice/staging");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("--project")
        .arg(project.dir.path())
        .args(["ingest", "tx", big.to_str().unwrap()])
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !std::fs::read_dir(&staging).is_ok_and(|mut d| d.next().is_some()) {
        assert!(
            started.elapsed().as_secs() < 60,
            "the ingest never started staging"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    child.kill().unwrap();
    assert!(!child.wait().unwrap().success(), "killed mid-way");

    let (show_after, files_after) = project.snapshot();
    assert_eq!(
        show_after, before.0,
        "the previous commit reads back intact"
    );
    assert_eq!(
        files_after
            .keys()
            .filter(|p| p.to_string_lossy().contains("_delta_log"))
            .collect::<Vec<_>>(),
        before
            .1
            .keys()
            .filter(|p| p.to_string_lossy().contains("_delta_log"))
            .collect::<Vec<_>>(),
        "no new commit is visible"
    );

    assert!(
        std::fs::read_dir(&staging).unwrap().next().is_some(),
        "the killed ingest left its staging directory"
    );
    let rerun = project.json(&["ingest", "tx", big.to_str().unwrap()]);
    assert_eq!(rerun["rows"], 600_000);
    assert!(
        std::fs::read_dir(&staging).unwrap().next().is_none(),
        "the next ingest removed what the killed one left"
    );
    assert_eq!(project.json(&["show", "tx"])["offline_rows"], 600_001);
}

const VIEWS: &str = r#"
[[feature_group]]
name = "labels"
version = 1
primary_key = ["card"]
event_time = "at"
columns = [
  { name = "card", type = "int64" },
  { name = "at", type = "timestamp" },
  { name = "is_fraud", type = "bool" },
]

[[feature_group]]
name = "static_profile"
version = 1
primary_key = ["id"]
columns = [{ name = "id", type = "int64" }, { name = "tier", type = "string" }]

[[feature_view]]
name = "fraud"
version = 1
spine = "labels:1"
labels = ["is_fraud"]
joins = [
  { feature_group = "tx:1", on = { card = "id" }, select = ["amount"], ttl = "7d" },
  { feature_group = "aged:1", on = { card = "id" } },
]
transforms = { amount = "standard_scaler" }
"#;

#[test]
fn feature_views_register_with_their_joins_checked() {
    let project = Project::new();
    std::fs::write(project.path("features/views.toml"), VIEWS).unwrap();
    let plan = project.json(&["apply"]);
    let views: Vec<&Value> = plan["plan"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "feature_view")
        .collect();
    assert_eq!(views.len(), 1);
    assert_eq!(
        views[0]["action"], "create",
        "a view may join groups registered in the same apply"
    );
    let listed = project.json(&["list", "feature-views"]);
    assert_eq!(listed[0]["name"], "fraud");
    assert_eq!(
        listed[0]["joins"][0]["on"],
        serde_json::json!({ "card": "id" })
    );
    assert_eq!(
        project.json(&["apply"])["applied"],
        false,
        "applying twice changes nothing"
    );

    let bad_cases = [
        (
            VIEWS.replace("{ feature_group = \"aged:1\", on = { card = \"id\" } },", "{ feature_group = \"static_profile:1\", on = { card = \"id\" } },"),
            "feature group 'static_profile:1' has no event_time column, so it cannot be joined as of a time",
        ),
        (
            VIEWS.replace("{ name = \"card\", type = \"int64\" }", "{ name = \"card\", type = \"string\" }").replace("name = \"labels\"\nversion = 1", "name = \"labels\"\nversion = 2").replace("spine = \"labels:1\"", "spine = \"labels:2\"").replace("name = \"fraud\"\nversion = 1", "name = \"fraud\"\nversion = 2"),
            "key 'card' is string on the spine but 'id' of 'tx:1' is int64",
        ),
        (VIEWS.replace("select = [\"amount\"]", "select = [\"nope\"]"), "'nope' is not a column of 'tx:1'"),
        (VIEWS.replace("standard_scaler", "magic_scaler"), "unknown transform 'magic_scaler'"),
    ];
    for (text, expected) in bad_cases {
        std::fs::write(project.path("features/views.toml"), text).unwrap();
        let stderr = project.user_error(&["apply"]);
        assert!(
            stderr.contains("views.toml") && stderr.contains(expected),
            "expected '{expected}' in: {stderr}"
        );
    }
    assert_eq!(
        project
            .json(&["list", "feature-views"])
            .as_array()
            .unwrap()
            .len(),
        1,
        "failed applies registered nothing"
    );
}

#[test]
fn batch_features_join_as_of_each_spine_row() {
    let project = Project::new();
    std::fs::write(project.path("features/views.toml"), VIEWS).unwrap();
    project.ok(&["apply"]);
    let tx = project.write(
        "tx.csv",
        "id,ts,amount,cat\n1,2026-01-01T00:00:00Z,1.0,a\n1,2026-01-05T00:00:00Z,5.0,b\n2,2026-01-01T00:00:00Z,2.0,c\n",
    );
    project.ok(&["ingest", "tx", &tx]);
    let jan2 = chrono::DateTime::parse_from_rfc3339("2026-01-02T00:00:00Z")
        .unwrap()
        .timestamp();
    let y2025 = chrono::DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z")
        .unwrap()
        .timestamp();
    let aged = project.write("aged.csv", &format!("id,ts,v\n1,{jan2},10\n2,{y2025},20\n"));
    project.ok(&["ingest", "aged", &aged]);

    // Inclusive as-of, TTL exactly at the boundary and one microsecond past it,
    // a time before any row, a missing key, an offset timestamp, a duplicate row.
    let spine = project.write(
        "spine.csv",
        "card,at\n1,2026-01-03T00:00:00Z\n1,2026-01-05T00:00:00Z\n1,2025-12-31T00:00:00Z\n\
         2,2026-01-08T00:00:00Z\n2,2026-01-08T00:00:00.000001Z\n3,2026-01-08T00:00:00+02:00\n1,2026-01-03T02:00:00+02:00\n",
    );
    let out = project.path("features.csv");
    project.ok(&[
        "features",
        "fraud",
        "--spine",
        &spine,
        "--out",
        out.to_str().unwrap(),
    ]);
    let lines: Vec<String> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(
        lines,
        vec![
            "card,at,amount,v",
            "1,2026-01-03T00:00:00.000000Z,1.0,10",
            "1,2026-01-05T00:00:00.000000Z,5.0,10",
            "1,2025-12-31T00:00:00.000000Z,,",
            "2,2026-01-08T00:00:00.000000Z,2.0,20",
            "2,2026-01-08T00:00:00.000001Z,,20",
            "3,2026-01-07T22:00:00.000000Z,,",
            "1,2026-01-03T00:00:00.000000Z,1.0,10",
        ]
    );

    let bad = project.write("bad_spine.csv", "card,when\n1,2026-01-03T00:00:00Z\n");
    let stderr = project.user_error(&["features", "fraud", "--spine", &bad]);
    assert!(
        stderr.contains("bad_spine.csv") && stderr.contains("'when'"),
        "{stderr}"
    );
}

/// A project with the `fraud` view applied and rows in its spine (`labels`)
/// and joined groups (`tx`, `aged`): six labelled rows, two classes.
fn with_training_data() -> Project {
    let project = Project::new();
    std::fs::write(project.path("features/views.toml"), VIEWS).unwrap();
    project.ok(&["apply"]);
    let tx = project.write(
        "tx.csv",
        "id,ts,amount,cat\n1,2026-01-01T00:00:00Z,1.0,a\n1,2026-01-05T00:00:00Z,5.0,b\n2,2026-01-01T00:00:00Z,2.0,c\n2,2026-01-07T00:00:00Z,7.0,d\n",
    );
    project.ok(&["ingest", "tx", &tx]);
    let jan2 = chrono::DateTime::parse_from_rfc3339("2026-01-02T00:00:00Z")
        .unwrap()
        .timestamp();
    let aged = project.write("aged.csv", &format!("id,ts,v\n1,{jan2},10\n2,{jan2},20\n"));
    project.ok(&["ingest", "aged", &aged]);
    let labels = project.write(
        "labels.csv",
        "card,at,is_fraud\n1,2026-01-03T00:00:00Z,true\n1,2026-01-05T00:00:00Z,false\n2,2026-01-08T00:00:00Z,true\n\
         3,2026-01-08T00:00:00Z,false\n1,2025-12-31T00:00:00Z,false\n2,2026-01-09T00:00:00Z,true\n",
    );
    project.ok(&["ingest", "labels", &labels]);
    project
}

#[test]
fn training_datasets_split_describe_and_recreate_identically() {
    let project = with_training_data();
    let stderr = project.user_error(&["training-data", "create", "fraud", "--split", "random:2:1"]);
    assert!(stderr.contains("split 'random:2:1'"), "{stderr}");
    let created = project.ok(&[
        "training-data",
        "create",
        "fraud",
        "--split",
        "random:0.5:7",
    ]);
    assert_eq!(created.trim(), "1", "prints the new version");

    // The two splits together are the spine, each row with its as-of features.
    let mut rows = Vec::new();
    for split in ["train", "test"] {
        let out = project.path(&format!("{split}.csv"));
        project.ok(&[
            "training-data",
            "read",
            "fraud",
            "1",
            "--split",
            split,
            "--out",
            out.to_str().unwrap(),
        ]);
        let text = std::fs::read_to_string(&out).unwrap();
        assert_eq!(
            text.lines().next().unwrap(),
            "card,at,is_fraud,amount,v",
            "keys, time, labels, then features"
        );
        rows.extend(text.lines().skip(1).map(String::from));
    }
    rows.sort();
    assert_eq!(
        rows,
        vec![
            "1,2025-12-31T00:00:00.000000Z,false,,",
            "1,2026-01-03T00:00:00.000000Z,true,1.0,10",
            "1,2026-01-05T00:00:00.000000Z,false,5.0,10",
            "2,2026-01-08T00:00:00.000000Z,true,7.0,20",
            "2,2026-01-09T00:00:00.000000Z,true,7.0,20",
            "3,2026-01-08T00:00:00.000000Z,false,,",
        ]
    );

    // Statistics describe the train split: compare with a brute-force mean.
    let listed = project.json(&["list", "training-datasets"]);
    let record = &listed[0]["record"];
    let train = std::fs::read_to_string(project.path("train.csv")).unwrap();
    let amounts: Vec<f64> = train
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(3).unwrap().parse().ok())
        .collect();
    let stats = record["statistics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["column"] == "amount")
        .unwrap();
    assert_eq!(stats["count"], amounts.len());
    if !amounts.is_empty() {
        let mean = amounts.iter().sum::<f64>() / amounts.len() as f64;
        assert!(
            (stats["mean"].as_f64().unwrap() - mean).abs() < 1e-9,
            "{stats} vs {mean}"
        );
    }
    assert_eq!(record["commits"]["tx:1"], 0);

    // Newer writes and deletes do not change a recreated dataset.
    let later = project.write(
        "later.csv",
        "id,ts,amount,cat\n1,2026-01-02T00:00:00Z,2.0,e\n",
    );
    project.ok(&["ingest", "tx", &later]);
    project.ok(&["delete", "tx", "id=2"]);
    let recreated = project.json(&["training-data", "recreate", "fraud", "1"]);
    assert_eq!(recreated["identical"], true);
    assert_eq!(recreated["content_hash"], record["content_hash"]);
    let second = project.json(&[
        "training-data",
        "create",
        "fraud",
        "--split",
        "random:0.5:7",
    ]);
    assert_eq!(second["version"], 2);
    assert_ne!(
        second["record"]["content_hash"], record["content_hash"],
        "new data, new hash"
    );

    let by_time = project.json(&[
        "training-data",
        "create",
        "fraud",
        "--split",
        "time:2026-01-06T00:00:00Z",
    ]);
    let splits = by_time["record"]["splits"].as_array().unwrap();
    assert_eq!(
        (splits[0]["rows"].as_u64(), splits[1]["rows"].as_u64()),
        (Some(3), Some(3))
    );
}

const STREAM_DEFINITIONS: &str = r#"
[[feature_group]]
name = "from_batch"
version = 1
primary_key = ["card_id"]
event_time = "ts"
online = true
columns = [
  { name = "card_id", type = "int64" },
  { name = "ts", type = "timestamp" },
  { name = "amount_sum_1h", type = "float64", nullable = true },
  { name = "amount_stddev_1d", type = "float64", nullable = true },
  { name = "count_1h", type = "int64" },
]

[[feature_group]]
name = "from_stream"
version = 1
primary_key = ["card_id"]
event_time = "ts"
online = true
columns = [
  { name = "card_id", type = "int64" },
  { name = "ts", type = "timestamp" },
  { name = "amount_sum_1h", type = "float64", nullable = true },
  { name = "amount_stddev_1d", type = "float64", nullable = true },
  { name = "count_1h", type = "int64" },
]

[[pipeline]]
name = "batch"
kind = "feature"
sink = "from_batch"
[pipeline.source]
type = "files"
path = "data/*.csv"
columns = [{ name = "card_id", type = "int64" }, { name = "ts", type = "timestamp" }, { name = "amount", type = "float64" }]
[pipeline.aggregate]
keys = ["card_id"]
event_time = "ts"
allowed_lateness = "1000d"
features = [
  { column = "amount", function = "sum", windows = ["1h"] },
  { column = "amount", function = "stddev", windows = ["1d"] },
  { function = "count", windows = ["1h"] },
]

[[pipeline]]
name = "stream"
kind = "feature"
sink = "from_stream"
[pipeline.source]
type = "nats"
stream = "STREAM_NAME"
subject = "STREAM_NAME.events"
commit_every = 1000
columns = [{ name = "card_id", type = "int64" }, { name = "ts", type = "timestamp" }, { name = "amount", type = "float64" }]
[pipeline.aggregate]
keys = ["card_id"]
event_time = "ts"
allowed_lateness = "1000d"
features = [
  { column = "amount", function = "sum", windows = ["1h"] },
  { column = "amount", function = "stddev", windows = ["1d"] },
  { function = "count", windows = ["1h"] },
]
"#;

/// Rows of `FG` as sorted CSV lines, header first.
fn sorted_rows(project: &Project, feature_group: &str) -> Vec<String> {
    let out = project.path(&format!("{feature_group}.csv"));
    project.ok(&["read", feature_group, "--out", out.to_str().unwrap()]);
    let text = std::fs::read_to_string(out).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[1..].sort();
    lines
}

#[test]
fn a_killed_stream_run_resumes_without_loss_or_double_counting() {
    let stream = format!("K{}", uuid::Uuid::new_v4().simple());
    let project = Project::new();
    std::fs::write(
        project.path("features/test.toml"),
        STREAM_DEFINITIONS.replace("STREAM_NAME", &stream),
    )
    .unwrap();
    project.ok(&["apply"]);

    // Events out of order within each card, with ties, over a few days.
    let events: Vec<(i64, i64, f64)> = (0..12_000i64)
        .map(|i| {
            (
                i % 40,
                (i * 7_919) % 200_000 / 20 * 20,
                ((i * 31) % 1_000) as f64 / 8.0,
            )
        })
        .collect();
    let mut csv = String::from("card_id,ts,amount\n");
    let mut messages = Vec::with_capacity(events.len());
    for (card, second, amount) in &events {
        let ts = chrono::DateTime::from_timestamp(1_767_225_600 + second, 0)
            .unwrap()
            .to_rfc3339();
        csv.push_str(&format!("{card},{ts},{amount}\n"));
        messages.push(format!(
            r#"{{"card_id":{card},"ts":"{ts}","amount":{amount}}}"#
        ));
    }
    std::fs::create_dir_all(project.path("data")).unwrap();
    project.write("data/events.csv", &csv);
    project.ok(&["run", "batch"]);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = async_nats::connect("nats://127.0.0.1:4222").await.unwrap();
        let js = async_nats::jetstream::new(client);
        js.get_or_create_stream(async_nats::jetstream::stream::Config {
            name: stream.clone(),
            subjects: vec![format!("{stream}.events")],
            ..Default::default()
        })
        .await
        .unwrap();
        // Acks are awaited in chunks: the client bounds how many may be in flight.
        for chunk in messages.chunks(500) {
            let mut acks = Vec::with_capacity(chunk.len());
            for message in chunk {
                acks.push(
                    js.publish(format!("{stream}.events"), message.clone().into())
                        .await
                        .unwrap(),
                );
            }
            for ack in acks {
                ack.await.unwrap();
            }
        }
    });

    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("--project")
        .arg(project.dir.path())
        .args(["run", "stream", "--until-idle", "5s"])
        .spawn()
        .unwrap();
    // Kill it after its first checkpoint, mid-stream.
    let checkpoint = project.path(".sluice/pipelines/stream/checkpoint");
    let started = std::time::Instant::now();
    while !checkpoint.exists() {
        assert!(started.elapsed().as_secs() < 60, "no commit was made");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    // Other commands work on the project while the stream holds the embedded online store.
    assert_eq!(project.json(&["list", "runs"])[0]["status"], "running");
    child.kill().unwrap();
    assert!(!child.wait().unwrap().success(), "killed mid-way");
    let runs = project.json(&["list", "runs"]);
    let killed = &runs[0];
    assert_eq!(killed["status"], "running", "the killed run never finished");
    // The run record may trail the checkpoint by the commit in flight.
    let done = killed["state"]["sequence"].as_u64().unwrap_or(0);
    assert!(done < events.len() as u64, "killed before the end ({done})");

    let resumed = project.json(&["run", "stream", "--until-idle", "3s"]);
    assert_eq!(resumed["status"], "succeeded");
    // The catalog's record can trail the checkpoint by the one commit in flight.
    let resumed_in = resumed["rows_in"].as_u64().unwrap();
    assert!(
        resumed_in <= events.len() as u64 - done && resumed_in > 0,
        "the resumed run starts after the last committed message ({resumed_in})"
    );
    let batch = sorted_rows(&project, "from_batch");
    assert_eq!(batch.len(), events.len() + 1 - duplicates(&events));
    let stream = sorted_rows(&project, "from_stream");
    let first_difference = batch.iter().zip(&stream).position(|(a, b)| a != b);
    assert!(
        stream.len() == batch.len() && first_difference.is_none(),
        "{} stream rows vs {} batch rows; first difference: {:?}",
        stream.len(),
        batch.len(),
        first_difference.map(|i| (&stream[i], &batch[i]))
    );
}

/// Events sharing a (card, time) with a later one: the feature group keeps one row for them.
fn duplicates(events: &[(i64, i64, f64)]) -> usize {
    let distinct: std::collections::HashSet<(i64, i64)> =
        events.iter().map(|(c, t, _)| (*c, *t)).collect();
    events.len() - distinct.len()
}

/// Inputs and the hand-checked answer live in `tests/golden/point_in_time`
/// (its README gives the reasoning per row).
#[test]
fn golden_point_in_time_join() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/point_in_time");
    let file = |name: &str| golden.join(name).display().to_string();
    let project = Project::new();
    std::fs::copy(
        golden.join("definitions.toml"),
        project.path("features/test.toml"),
    )
    .unwrap();
    project.ok(&["apply"]);
    for (group, input) in [
        ("card", "card_1.csv"),
        ("card", "card_2.csv"),
        ("merchant_region", "merchant_region.csv"),
        ("spend", "spend.csv"),
    ] {
        project.ok(&["ingest", group, &file(input)]);
    }
    let out = project.path("out.csv");
    project.ok(&[
        "features",
        "golden",
        "--spine",
        &file("spine.csv"),
        "--time",
        "at",
        "--out",
        out.to_str().unwrap(),
    ]);
    let got = std::fs::read_to_string(&out).unwrap();
    if std::env::var_os("SLUICE_UPDATE_GOLDEN").is_some() {
        std::fs::write(golden.join("expected.csv"), &got).unwrap();
    }
    let expected = std::fs::read_to_string(golden.join("expected.csv")).unwrap();
    assert_eq!(got, expected);

    // The same join for keys as of one time (spend for card 2 is 3 h old: past the TTL).
    let as_of = project.path("as_of.csv");
    project.ok(&[
        "features",
        "golden",
        "--as-of",
        "2026-01-01T13:00:00+01:00",
        "card_id=1,2",
        "m=m1,m1",
        "region=eu,eu",
        "--out",
        as_of.to_str().unwrap(),
    ]);
    assert_eq!(
        std::fs::read_to_string(&as_of).unwrap(),
        "card_id,m,region,as_of,credit_limit,risk,spend_1h\n\
         1,m1,eu,2026-01-01T12:00:00.000000Z,250.0,0.1,10.0\n\
         2,m1,eu,2026-01-01T12:00:00.000000Z,300.0,0.1,\n"
    );
    let err = project.user_error(&[
        "features",
        "golden",
        "--as-of",
        "2026-01-01T12:00:00Z",
        "card_id=1",
    ]);
    assert!(err.contains("'m'"), "{err}");
}

#[test]
fn quickstart_runs_the_whole_loop_and_guards_its_folder() {
    let scratch = Project::new();
    let dir = scratch.path("qs");
    let dir_text = dir.display().to_string();
    let args = [
        "quickstart",
        "--dir",
        &dir_text,
        "--transactions",
        "40000",
        "--cards",
        "1500",
    ];
    let stdout = scratch.ok(&args);
    assert!(stdout.contains("online = batch for 200 cards"), "{stdout}");
    // The summary says what went over HTTP and what the log holds: one row
    // per card predicted, the timed one-card requests and the checked batch.
    assert!(
        stdout.contains("501 HTTP requests")
            && stdout.contains("500 one-card predictions timed")
            && stdout.contains("700 rows (500 one-card requests + 1 request for 200 cards)"),
        "{stdout}"
    );

    let in_qs = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_sluice"))
            .arg("--project")
            .arg(&dir)
            .args(extra)
            .env_remove("SLUICE_PROJECT")
            .output()
            .unwrap()
    };
    let json = |extra: &[&str]| -> Value {
        let mut all = extra.to_vec();
        all.push("--json");
        let out = in_qs(&all);
        assert!(
            out.status.success(),
            "{extra:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let groups: Vec<String> = json(&["list", "feature-groups"])
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap().to_string())
        .collect();
    for expected in [
        "card_activity",
        "card_profile",
        "fraud_labels",
        "fraud_predictions",
        "fraud_log",
    ] {
        assert!(
            groups.iter().any(|g| g == expected),
            "{expected} missing from {groups:?}"
        );
    }
    let models = json(&["models", "list"]);
    let gbdt = models
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["algorithm"] == "gbdt_classifier")
        .expect("a GBDT model");
    let auc = gbdt["metrics"]["roc_auc"].as_f64().unwrap();
    assert!(auc > 0.85, "GBDT test ROC AUC {auc}");
    assert!(models
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["aliases"] == serde_json::json!(["production"])));
    let skew = json(&["skew-check", "fraud@production"]);
    assert_eq!(skew["mismatches"], 0, "{skew}");
    assert_eq!(skew["rows"], 700, "{skew}");
    let runs = json(&["list", "runs"]);
    assert!(runs.as_array().unwrap().len() >= 3, "{runs}");

    // The example's chain: the feature pipelines find no new file, then the
    // production model scores the last day into the file and the group.
    let chain = json(&["run", "daily_scoring"]);
    assert_eq!(chain["kind"], "chain", "{chain}");
    let steps = chain["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 3, "{chain}");
    assert_eq!(steps[0]["rows_in"], 0, "{chain}");
    let scoring = &steps[2];
    assert_eq!(scoring["kind"], "batch_inference", "{chain}");
    assert!(scoring["rows"].as_u64().unwrap() > 0, "{chain}");
    assert_eq!(scoring["feature_group"], "fraud_predictions:1", "{chain}");
    assert!(dir.join("predictions/last_day.parquet").is_file());

    // A second run into the same folder needs --force; a foreign folder is refused.
    let stderr = scratch.user_error(&args);
    assert!(stderr.contains("--force"), "{stderr}");
    let foreign = scratch.path("features").display().to_string();
    let stderr = scratch.user_error(&["quickstart", "--dir", &foreign]);
    assert!(stderr.contains("not made by the quickstart"), "{stderr}");
}

/// With `sluice serve` holding the embedded online store, an ingest or a
/// delete from another process is refused before either store is written:
/// the stores never diverge.
#[test]
fn writes_while_a_server_holds_the_online_store_are_refused_whole() {
    use std::io::{BufRead, BufReader};

    let project = applied();
    let csv = project.write("a.csv", "id,ts,amount,cat\n5,2026-01-01T00:00:00Z,1.5,x\n");
    project.ok(&["ingest", "tx", &csv]);
    let mut server = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("--project")
        .arg(project.dir.path())
        .args(["serve", "--port", "0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(server.stderr.take().unwrap()).lines();
    for line in lines {
        if line.unwrap().contains("listening on") {
            break;
        }
    }
    let before = project.snapshot();
    let more = project.write("b.csv", "id,ts,amount,cat\n6,2026-01-01T00:00:00Z,2.5,y\n");
    let refused = [
        project.user_error(&["ingest", "tx", &more]),
        project.user_error(&["delete", "tx", "id=5"]),
    ];
    let after = project.snapshot();
    server.kill().unwrap();
    server.wait().unwrap();
    for stderr in refused {
        assert!(
            stderr.contains("held by another process") && stderr.contains("nothing was written"),
            "{stderr}"
        );
    }
    assert_eq!(before, after, "no offline commit, no catalog record");
    let lookup = project.json(&["lookup", "tx", "id=5", "id=6"]);
    assert_eq!(lookup["results"][0]["status"], "PRESENT", "not deleted");
    assert_eq!(lookup["results"][1]["status"], "MISSING", "not ingested");
}

const MIXED_CASE: &str = r#"
[[feature_group]]
name = "accounts"
version = 1
primary_key = ["UserId"]
event_time = "Ts"
online = true
columns = [
  { name = "UserId", type = "int64" },
  { name = "Ts", type = "timestamp" },
  { name = "Amount", type = "float64", nullable = true },
  { name = "select", type = "string", nullable = true },
]

[[feature_group]]
name = "outcomes"
version = 1
primary_key = ["UserId"]
event_time = "At"
columns = [
  { name = "UserId", type = "int64" },
  { name = "At", type = "timestamp" },
  { name = "Label", type = "bool" },
]

[[feature_view]]
name = "by_user"
version = 1
spine = "outcomes:1"
labels = ["Label"]
joins = [{ feature_group = "accounts:1", on = ["UserId"], select = ["Amount", "select"] }]
"#;

/// Column names are taken literally everywhere: mixed case and SQL reserved
/// words go through ingest (insert and merge), read, lookup, delete, a view
/// and a training dataset.
#[test]
fn mixed_case_and_reserved_word_columns_work_end_to_end() {
    let project = Project::new();
    std::fs::write(project.path("features/test.toml"), MIXED_CASE).unwrap();
    project.ok(&["apply"]);
    let first = project.write(
        "a.csv",
        "UserId,Ts,Amount,select\n1,2026-01-01T00:00:00Z,1.5,x\n2,2026-01-01T00:00:00Z,2.5,y\n",
    );
    project.ok(&["ingest", "accounts", &first]);
    // The same (UserId, Ts) again replaces the row: the merge path.
    let second = project.write(
        "b.csv",
        "UserId,Ts,Amount,select\n1,2026-01-01T00:00:00Z,9.5,z\n3,2026-01-02T00:00:00Z,3.5,w\n",
    );
    let merged = project.json(&["ingest", "accounts", &second]);
    assert_eq!(merged["offline_rows_updated"], 1, "{merged}");
    let lookup = project.json(&["lookup", "accounts", "UserId=1"]);
    assert_eq!(lookup["results"][0]["values"]["Amount"], 9.5);
    assert_eq!(lookup["results"][0]["values"]["select"], "z");

    let labels = project.write(
        "labels.csv",
        "UserId,At,Label\n1,2026-01-03T00:00:00Z,true\n3,2026-01-03T00:00:00Z,false\n",
    );
    project.ok(&["ingest", "outcomes", &labels]);
    project.ok(&["training-data", "create", "by_user"]);
    let out = project.path("td.csv");
    project.ok(&[
        "training-data",
        "read",
        "by_user",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    assert!(lines.remove(0).contains("Amount"), "{text}");
    lines.sort_unstable();
    assert!(
        lines[0].contains("9.5") && lines[0].contains(",z") && lines[1].contains("3.5"),
        "{text}"
    );

    project.ok(&["delete", "accounts", "UserId=1"]);
    let lookup = project.json(&["lookup", "accounts", "UserId=1", "UserId=3"]);
    assert_eq!(lookup["results"][0]["status"], "MISSING");
    assert_eq!(lookup["results"][1]["status"], "PRESENT");
    let rows = project.path("rows.csv");
    project.ok(&["read", "accounts", "--out", rows.to_str().unwrap()]);
    let rows = std::fs::read_to_string(rows).unwrap();
    assert_eq!(rows.lines().count(), 3, "header, user 2 and user 3: {rows}");
}

/// `with_training_data` plus training dataset 1 (random:0.5:7) and a
/// GBDT model `fraud_gbdt` version 1 trained on it, aliased `production`.
fn with_model() -> Project {
    let project = with_training_data();
    project.ok(&[
        "training-data",
        "create",
        "fraud",
        "--split",
        "random:0.5:7",
    ]);
    project.ok(&[
        "train",
        "fraud",
        "--td",
        "1",
        "--algorithm",
        "gbdt_classifier",
        "--param",
        "rounds=3",
        "--param",
        "min_samples_leaf=1",
        "--model",
        "fraud_gbdt",
    ]);
    project.ok(&["models", "alias", "fraud_gbdt@production", "1"]);
    project
}

/// The contract's `list models` is `models list`: same text, same JSON.
#[test]
fn list_models_prints_what_models_list_prints() {
    let empty = applied();
    assert!(
        empty.ok(&["list", "models"]).starts_with("no models"),
        "an empty registry says so"
    );
    assert_eq!(empty.json(&["list", "models"]), serde_json::json!([]));

    let project = with_model();
    let text = project.ok(&["list", "models"]);
    assert!(
        text.starts_with("fraud_gbdt:1  gbdt_classifier") && text.contains("@production"),
        "{text}"
    );
    assert_eq!(text, project.ok(&["models", "list"]));
    let listed = project.json(&["list", "models"]);
    assert_eq!(listed, project.json(&["models", "list"]));
    assert_eq!(listed[0]["version"], 1, "{listed}");
    assert_eq!(listed[0]["aliases"], serde_json::json!(["production"]));
}

/// Asking for a model or a training dataset that does not exist is the
/// user's mistake (exit 1), named in the message, not an internal failure.
#[test]
fn unknown_models_and_training_dataset_versions_are_user_errors() {
    let project = with_model();
    let stderr = project.user_error(&["training-data", "read", "fraud", "99"]);
    assert!(
        stderr.contains("'fraud:1'") && stderr.contains("no version 99"),
        "{stderr}"
    );
    let stderr = project.user_error(&["training-data", "recreate", "fraud", "99"]);
    assert!(stderr.contains("no version 99"), "{stderr}");
    let stderr = project.user_error(&["models", "show", "nosuch"]);
    assert!(
        stderr.contains("model 'nosuch' is not registered") && stderr.contains("fraud_gbdt"),
        "{stderr}"
    );
    let stderr = project.user_error(&["models", "show", "fraud_gbdt:7"]);
    assert!(stderr.contains("no version 7"), "{stderr}");
    let stderr = project.user_error(&["models", "show", "fraud_gbdt@staging"]);
    assert!(stderr.contains("'fraud_gbdt@staging'"), "{stderr}");
    let stderr = project.user_error(&["models", "alias", "nosuch@production", "1"]);
    assert!(stderr.contains("'nosuch'"), "{stderr}");
}

/// Aliases follow the rules of every other name, whatever sets them.
#[test]
fn model_aliases_must_be_valid_names() {
    let project = with_model();
    for bad in ["../x", "a b", "<script>", "1st", ""] {
        let alias = format!("fraud_gbdt@{bad}");
        let stderr = project.user_error(&["models", "alias", &alias, "1"]);
        assert!(
            stderr.contains(&format!("'{bad}'"))
                && stderr.contains("alias")
                && stderr.contains("names "),
            "{bad:?}: {stderr}"
        );
    }
    let listed = project.json(&["models", "list"]);
    assert_eq!(
        listed[0]["aliases"],
        serde_json::json!(["production"]),
        "no alias registered: {listed}"
    );
    project.ok(&["models", "alias", "fraud_gbdt@Canary_2", "1"]);
}

/// A training dataset of no rows is refused, saying what selected none;
/// nothing is registered.
#[test]
fn training_data_that_selects_no_rows_is_refused() {
    let project = with_training_data();
    let stderr = project.user_error(&[
        "training-data",
        "create",
        "fraud",
        "--start",
        "2100-01-01T00:00:00Z",
    ]);
    assert!(
        stderr.contains("the spine group 'labels:1' from 2100-01-01T00:00:00Z selected no rows")
            && stderr.contains("the start time 2100-01-01T00:00:00Z is after now, 20"),
        "{stderr}"
    );
    let stderr = project.user_error(&[
        "training-data",
        "create",
        "fraud",
        "--start",
        "2026-01-10T00:00:00Z",
        "--end",
        "2026-01-20T00:00:00Z",
    ]);
    assert!(
        stderr.contains(
            "from 2026-01-10T00:00:00Z to 2026-01-20T00:00:00Z selected no rows; no training dataset was registered"
        ),
        "{stderr}"
    );
    let spine = project.write("spine.csv", "card,at,is_fraud\n");
    let stderr = project.user_error(&["training-data", "create", "fraud", "--spine", &spine]);
    assert!(
        stderr.contains(&format!("the spine file {spine} selected no rows")),
        "{stderr}"
    );
    assert_eq!(
        project.json(&["list", "training-datasets"]),
        serde_json::json!([]),
        "nothing registered"
    );
    let created = project.ok(&[
        "training-data",
        "create",
        "fraud",
        "--start",
        "2026-01-08T00:00:00Z",
    ]);
    assert_eq!(
        created.trim(),
        "1",
        "a range with rows still makes version 1"
    );
}

/// A file with a header and no rows is not an offline commit, and the
/// output says so instead of naming the previous commit.
#[test]
fn ingesting_no_rows_commits_nothing_and_says_so() {
    let project = applied();
    let csv = project.write("a.csv", "id,ts,amount,cat\n1,2026-01-01T00:00:00Z,1.5,x\n");
    project.ok(&["ingest", "tx", &csv]);
    project.ok(&["ingest", "tx", &csv]);
    let before = project.snapshot();
    let empty = project.write("empty.csv", "id,ts,amount,cat\n");
    let stdout = project.ok(&["ingest", "tx", &empty]);
    assert!(
        stdout.contains("no rows in") && stdout.contains("no offline commit made"),
        "{stdout}"
    );
    assert!(!stdout.contains("offline commit 1"), "{stdout}");
    assert_eq!(project.snapshot(), before, "nothing written");
    let ingest = project.json(&["ingest", "tx", &empty]);
    assert_eq!(ingest["rows"], 0, "{ingest}");
    assert_eq!(ingest["committed"], false, "{ingest}");
    assert_eq!(ingest["offline_version"], 1, "the latest commit: {ingest}");

    // A group never written stays so: no empty table, no recorded commit.
    let empty_aged = project.write("empty_aged.csv", "id,ts,v\n");
    let ingest = project.json(&["ingest", "aged", &empty_aged]);
    assert_eq!(ingest["committed"], false, "{ingest}");
    let show = project.json(&["show", "aged"]);
    assert_eq!(
        (&show["commits"], &show["offline_version"]),
        (&serde_json::json!([]), &Value::Null),
        "{show}"
    );
}

/// An on-demand feature whose declared type cannot hold its expression's
/// values (text read as a number gives nulls) is refused by `apply`, with
/// the feature, the expression's type and the declared type named.
#[test]
fn an_on_demand_type_that_would_lose_values_is_refused_at_apply() {
    let project = Project::new();
    let view = |features: &str| {
        format!(
            r#"
[[feature_view]]
name = "spend"
version = 1
joins = [{{ feature_group = "tx:1", on = {{ card = "id" }}, select = ["amount", "cat"] }}]
on_demand = [{features}]
"#
        )
    };
    for (feature, produced, declared) in [
        (
            r#"{ name = "cat_code", expr = "cat", type = "int64" }"#,
            "Utf8",
            "int64",
        ),
        (r#"{ name = "cat_code", expr = "cat" }"#, "Utf8", "float64"),
        (
            r#"{ name = "cents", expr = "amount * 100", type = "int64" }"#,
            "Float64",
            "int64",
        ),
    ] {
        std::fs::write(project.path("features/views.toml"), view(feature)).unwrap();
        let stderr = project.user_error(&["apply"]);
        assert!(
            stderr.contains("feature view 'spend:1'")
                && stderr.contains("on-demand feature '")
                && stderr.contains(&format!("gives {produced}, which cannot become {declared}")),
            "{feature}: {stderr}"
        );
        assert_eq!(
            project.json(&["list", "feature-groups"]),
            serde_json::json!([]),
            "nothing applied"
        );
    }
    std::fs::write(
        project.path("features/views.toml"),
        view(
            r#"{ name = "is_x", expr = "cat = 'x'", type = "bool" },
  { name = "x_score", expr = "cat = 'x'" },
  { name = "hour", expr = "date_part('hour', request_time)", type = "int64" },
  { name = "card_text", expr = "card", type = "string" },
  { name = "cents", expr = "cast(amount * 100 as bigint)", type = "int64" },"#,
        ),
    )
    .unwrap();
    project.ok(&["apply"]);
}

/// `read --json` is one document: the group, the commit read and the rows as
/// objects in column order, timestamps as RFC 3339 text. `--as-of` names the
/// commit it resolved to; a time before the first commit is refused with
/// that commit's time rather than answered with an empty table.
#[test]
fn read_json_names_the_commit_read_and_refuses_a_time_before_the_first() {
    let project = applied();
    let first = project.write(
        "a.csv",
        "id,ts,amount,cat\n1,2026-01-01T00:00:00Z,1.5,x\n2,2026-01-02T00:00:00Z,,\n",
    );
    project.ok(&["ingest", "tx", &first]);
    let between = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let second = project.write("b.csv", "id,ts,amount,cat\n3,2026-01-03T00:00:00Z,3.5,z\n");
    project.ok(&["ingest", "tx", &second]);

    let latest = project.json(&["read", "tx"]);
    assert_eq!(
        (&latest["feature_group"], &latest["commit"]),
        (&Value::from("tx:1"), &Value::from(1)),
        "{latest}"
    );
    let mut rows = latest["rows"].as_array().unwrap().clone();
    rows.sort_by_key(|row| row["id"].as_i64());
    assert_eq!(
        rows,
        vec![
            serde_json::json!({ "id": 1, "ts": "2026-01-01T00:00:00Z", "amount": 1.5, "cat": "x" }),
            serde_json::json!({ "id": 2, "ts": "2026-01-02T00:00:00Z", "amount": null, "cat": null }),
            serde_json::json!({ "id": 3, "ts": "2026-01-03T00:00:00Z", "amount": 3.5, "cat": "z" }),
        ]
    );
    let columns: Vec<&str> = rows[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(columns, ["id", "ts", "amount", "cat"], "column order");

    let then = project.json(&["read", "tx", "--as-of", &between]);
    assert_eq!(then["commit"], 0, "{then}");
    assert_eq!(then["rows"].as_array().unwrap().len(), 2, "{then}");
    let limited = project.json(&["read", "tx", "--commit", "0", "--limit", "1"]);
    assert_eq!(limited["commit"], 0, "{limited}");
    assert_eq!(limited["rows"].as_array().unwrap().len(), 1, "{limited}");
    let out = project.path("then.csv");
    let written = project.json(&[
        "read",
        "tx",
        "--as-of",
        &between,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        (&written["commit"], &written["rows_written"]),
        (&Value::from(0), &Value::from(2)),
        "{written}"
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 3);

    let first_commit = project.json(&["show", "tx"])["commits"][0]["committed_at"]
        .as_str()
        .unwrap()
        .to_string();
    for extra in [&[][..], &["--json"], &["--out", out.to_str().unwrap()]] {
        let mut args = vec!["read", "tx", "--as-of", "2000-01-01T00:00:00Z"];
        args.extend_from_slice(extra);
        let stderr = project.user_error(&args);
        assert!(
            stderr.contains("at or before 2000-01-01T00:00:00Z")
                && stderr.contains(&format!("first commit (0) was made at {first_commit}")),
            "{extra:?}: {stderr}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(&out).unwrap().lines().count(),
        3,
        "a refused read leaves the file as it was"
    );
}

/// A table cuts a huge value short, so that one 1 MB cell neither widens
/// every line nor slows the printing; --json and --out keep it whole.
#[test]
fn tables_cut_wide_values_that_json_and_files_keep_whole() {
    let project = applied();
    let wide = "w".repeat(1 << 20);
    let mut csv = String::from("id,ts,amount,cat\n");
    for id in 0..20 {
        let cat = if id == 7 { wide.as_str() } else { "short" };
        csv.push_str(&format!("{id},2026-01-01T00:00:00Z,1.0,{cat}\n"));
    }
    let file = project.write("wide.csv", &csv);
    project.ok(&["ingest", "tx", &file]);

    let started = std::time::Instant::now();
    let table = project.ok(&["read", "tx", "--limit", "20"]);
    let elapsed = started.elapsed();
    let longest = table.lines().map(|l| l.chars().count()).max().unwrap();
    assert!(longest < 150, "a line of {longest} characters");
    assert!(
        table.contains(&format!("| {}… |", "w".repeat(59))),
        "cut to 60 characters, ending in …: {table}"
    );
    assert!(table.contains("cut short"), "says so: {table}");
    assert!(table.contains("| short"), "{table}");
    assert!(
        elapsed < std::time::Duration::from_secs(10),
        "printing took {elapsed:?}"
    );

    let json = project.json(&["read", "tx"]);
    let row = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == 7)
        .unwrap();
    assert_eq!(row["cat"].as_str().unwrap().len(), wide.len());
    let out = project.path("all.csv");
    project.ok(&["read", "tx", "--out", out.to_str().unwrap()]);
    assert!(std::fs::read_to_string(&out).unwrap().contains(&wide));
    assert!(
        !project.ok(&["read", "aged"]).contains("cut short"),
        "nothing cut, nothing said"
    );
}

/// `models alias --json` says what was set and which version the alias
/// pointed at before (null for a new alias); the text says it too.
#[test]
fn models_alias_json_says_what_was_set_and_what_it_replaced() {
    let project = with_model();
    project.ok(&[
        "train",
        "fraud",
        "--td",
        "1",
        "--algorithm",
        "gbdt_classifier",
        "--param",
        "rounds=2",
        "--param",
        "min_samples_leaf=1",
        "--model",
        "fraud_gbdt",
    ]);
    assert_eq!(
        project.json(&["models", "alias", "fraud_gbdt@production", "2"]),
        serde_json::json!({
            "model": "fraud_gbdt",
            "alias": "production",
            "version": 2,
            "previous_version": 1,
        })
    );
    let new = project.json(&["models", "alias", "fraud_gbdt@canary", "1"]);
    assert_eq!(new["previous_version"], Value::Null, "{new}");
    let text = project.ok(&["models", "alias", "fraud_gbdt@production", "1"]);
    assert_eq!(text.trim(), "fraud_gbdt@production -> version 1 (was 2)");
    assert_eq!(
        project.json(&["models", "show", "fraud_gbdt@production"])["version"],
        1
    );
}

/// `training-data read --json` holds the chosen split's rows as objects, or
/// with --out says what was written; the splits together are the dataset.
#[test]
fn training_data_read_json_holds_the_split_rows_or_what_was_written() {
    let project = with_training_data();
    project.ok(&[
        "training-data",
        "create",
        "fraud",
        "--split",
        "random:0.5:7",
    ]);
    let mut rows = Vec::new();
    for split in ["train", "test"] {
        let read = project.json(&["training-data", "read", "fraud", "1", "--split", split]);
        assert_eq!(
            (&read["feature_view"], &read["version"], &read["split"]),
            (
                &Value::from("fraud:1"),
                &Value::from(1),
                &Value::from(split)
            ),
            "{read}"
        );
        let split_rows = read["rows"].as_array().unwrap();
        for row in split_rows {
            let columns: Vec<&str> = row
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(columns, ["card", "at", "is_fraud", "amount", "v"], "{row}");
        }
        let out = project.path(&format!("{split}.parquet"));
        let written = project.json(&[
            "training-data",
            "read",
            "fraud",
            "1",
            "--split",
            split,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(written["rows_written"], split_rows.len(), "{written}");
        assert_eq!(written["out"], out.to_str().unwrap(), "{written}");
        assert_eq!(written["split"], split, "{written}");
        assert!(written.get("rows").is_none(), "{written}");
        rows.extend(
            split_rows
                .iter()
                .map(|r| format!("{}@{}", r["card"], r["at"])),
        );
    }
    rows.sort();
    assert_eq!(
        rows,
        [
            "1@\"2025-12-31T00:00:00Z\"",
            "1@\"2026-01-03T00:00:00Z\"",
            "1@\"2026-01-05T00:00:00Z\"",
            "2@\"2026-01-08T00:00:00Z\"",
            "2@\"2026-01-09T00:00:00Z\"",
            "3@\"2026-01-08T00:00:00Z\"",
        ]
    );
}

/// Progress bars are for terminals: with stderr piped, ingest and training
/// write no bar, spinner or escape sequence there.
#[test]
fn progress_stays_off_a_piped_stderr() {
    let project = with_training_data();
    project.ok(&[
        "training-data",
        "create",
        "fraud",
        "--split",
        "random:0.5:7",
    ]);
    let csv = project.write(
        "more.csv",
        "id,ts,amount,cat\n9,2026-01-09T00:00:00Z,9.0,q\n",
    );
    for args in [
        &["ingest", "tx", &csv][..],
        &[
            "train",
            "fraud",
            "--td",
            "1",
            "--algorithm",
            "gbdt_classifier",
            "--param",
            "rounds=3",
            "--param",
            "min_samples_leaf=1",
            "--model",
            "piped",
        ],
    ] {
        let out = project.run(args);
        assert!(out.status.success(), "{args:?}");
        assert!(
            !out.stderr.iter().any(|b| *b == 0x1b || *b == b'\r'),
            "{args:?} wrote control characters: {:?}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

const MIXED_CASE_PIPELINE: &str = r#"
[[pipeline]]
name = "accounts_feed"
kind = "feature"
sink = "accounts"
[pipeline.source]
type = "files"
path = "feed/*.csv"
columns = [
  { name = "UserId", type = "int64" },
  { name = "Ts", type = "timestamp" },
  { name = "Amount", type = "float64", nullable = true },
  { name = "select", type = "string", nullable = true },
]
[pipeline.transform]
sql = 'SELECT "UserId", "Ts", "Amount" * 2 AS "Amount", "select" FROM source'
"#;

/// One HTTP/1.1 request to `address` (host:port) with a JSON body; the status and body.
fn http_post(address: &str, path: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

/// Mixed-case and reserved-word columns through a pipeline (with SQL that
/// quotes them) and through the server's feature vectors.
#[test]
fn mixed_case_columns_go_through_pipelines_and_serving() {
    use std::io::{BufRead, BufReader};

    let project = Project::new();
    std::fs::write(
        project.path("features/test.toml"),
        format!("{MIXED_CASE}{MIXED_CASE_PIPELINE}"),
    )
    .unwrap();
    project.ok(&["apply"]);
    std::fs::create_dir_all(project.path("feed")).unwrap();
    project.write(
        "feed/a.csv",
        "UserId,Ts,Amount,select\n4,2026-01-01T00:00:00Z,1.25,q\n",
    );
    project.ok(&["run", "accounts_feed"]);
    let lookup = project.json(&["lookup", "accounts", "UserId=4"]);
    assert_eq!(lookup["results"][0]["values"]["Amount"], 2.5, "{lookup}");
    assert_eq!(lookup["results"][0]["values"]["select"], "q", "{lookup}");

    let mut server = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("--project")
        .arg(project.dir.path())
        .args(["serve", "--port", "0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut address = String::new();
    for line in BufReader::new(server.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some((_, at)) = line.split_once("listening on http://") {
            address = at.trim().to_string();
            break;
        }
    }
    let (status, body) = http_post(
        &address,
        "/v1/feature-views/by_user/1/vectors",
        r#"{"entities": {"UserId": [4, 5]}}"#,
    );
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        answer["vectors"][0],
        serde_json::json!([2.5, "q"]),
        "{answer}"
    );
    assert_eq!(answer["status"][0][0], "PRESENT", "{answer}");
    assert_eq!(answer["status"][1][0], "MISSING", "{answer}");
}
