//! An HTTP/1.1 load client for `bench serve`'s latency runs: blocking
//! keep-alive sockets, one thread each, requests prepared before the clock
//! starts, responses parsed with `httparse`. Closed loop (one connection,
//! each request after the previous answer) for unloaded latency; open loop
//! (requests on a fixed schedule at a given rate) for latency at a load.
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
    /// Answered requests.
    pub requests: usize,
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
    let mut stream = connect(addr)?;
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
    Ok(summary(latencies, started.elapsed()))
}

/// Sends `rate` requests/s over `connections` connections for `duration`,
/// each connection on its own fixed schedule whatever the answers' pace.
/// Each latency runs from the request's scheduled time, not from when it
/// could be sent, so a stall counts against every request it holds up
/// (no coordinated omission).
pub fn open_loop(
    addr: SocketAddr,
    requests: &[Vec<u8>],
    connections: usize,
    rate: f64,
    duration: Duration,
) -> Result<ClientRun> {
    if requests.is_empty() || connections == 0 || rate <= 0.0 {
        bail!("the load client needs requests, connections and a positive rate");
    }
    let interval = Duration::from_secs_f64(connections as f64 / rate);
    let started = Instant::now();
    let per_connection: Vec<Result<Vec<Duration>>> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..connections)
            .map(|c| {
                let offset = Duration::from_secs_f64(c as f64 / rate);
                scope.spawn(move || -> Result<Vec<Duration>> {
                    let mut stream = connect(addr)?;
                    let mut buffer = vec![0u8; 1 << 16];
                    let mut latencies = Vec::new();
                    for i in 0.. {
                        let scheduled = started + offset + interval * i;
                        if scheduled >= started + duration {
                            break;
                        }
                        let now = Instant::now();
                        if scheduled > now {
                            std::thread::sleep(scheduled - now);
                        }
                        let request = &requests[(i as usize * connections + c) % requests.len()];
                        stream.write_all(request).context("sending a request")?;
                        read_response(&mut stream, &mut buffer)?;
                        latencies.push(scheduled.elapsed());
                    }
                    Ok(latencies)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a load client thread panicked")))
            })
            .collect()
    });
    let mut latencies = Vec::new();
    for connection in per_connection {
        latencies.extend(connection?);
    }
    Ok(summary(latencies, started.elapsed()))
}

fn summary(mut latencies: Vec<Duration>, elapsed: Duration) -> ClientRun {
    latencies.sort_unstable();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, Duration::as_secs_f64)
    };
    ClientRun {
        requests: latencies.len(),
        requests_per_s: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
    }
}

/// A keep-alive connection that sends each request at once (no Nagle delay).
fn connect(addr: SocketAddr) -> Result<TcpStream> {
    let stream = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    Ok(stream)
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

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    /// A keep-alive server on its own threads answering every request with
    /// `status` and `body`; returns its address and its count of requests.
    fn server(status: u16, body: &'static str) -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let served = Arc::new(AtomicUsize::new(0));
        let count = served.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let count = count.clone();
                std::thread::spawn(move || {
                    let mut pending = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let Ok(n) = stream.read(&mut chunk) else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        pending.extend_from_slice(&chunk[..n]);
                        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                            let mut headers = [httparse::EMPTY_HEADER; 16];
                            let mut request = httparse::Request::new(&mut headers);
                            request.parse(&pending[..end + 4]).unwrap();
                            let length: usize = request
                                .headers
                                .iter()
                                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                                .map_or(0, |h| {
                                    std::str::from_utf8(h.value).unwrap().parse().unwrap()
                                });
                            if pending.len() < end + 4 + length {
                                break;
                            }
                            pending.drain(..end + 4 + length);
                            count.fetch_add(1, Ordering::SeqCst);
                            let answer = format!(
                                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\n\r\n{body}",
                                body.len()
                            );
                            if stream.write_all(answer.as_bytes()).is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (addr, served)
    }

    #[test]
    fn the_closed_loop_counts_every_answer_the_server_gave() {
        let (addr, served) = server(200, "{\"ok\":true}");
        let requests = vec![render("POST", "/a", b"{}"), render("GET", "/b", b"")];
        let run = closed_loop(addr, &requests, Duration::from_millis(300)).unwrap();
        assert!(run.requests > 0);
        assert_eq!(run.requests, served.load(Ordering::SeqCst));
        assert!(run.p50 > 0.0 && run.p50 <= run.p99, "{run:?}");
    }

    #[test]
    fn the_open_loop_sends_its_schedule_and_no_more() {
        let (addr, served) = server(200, "ok");
        let requests = vec![render("GET", "/", b"")];
        // Two connections at 200/s for 0.5 s: each sends every 10 ms, 50 each.
        let run = open_loop(addr, &requests, 2, 200.0, Duration::from_millis(500)).unwrap();
        assert_eq!(run.requests, 100);
        assert_eq!(served.load(Ordering::SeqCst), 100);
    }

    #[test]
    fn an_answer_other_than_200_fails_the_run_with_its_body() {
        let (addr, _) = server(503, "queue full");
        let requests = vec![render("GET", "/", b"")];
        let error = closed_loop(addr, &requests, Duration::from_millis(100)).unwrap_err();
        let message = format!("{error:#}");
        assert!(
            message.contains("503") && message.contains("queue full"),
            "{message}"
        );
    }
}
