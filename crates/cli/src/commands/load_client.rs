//! A one-connection, closed-loop HTTP/1.1 load client for `bench serve`'s
//! latency runs: one blocking keep-alive socket on its own thread, requests
//! prepared before the clock starts, responses parsed with `httparse`.
//!
//! wrk is kept for throughput, where its event loop drives many connections
//! cheaply; at one connection on this two-core VM, wrk's p99 stayed at 2.8 to
//! 3.4 ms even against a trivial Python socket server that a minimal Python
//! client measured at 0.35 ms (BENCHMARKS.md), so its one-connection tail
//! measured wrk and not the server.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// One closed-loop run: the rate and latency percentiles, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct ClientRun {
    pub requests_per_s: f64,
    pub p50: f64,
    pub p99: f64,
}

/// A request ready to send: method, path and body, rendered once.
pub fn render(method: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

/// Sends `requests` in turn (cycling) over one connection for `duration`,
/// each after the previous answer; any answer but 200 fails the run.
pub fn closed_loop(
    addr: SocketAddr,
    requests: &[Vec<u8>],
    duration: Duration,
) -> Result<ClientRun> {
    if requests.is_empty() {
        bail!("the load client was given no requests");
    }
    let mut stream = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let mut buffer = vec![0u8; 1 << 16];
    let mut latencies: Vec<Duration> = Vec::with_capacity(1 << 20);
    let started = Instant::now();
    let mut sent = 0usize;
    while started.elapsed() < duration {
        let request = &requests[sent % requests.len()];
        let at = Instant::now();
        stream.write_all(request).context("sending a request")?;
        read_response(&mut stream, &mut buffer)?;
        latencies.push(at.elapsed());
        sent += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    Ok(ClientRun {
        requests_per_s: latencies.len() as f64 / elapsed,
        p50: at(0.50).as_secs_f64(),
        p99: at(0.99).as_secs_f64(),
    })
}

/// Reads one whole response (headers and `content-length` bytes of body) into `buffer`.
fn read_response(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Result<()> {
    let mut filled = 0;
    loop {
        if filled == buffer.len() {
            buffer.resize(buffer.len() * 2, 0);
        }
        let n = stream
            .read(&mut buffer[filled..])
            .context("reading a response")?;
        if n == 0 {
            bail!("the server closed the connection mid-response");
        }
        filled += n;
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        let header_length = match response
            .parse(&buffer[..filled])
            .context("parsing a response")?
        {
            httparse::Status::Partial => continue,
            httparse::Status::Complete(length) => length,
        };
        let body_length: usize = response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
            .context("a response without content-length")?;
        let code = response.code.unwrap_or_default();
        let total = header_length + body_length;
        while filled < total {
            if total > buffer.len() {
                buffer.resize(total, 0);
            }
            let n = stream.read(&mut buffer[filled..total])?;
            if n == 0 {
                bail!("the server closed the connection mid-body");
            }
            filled += n;
        }
        if code != 200 {
            bail!(
                "the server answered {code}: {}",
                String::from_utf8_lossy(&buffer[header_length..total])
            );
        }
        return Ok(());
    }
}
