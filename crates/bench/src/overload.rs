//! `bench serve`'s overload run: ten times as many connections as the server
//! admits at once (`[server] max_in_flight`), each sending many-key vector
//! requests in a closed loop, retrying a refusal at once. It measures what
//! load shedding promises: the excess answered 503 at once, the admitted
//! requests' latency bounded, and the process's memory bounded.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::ingest::percentiles;

/// How many times the admitted requests the run's connections are.
pub const OVERLOAD_FACTOR: usize = 10;

#[derive(Debug, Serialize)]
pub struct OverloadFigures {
    pub connections: usize,
    pub keys_per_request: usize,
    pub max_in_flight: usize,
    pub seconds: f64,
    pub answered_200: u64,
    pub answered_503: u64,
    /// Any other status, or a connection that failed.
    pub other: u64,
    pub ok_per_s: f64,
    pub ok_p99_us: f64,
    pub refused_p99_us: f64,
    /// The process's resident memory before the run and its peak during it
    /// (the server runs in this process; the clients' buffers are small).
    pub rss_before_mb: f64,
    pub rss_peak_mb: f64,
}

struct Tally {
    ok: Vec<Duration>,
    refused: Vec<Duration>,
    other: u64,
}

/// Drives `connections` keep-alive connections sending `requests` (cycling)
/// until `seconds` have passed.
pub async fn overload_run(
    addr: SocketAddr,
    requests: Vec<Vec<u8>>,
    connections: usize,
    keys_per_request: usize,
    max_in_flight: usize,
    seconds: f64,
) -> Result<OverloadFigures> {
    if requests.is_empty() {
        bail!("the overload run was given no requests");
    }
    let rss_before_mb = resident_mb()?;
    let requests = Arc::new(requests);
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let sampler = tokio::spawn(async move {
        let mut peak = 0.0f64;
        while Instant::now() < deadline {
            peak = peak.max(resident_mb().unwrap_or(0.0));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        peak
    });
    let clients: Vec<_> = (0..connections)
        .map(|i| {
            let requests = requests.clone();
            tokio::spawn(async move { connection(addr, &requests, i, deadline).await })
        })
        .collect();
    let mut tally = Tally {
        ok: Vec::new(),
        refused: Vec::new(),
        other: 0,
    };
    for client in clients {
        let one = client.await.context("an overload client panicked")?;
        tally.ok.extend(one.ok);
        tally.refused.extend(one.refused);
        tally.other += one.other;
    }
    let rss_peak_mb = sampler.await.context("the memory sampler panicked")?;
    let p99 = |latencies: &mut Vec<Duration>| {
        if latencies.is_empty() {
            0.0
        } else {
            percentiles(latencies).1.as_secs_f64() * 1e6
        }
    };
    Ok(OverloadFigures {
        connections,
        keys_per_request,
        max_in_flight,
        seconds,
        answered_200: tally.ok.len() as u64,
        answered_503: tally.refused.len() as u64,
        other: tally.other,
        ok_per_s: tally.ok.len() as f64 / seconds,
        ok_p99_us: p99(&mut tally.ok),
        refused_p99_us: p99(&mut tally.refused),
        rss_before_mb,
        rss_peak_mb,
    })
}

/// One connection's closed loop; a broken connection is counted and reopened.
async fn connection(
    addr: SocketAddr,
    requests: &[Vec<u8>],
    first: usize,
    deadline: Instant,
) -> Tally {
    let mut tally = Tally {
        ok: Vec::new(),
        refused: Vec::new(),
        other: 0,
    };
    let mut next = first;
    let mut buffer = vec![0u8; 1 << 16];
    while Instant::now() < deadline {
        let Ok(mut stream) = TcpStream::connect(addr).await else {
            tally.other += 1;
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        while Instant::now() < deadline {
            let request = &requests[next % requests.len()];
            next += 1;
            let sent = Instant::now();
            let status = match exchange(&mut stream, request, &mut buffer).await {
                Ok(status) => status,
                Err(_) => {
                    tally.other += 1;
                    break;
                }
            };
            match status {
                200 => tally.ok.push(sent.elapsed()),
                503 => tally.refused.push(sent.elapsed()),
                _ => tally.other += 1,
            }
        }
    }
    tally
}

/// Sends one request and reads its whole answer; returns the status.
async fn exchange(stream: &mut TcpStream, request: &[u8], buffer: &mut Vec<u8>) -> Result<u16> {
    stream.write_all(request).await?;
    let mut filled = 0;
    loop {
        if filled == buffer.len() {
            buffer.resize(buffer.len() * 2, 0);
        }
        let read = stream.read(&mut buffer[filled..]).await?;
        if read == 0 {
            bail!("the server closed the connection");
        }
        filled += read;
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        let httparse::Status::Complete(head) = response.parse(&buffer[..filled])? else {
            continue;
        };
        let status = response.code.context("no status")?;
        let length: usize = response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
            .context("no content-length")?;
        while filled < head + length {
            if filled == buffer.len() {
                buffer.resize(buffer.len() * 2, 0);
            }
            let read = stream.read(&mut buffer[filled..]).await?;
            if read == 0 {
                bail!("the server closed the connection mid-answer");
            }
            filled += read;
        }
        return Ok(status);
    }
}

/// This process's resident memory (VmRSS), in MiB.
fn resident_mb() -> Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/self/status")?;
    Ok(kib / 1024.0)
}
