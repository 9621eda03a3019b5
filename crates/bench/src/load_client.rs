//! An HTTP/1.1 load client for `bench serve`'s latency runs: blocking
//! keep-alive sockets, requests prepared before the clock starts, responses
//! parsed with `httparse`. Closed loop (one connection, each request after
//! the previous answer) for unloaded latency; open loop (requests on a fixed
//! schedule at a given rate, whatever the answers' pace) for latency at a
//! load.
//!
//! wrk is kept for throughput, where its event loop drives many connections
//! cheaply; at one connection on this two-core VM, wrk's p99 stayed at 2.8 to
//! 3.4 ms even against a trivial Python socket server that a minimal Python
//! client measured at 0.35 ms (BENCHMARKS.md), so its one-connection tail
//! measured wrk and not the server.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
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
    /// Open loop only: how late the client sent its requests (p99, seconds).
    /// The latencies count it, so a large one means the client, not the
    /// server, held requests back.
    pub send_lag_p99: Option<f64>,
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

/// Sends `rate` requests/s for `duration`, request `i` at `i / rate` on
/// connection `i % connections`, and measures each from its scheduled time.
///
/// One thread does it all: it sends whatever is due, then waits (`ppoll`,
/// to the nanosecond) for an answer on any connection or for the next
/// request's time, whichever comes first. A request never waits for an
/// answer: one due on a connection whose previous answer has not come is
/// pipelined behind it. So the client adds no queue of its own (with a
/// thread per connection, `connections` requests in flight were the most
/// it could have, which capped the rate at `connections / latency`), a
/// sender never waits for a core behind its own receiver, and a stall
/// counts against every request it holds up (no coordinated omission).
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
    let mut streams = (0..connections)
        .map(|_| connect(addr))
        .collect::<Result<Vec<_>>>()?;
    let mut polled: Vec<libc::pollfd> = streams
        .iter()
        .map(|s| libc::pollfd {
            fd: s.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let mut buffers: Vec<ResponseBuffer> = (0..connections)
        .map(|_| ResponseBuffer::default())
        .collect();
    let mut pending: Vec<VecDeque<Instant>> = vec![VecDeque::new(); connections];
    let mut scratch = vec![0u8; 1 << 16];
    precise_timers();
    let interval = Duration::from_secs_f64(1.0 / rate);
    let started = Instant::now();
    let end = started + duration;
    let mut next = 0u32;
    let mut lags = Vec::new();
    let mut latencies = Vec::new();
    let mut last_answer = started;
    let mut deadline: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let mut due = started + interval * next;
        while due <= now && due < end {
            let i = next as usize;
            let connection = i % connections;
            streams[connection]
                .write_all(&requests[i % requests.len()])
                .context("sending a request")?;
            pending[connection].push_back(due);
            lags.push(due.elapsed());
            next += 1;
            due = started + interval * next;
        }
        let wait = if due < end {
            due - now
        } else {
            if latencies.len() == next as usize {
                let mut run = summary(latencies, last_answer.saturating_duration_since(started));
                lags.sort_unstable();
                run.send_lag_p99 = Some(percentile(&lags, 0.99));
                return Ok(run);
            }
            let deadline = *deadline.get_or_insert(now + ANSWER_GRACE);
            if now > deadline {
                bail!(
                    "{} of {next} request(s) unanswered {} s after the last was sent",
                    next as usize - latencies.len(),
                    ANSWER_GRACE.as_secs()
                );
            }
            deadline - now
        };
        if !wait_readable(&mut polled, wait)? {
            continue;
        }
        for (connection, entry) in polled.iter_mut().enumerate() {
            if entry.revents == 0 {
                continue;
            }
            entry.revents = 0;
            let buffer = &mut buffers[connection];
            // Readable, so this read does not block.
            if buffer.read_from(&mut streams[connection], &mut scratch)? == 0 {
                bail!("the server closed a connection with answers still due");
            }
            let answered = Instant::now();
            while buffer.take_response()? {
                let scheduled = pending[connection]
                    .pop_front()
                    .context("an answer to a request that was not sent")?;
                latencies.push(answered.saturating_duration_since(scheduled));
                last_answer = answered;
            }
        }
    }
}

