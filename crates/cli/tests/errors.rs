//! Commands the binary does not know are user errors (exit 1), `init`
//! refuses to overwrite a project, and every command has help.

mod common;

use common::Project;

/// The benchmarks are `sluice-bench`'s (crates/bench), so `sluice bench`
/// is an unknown command like any other.
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
    let out = project.run(&["bench", "ingest"]);
    assert_eq!(out.status.code(), Some(1), "sluice bench");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unrecognized subcommand 'bench'"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = project.run(&["frobnicate"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "an unknown command is a user error"
    );
}
