//! What the suites of the `sluice` binary share: a temporary project driven
//! through the binary ([`Project`]), the definitions it starts with, the
//! fixtures that add a view, data, a training dataset and a model to it,
//! and a served project.

// Each suite compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Lines};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Output, Stdio};

use serde_json::Value;

/// Two online groups: `tx` and `aged`.
pub const DEFINITIONS: &str = include_str!("../definitions/tx_and_aged.toml");

/// The view `fraud` over [`DEFINITIONS`]' groups, with its spine.
pub const VIEWS: &str = include_str!("../definitions/views.toml");

/// Mixed-case and SQL reserved-word column names.
pub const MIXED_CASE: &str = include_str!("../definitions/mixed_case.toml");

/// A new project (`sluice init`) in a temporary folder, its example replaced
/// by [`DEFINITIONS`] (not applied), driven through the binary.
pub struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Self {
        let project = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        project.ok(&["init"]);
        std::fs::remove_file(project.path("features/example.toml")).unwrap();
        project.define("test.toml", DEFINITIONS);
        project
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Writes definitions to `features/{file}`.
    pub fn define(&self, file: &str, text: &str) {
        std::fs::write(self.path(&format!("features/{file}")), text).unwrap();
    }

    /// Appends `text` to the project's sluice.toml.
    pub fn add_to_config(&self, text: &str) {
        let config = self.path("sluice.toml");
        let before = std::fs::read_to_string(&config).unwrap();
        std::fs::write(&config, format!("{before}\n{text}")).unwrap();
    }

    /// Writes a file into the project; its path, for arguments.
    pub fn write(&self, name: &str, text: &str) -> String {
        std::fs::write(self.path(name), text).unwrap();
        self.path(name).display().to_string()
    }

    pub fn run(&self, args: &[&str]) -> Output {
        run_in(self.dir.path(), args)
    }

    /// Runs a command that must succeed; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        ok_in(self.dir.path(), args)
    }

    /// Runs a command with `--json` that must succeed and print one JSON document.
    pub fn json(&self, args: &[&str]) -> Value {
        json_in(self.dir.path(), args)
    }

    /// Runs a command that must fail as a user error; returns stderr.
    pub fn user_error(&self, args: &[&str]) -> String {
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

    /// Writes `text` to the project's `file` and ingests it into `group`; the file's path.
    pub fn ingest_file(&self, group: &str, file: &str, text: &str) -> String {
        let path = self.write(file, text);
        self.ok(&["ingest", group, &path]);
        path
    }

    /// Runs `args` with `--out` into the project's `file`; that file's path.
    pub fn out(&self, args: &[&str], file: &str) -> PathBuf {
        let out = self.path(file);
        let mut args = args.to_vec();
        args.extend(["--out", out.to_str().unwrap()]);
        self.ok(&args);
        out
    }

    /// [`Project::out`] into a text file; the text written.
    pub fn read_out(&self, args: &[&str], file: &str) -> String {
        std::fs::read_to_string(self.out(args, file)).unwrap()
    }

    /// Starts a command in the background, stdout and stderr inherited.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args).spawn().unwrap()
    }

    /// `sluice serve --port 0` (Flight off, so that tests running at once
    /// do not race for its port) with `extra` arguments, once it listens.
    pub fn serve(&self, extra: &[&str]) -> Server {
        let mut args = vec!["serve", "--port", "0", "--flight-port", "0"];
        args.extend_from_slice(extra);
        let mut child = self.command(&args).stderr(Stdio::piped()).spawn().unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut banner = Vec::new();
        let mut address = String::new();
        for line in stderr.by_ref() {
            let line = line.unwrap();
            if let Some((_, at)) = line.split_once("listening on http://") {
                address = at.trim().to_string();
            }
            banner.push(line);
            if !address.is_empty() {
                break;
            }
        }
        Server {
            child,
            address,
            banner,
            _stderr: stderr,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
        command
            .arg("--project")
            .arg(self.dir.path())
            .args(args)
            .env_remove("SLUICE_PROJECT");
        command
    }

    /// Everything a bad command must leave alone: catalog view, row counts and the offline files.
    pub fn snapshot(&self) -> (Value, BTreeMap<PathBuf, Vec<u8>>) {
        let show = self.json(&["show", "tx"]);
        let mut files = BTreeMap::new();
        collect_files(&self.path(".sluice/offline"), &mut files);
        (show, files)
    }
}