/// How long the open loop waits, once everything is sent, for the answers
/// still due before it gives the run up.
const ANSWER_GRACE: Duration = Duration::from_secs(10);

/// Waits up to `timeout` for any of `polled` to be readable; false on timeout.
fn wait_readable(polled: &mut [libc::pollfd], timeout: Duration) -> Result<bool> {
    let timeout = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `polled` is a live array of `polled.len()` pollfd structs and
    // `timeout` a live timespec; a null signal mask leaves the mask as it is.
    let ready = unsafe {
        libc::ppoll(
            polled.as_mut_ptr(),
            polled.len() as libc::nfds_t,
            &timeout,
            std::ptr::null(),
        )
    };
    if ready < 0 {
        let error = std::io::Error::last_os_error();
        if error.kind() == std::io::ErrorKind::Interrupted {
            return Ok(false);
        }
        return Err(error).context("waiting for answers");
    }
    Ok(ready > 0)
}

/// Timers of this thread fire when asked, not up to the default 50 µs later
/// (the kernel's timer slack, which batches wake-ups): at 20k requests/s a
/// request is due every 50 µs.
fn precise_timers() {
    // SAFETY: PR_SET_TIMERSLACK takes one integer (nanoseconds) and touches
    // only the calling thread's timer slack; a failure leaves it as it was.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1_000 as libc::c_ulong);
    }
}

/// Bytes read from one connection that may hold several answers, or part of one.
#[derive(Default)]
struct ResponseBuffer {
    bytes: Vec<u8>,
}

impl ResponseBuffer {
    /// Reads what the connection holds through `scratch`, so that a read
    /// costs what it brings, not the scratch's size.
    fn read_from(&mut self, stream: &mut TcpStream, scratch: &mut [u8]) -> Result<usize> {
        let n = stream.read(scratch).context("reading a response")?;
        self.bytes.extend_from_slice(&scratch[..n]);
        Ok(n)
    }

    /// Removes the first whole answer, if one is here; anything but a 200 is an error.
    fn take_response(&mut self) -> Result<bool> {
        let Some(total) = complete_response(&self.bytes)? else {
            return Ok(false);
        };
        self.bytes.drain(..total);
        Ok(true)
    }
}

fn summary(mut latencies: Vec<Duration>, elapsed: Duration) -> ClientRun {
    latencies.sort_unstable();
    ClientRun {
        requests: latencies.len(),
        requests_per_s: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        send_lag_p99: None,
    }
}

/// The `q` quantile of `sorted` in seconds (0 for none).
fn percentile(sorted: &[Duration], q: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 * q) as usize).min(sorted.len().saturating_sub(1)))
        .map_or(0.0, Duration::as_secs_f64)
}

/// A keep-alive connection that sends each request at once (no Nagle delay).
fn connect(addr: SocketAddr) -> Result<TcpStream> {
    let stream = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Reads one whole response (headers and `content-length` bytes of body)
/// into `buffer`; anything but a 200 is an error.
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
        if complete_response(&buffer[..filled])?.is_some() {
            return Ok(());
        }
    }
}

