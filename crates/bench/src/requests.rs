//! What `sluice-bench serve` sends: the request bodies of a scenario, and
//! wrk driving them (its Lua script, its run, its figures read back).

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Distinct request bodies each scenario cycles through.
pub const BODIES: usize = 1_000;

/// The request bodies of a scenario, for the in-repo client and wrk alike:
/// {BODIES} of `batch` random keys each.
pub fn bodies(keys: i64, batch: usize, infer: bool) -> Vec<String> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    (0..BODIES)
        .map(|_| {
            let ids: Vec<String> = (0..batch)
                .map(|_| rng.random_range(0..keys).to_string())
                .collect();
            let ids = ids.join(",");
            if infer {
                format!(
                    r#"{{"inputs":[{{"name":"card_id","shape":[{batch}],"datatype":"INT64","data":[{ids}]}}]}}"#
                )
            } else {
                format!(r#"{{"entities":{{"card_id":[{ids}]}}}}"#)
            }
        })
        .collect()
}

/// A wrk script cycling through `bodies`, the same ones the in-repo client
/// sends, written out as Lua long strings (`[==[...]==]`, which no JSON
/// body of digits and punctuation closes early).
pub fn lua_script(bodies: &[String]) -> String {
    let mut script = String::from(
        "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nlocal bodies = {\n",
    );
    for body in bodies {
        let _ = writeln!(script, "[==[{body}]==],");
    }
    script.push_str(
        "}\nlocal n = 0\nrequest = function()\n  n = n % #bodies + 1\n  return wrk.format(nil, nil, nil, bodies[n])\nend\n",
    );
    script
}

/// Runs wrk; returns requests/s and the p50 and p99 latency in seconds.
pub fn wrk(url: &str, script: &Path, connections: u32, seconds: u64) -> Result<(f64, f64, f64)> {
    let output = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
            "-s",
        ])
        .arg(script)
        .arg(url)
        .output()
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || text.contains("Non-2xx") {
        bail!(
            "wrk against {url} failed or got errors:\n{text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let rate = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .with_context(|| format!("no Requests/sec in wrk's output:\n{text}"))?;
    let percentile = |label: &str| -> Result<f64> {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .and_then(|v| duration_seconds(v.trim()))
            .with_context(|| format!("no {label} latency in wrk's output:\n{text}"))
    };
    Ok((rate, percentile("50%")?, percentile("99%")?))
}

/// wrk's durations: `123.00us`, `1.23ms`, `2.00s`, `1.00m`.
fn duration_seconds(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    Some(match unit {
        "us" => value * 1e-6,
        "ms" => value * 1e-3,
        "s" => value,
        "m" => value * 60.0,
        _ => return None,
    })
}