/// A `sluice serve` process, stopped by [`Server::stop`].
pub struct Server {
    pub child: Child,
    /// Where it listens (`host:port`).
    pub address: String,
    /// Its stderr up to and including the "listening on" line.
    pub banner: Vec<String>,
    /// The rest of its stderr, kept open so that the server never writes to a closed pipe.
    _stderr: Lines<BufReader<ChildStderr>>,
}

impl Server {
    pub fn stop(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// Runs the binary on the project in `dir`.
fn run_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("--project")
        .arg(dir)
        .args(args)
        .env_remove("SLUICE_PROJECT")
        .output()
        .unwrap()
}

fn ok_in(dir: &Path, args: &[&str]) -> String {
    let out = run_in(dir, args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn json_in(dir: &Path, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let stdout = ok_in(dir, &args);
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{args:?}: stdout is not one JSON document ({e}): {stdout}"))
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

/// A new project with [`DEFINITIONS`] applied.
pub fn applied() -> Project {
    let project = Project::new();
    project.ok(&["apply"]);
    project
}

/// Seconds since the epoch of an RFC 3339 time (the `aged` group's times).
pub fn epoch_seconds(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp()
}

/// A project with [`VIEWS`] applied and these rows ingested into `tx` and `aged`.
pub fn with_views(tx_csv: &str, aged_csv: &str) -> Project {
    let project = Project::new();
    project.define("views.toml", VIEWS);
    project.ok(&["apply"]);
    project.ingest_file("tx", "tx.csv", tx_csv);
    project.ingest_file("aged", "aged.csv", aged_csv);
    project
}

/// A project with the `fraud` view applied and rows in its spine (`labels`)
/// and joined groups (`tx`, `aged`): six labelled rows, two classes.
pub fn with_training_data() -> Project {
    let jan2 = epoch_seconds("2026-01-02T00:00:00Z");
    let project = with_views(
        "id,ts,amount,cat\n1,2026-01-01T00:00:00Z,1.0,a\n1,2026-01-05T00:00:00Z,5.0,b\n2,2026-01-01T00:00:00Z,2.0,c\n2,2026-01-07T00:00:00Z,7.0,d\n",
        &format!("id,ts,v\n1,{jan2},10\n2,{jan2},20\n"),
    );
    project.ingest_file(
        "labels",
        "labels.csv",
        "card,at,is_fraud\n1,2026-01-03T00:00:00Z,true\n1,2026-01-05T00:00:00Z,false\n2,2026-01-08T00:00:00Z,true\n\
         3,2026-01-08T00:00:00Z,false\n1,2025-12-31T00:00:00Z,false\n2,2026-01-09T00:00:00Z,true\n",
    );
    project
}

/// Makes the next training dataset of `fraud`, split as every one these suites make.
pub const CREATE_TRAINING_DATA: [&str; 5] = [
    "training-data",
    "create",
    "fraud",
    "--split",
    "random:0.5:7",
];

/// [`with_training_data`] plus training dataset 1 (random:0.5:7).
pub fn with_training_dataset() -> Project {
    let project = with_training_data();
    project.ok(&CREATE_TRAINING_DATA);
    project
}

/// `sluice train` of a small GBDT on training dataset 1 of `fraud`, as
/// version 1 (or the next) of `model`; `rounds` is `rounds=N`.
pub fn train<'a>(model: &'a str, rounds: &'a str) -> [&'a str; 12] {
    [
        "train",
        "fraud",
        "--td",
        "1",
        "--algorithm",
        "gbdt_classifier",
        "--param",
        rounds,
        "--param",
        "min_samples_leaf=1",
        "--model",
        model,
    ]
}

/// [`with_training_dataset`] plus a GBDT model `fraud_gbdt` version 1
/// trained on it, aliased `production`.
pub fn with_model() -> Project {
    let project = with_training_dataset();
    project.ok(&train("fraud_gbdt", "rounds=3"));
    project.ok(&["models", "alias", "fraud_gbdt@production", "1"]);
    project
}
