//! README.md's "Using it" block, run as written: a user's first commands
//! must work on the project they describe.
//!
//! The rules, which keep the block runnable:
//! - The commands are the block's lines that start with `sluice `; other
//!   lines (none today) are prose for the shell and are not run.
//! - A trailing comment (`#` after whitespace) is not part of the command.
//! - The first command is `sluice init DIR && cd DIR`: it makes the project
//!   the rest runs in. The test runs `sluice init` into a fresh temporary
//!   directory instead, and every later command in that directory with
//!   `--project`.
//! - Every later command is plain words: no quotes, variables, pipes,
//!   redirections or `&&`, so it means the same typed into any shell as
//!   split on whitespace here. Placeholders cannot run, so there are none.
//! - Each must exit 0. One with `--json` must print one JSON document, and a
//!   `lookup --json` must find every key PRESENT: the block looks keys up
//!   right after ingesting them, and a key reading EXPIRED or MISSING there
//!   means the example data and the example definitions disagree.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// The commands of the README's "Using it" block, comments stripped.
fn using_it_commands() -> Vec<String> {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let section = readme
        .split_once("\n## Using it\n")
        .expect("README.md has a \"Using it\" section")
        .1;
    let block = section
        .split_once("```sh\n")
        .expect("\"Using it\" has a sh block")
        .1
        .split_once("```")
        .expect("the block ends")
        .0;
    block
        .lines()
        .filter(|line| line.starts_with("sluice "))
        .map(|line| without_comment(line).to_string())
        .collect()
}

/// `line` up to a `#` that follows whitespace.
fn without_comment(line: &str) -> &str {
    let end = line
        .char_indices()
        .find(|&(i, c)| c == '#' && line[..i].ends_with(char::is_whitespace))
        .map_or(line.len(), |(i, _)| i);
    line[..end].trim_end()
}

fn sluice(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .current_dir(dir)
        .arg("--project")
        .arg(dir)
        .args(args)
        .env_remove("SLUICE_PROJECT")
        .env_remove("SLUICE_CATALOG")
        .env_remove("SLUICE_OFFLINE")
        .env_remove("SLUICE_ONLINE")
        .output()
        .unwrap()
}

#[test]
fn the_using_it_block_runs_as_written() {
    let commands = using_it_commands();
    assert!(commands.len() >= 10, "too few commands found: {commands:?}");
    let (init, rest) = commands.split_first().unwrap();
    let (created, entered) = init
        .strip_prefix("sluice init ")
        .and_then(|s| s.split_once(" && cd "))
        .unwrap_or_else(|| panic!("the block starts with `sluice init DIR && cd DIR`: {init}"));
    assert_eq!(created, entered, "{init}");

    let scratch = tempfile::tempdir().unwrap();
    let project = scratch.path().join(created);
    let out = sluice(scratch.path(), &["init", project.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{init}: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    for command in rest {
        assert!(
            !command.contains(['"', '\'', '$', '|', '<', '>', ';', '&', '`', '\\']),
            "not a plain command (see the rules above): {command}"
        );
        let args: Vec<&str> = command.split_whitespace().skip(1).collect();
        let out = sluice(&project, &args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "`{command}` exited {:?}: {}{stdout}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        if !args.contains(&"--json") {
            continue;
        }
        let document: Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("`{command}`: not one JSON document ({e}): {stdout}"));
        if args[0] == "lookup" {
            for result in document["results"].as_array().unwrap() {
                assert_eq!(result["status"], "PRESENT", "`{command}`: {result}");
            }
        }
    }
}
