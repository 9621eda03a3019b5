//! `sluice serve`: its worker settings checked, real-time priority where
//! permitted, writes from other processes refused while it holds the
//! online store, and mixed-case columns served.

mod common;

use common::{applied, Project, MIXED_CASE};
use serde_json::Value;

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
    let workers = ["--workers", "2", "--realtime-priority", "2"];
    if !permitted {
        let refused = project.user_error(&[&["serve", "--port", "0"][..], &workers].concat());
        assert!(refused.contains("CAP_SYS_NICE"), "{refused}");
        return;
    }
    let server = project.serve(&workers);
    let banner = &server.banner;
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
    let tasks = format!("/proc/{}/task", server.child.id());
    for task in std::fs::read_dir(&tasks).unwrap() {
        let stat = std::fs::read_to_string(task.unwrap().path().join("stat")).unwrap();
        let (name, rest) = stat.rsplit_once(") ").unwrap();
        let fields: Vec<&str> = rest.split(' ').collect();
        if (fields[38], fields[37]) == ("2", "2") {
            assert!(name.ends_with("(sluice-server"), "{stat}");
            realtime += 1;
        }
    }
    server.stop();
    assert_eq!(
        realtime, 2,
        "the two workers, and no other thread, at SCHED_RR 2"
    );
}

/// With `sluice serve` holding the embedded online store, an ingest or a
/// delete from another process is refused before either store is written:
/// the stores never diverge.
#[test]
fn writes_while_a_server_holds_the_online_store_are_refused_whole() {
    let project = applied();
    project.ingest_file(
        "tx",
        "a.csv",
        "id,ts,amount,cat\n5,2026-01-01T00:00:00Z,1.5,x\n",
    );
    let server = project.serve(&[]);
    let before = project.snapshot();
    let more = project.write("b.csv", "id,ts,amount,cat\n6,2026-01-01T00:00:00Z,2.5,y\n");
    let refused = [
        project.user_error(&["ingest", "tx", &more]),
        project.user_error(&["delete", "tx", "id=5"]),
    ];
    let after = project.snapshot();
    server.stop();
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

const MIXED_CASE_PIPELINE: &str = include_str!("definitions/mixed_case_pipeline.toml");

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
    let project = Project::new();
    project.define("test.toml", &format!("{MIXED_CASE}{MIXED_CASE_PIPELINE}"));
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

    let server = project.serve(&[]);
    let (status, body) = http_post(
        &server.address,
        "/v1/feature-views/by_user/1/vectors",
        r#"{"entities": {"UserId": [4, 5]}}"#,
    );
    server.stop();
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