/// The length of the answer at the start of `bytes` if all of it is there;
/// an answer other than 200 is an error carrying its body.
fn complete_response(bytes: &[u8]) -> Result<Option<usize>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let header_length = match response.parse(bytes).context("parsing a response")? {
        httparse::Status::Partial => return Ok(None),
        httparse::Status::Complete(length) => length,
    };
    let body_length: usize = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
        .context("a response without content-length")?;
    let total = header_length + body_length;
    if bytes.len() < total {
        return Ok(None);
    }
    let code = response.code.unwrap_or_default();
    if code != 200 {
        bail!(
            "the server answered {code}: {}",
            String::from_utf8_lossy(&bytes[header_length..total])
        );
    }
    Ok(Some(total))
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    /// A keep-alive server on its own threads, answering every request with
    /// `status` and `body` after `delay`.
    struct TestServer {
        addr: SocketAddr,
        /// Requests answered.
        served: Arc<AtomicUsize>,
        /// The most requests one read brought in whole (more than one: pipelined).
        most_at_once: Arc<AtomicUsize>,
    }

    fn server(status: u16, body: &'static str, delay: Duration) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let served = Arc::new(AtomicUsize::new(0));
        let most_at_once = Arc::new(AtomicUsize::new(0));
        let (count, most) = (served.clone(), most_at_once.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let (count, most) = (count.clone(), most.clone());
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
                        let mut whole = Vec::new();
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
                            whole.push(pending.drain(..end + 4 + length).count());
                        }
                        most.fetch_max(whole.len(), Ordering::SeqCst);
                        for _ in whole {
                            std::thread::sleep(delay);
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
        TestServer {
            addr,
            served,
            most_at_once,
        }
    }

    #[test]
    fn the_closed_loop_counts_every_answer_the_server_gave() {
        let server = server(200, "{\"ok\":true}", Duration::ZERO);
        let requests = vec![render("POST", "/a", b"{}"), render("GET", "/b", b"")];
        let run = closed_loop(server.addr, &requests, Duration::from_millis(300)).unwrap();
        assert!(run.requests > 0);
        assert_eq!(run.requests, server.served.load(Ordering::SeqCst));
        assert!(run.p50 > 0.0 && run.p50 <= run.p99, "{run:?}");
    }

    #[test]
    fn the_open_loop_sends_its_schedule_and_no_more() {
        let server = server(200, "ok", Duration::ZERO);
        let requests = vec![render("GET", "/", b"")];
        // Two connections at 200/s for 0.5 s: each sends every 10 ms, 50 each.
        let run = open_loop(server.addr, &requests, 2, 200.0, Duration::from_millis(500)).unwrap();
        assert_eq!(run.requests, 100);
        assert_eq!(server.served.load(Ordering::SeqCst), 100);
    }

    #[test]
    fn the_open_loop_sends_on_schedule_while_answers_are_late() {
        // Each answer takes 20 ms; one connection at 200/s for 0.2 s: 40
        // requests are due, four or so during each answer.
        let server = server(200, "ok", Duration::from_millis(20));
        let requests = vec![render("GET", "/", b"")];
        let run = open_loop(server.addr, &requests, 1, 200.0, Duration::from_millis(200)).unwrap();
        assert_eq!(run.requests, 40);
        assert_eq!(server.served.load(Ordering::SeqCst), 40);
        let most = server.most_at_once.load(Ordering::SeqCst);
        assert!(
            most > 1,
            "requests waited for answers: at most {most} arrived at once"
        );
        // The last answer comes at about 40 x 20 ms = 0.8 s; the latest
        // request was due at 0.195 s. Latency counts from the schedule.
        assert!(run.p99 > 0.5, "{run:?}");
    }

    #[test]
    fn an_answer_other_than_200_fails_the_run_with_its_body() {
        let server = server(503, "queue full", Duration::ZERO);
        let requests = vec![render("GET", "/", b"")];
        let error = closed_loop(server.addr, &requests, Duration::from_millis(100)).unwrap_err();
        let message = format!("{error:#}");
        assert!(
            message.contains("503") && message.contains("queue full"),
            "{message}"
        );
        let error =
            open_loop(server.addr, &requests, 2, 100.0, Duration::from_secs(5)).unwrap_err();
        let message = format!("{error:#}");
        assert!(
            message.contains("503") && message.contains("queue full"),
            "{message}"
        );
    }
}
