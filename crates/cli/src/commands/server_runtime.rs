//! The online server's own tokio runtime, apart from the one the command
//! runs on: `[server] workers` threads, optionally kept to some cores and
//! run at a real-time priority (`[server] realtime_priority`).

use std::cell::Cell;
use std::io;

use anyhow::{Context, Result};
use sluice_types::RealtimePriority;

use crate::commands::bench_cores::pin_current_thread;
use crate::output::user_error;

/// A runtime dropped inside another one's task panics, so this one is shut
/// down without waiting, also when a command ends early on an error.
pub struct ServerRuntime(Option<tokio::runtime::Runtime>);

impl ServerRuntime {
    /// `workers` worker threads; with `cores`, every thread of the runtime
    /// (workers and blocking pool) is kept to those cores; with `realtime`,
    /// the workers (not the blocking pool, whose file work should not
    /// preempt them) run at that SCHED_RR priority.
    pub fn start(
        workers: usize,
        cores: Option<&[usize]>,
        realtime: Option<RealtimePriority>,
    ) -> Result<Self> {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder
            .worker_threads(workers)
            .thread_name("sluice-server")
            .enable_all();
        let pin = match cores {
            Some(cores) => {
                // The thread-start hook cannot fail, so the pin is tried on a
                // thread of its own first: the same call cannot then fail in the hook.
                let probe = cores.to_vec();
                std::thread::spawn(move || pin_current_thread(&probe))
                    .join()
                    .map_err(|_| anyhow::anyhow!("the pinning probe panicked"))?
                    .context("pinning the server's runtime")?;
                Some(cores.to_vec())
            }
            None => None,
        };
        if let Some(priority) = realtime {
            std::thread::spawn(move || set_current_thread_realtime(priority))
                .join()
                .map_err(|_| anyhow::anyhow!("the real-time priority probe panicked"))?
                .map_err(|e| {
                    user_error(format!(
                        "running the server's threads at real-time priority {priority} \
                         (SCHED_RR) needs CAP_SYS_NICE, or `ulimit -r` of at least {priority}: {e}"
                    ))
                })?;
            // Only workers park, so this hook leaves the blocking pool alone.
            // A worker's first park comes as soon as it finds no task, at start.
            builder.on_thread_park(move || {
                thread_local!(static SET: Cell<bool> = const { Cell::new(false) });
                if !SET.get() {
                    SET.set(true);
                    if let Err(e) = set_current_thread_realtime(priority) {
                        tracing::error!("a server thread stays at normal priority: {e}");
                    }
                }
            });
        }
        if let Some(cores) = pin {
            builder.on_thread_start(move || {
                let _ = pin_current_thread(&cores);
            });
        }
        builder
            .build()
            .map(|runtime| Self(Some(runtime)))
            .context("starting the server's runtime")
    }

    pub fn handle(&self) -> &tokio::runtime::Handle {
        self.0
            .as_ref()
            .expect("the runtime is taken only when dropped")
            .handle()
    }
}

impl Drop for ServerRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Moves the calling thread to SCHED_RR at `priority`. Threads it starts
/// (the blocking pool's, a client library's) begin at normal priority:
/// only the serving threads are meant to run ahead of the machine.
#[cfg(target_os = "linux")]
pub fn set_current_thread_realtime(priority: RealtimePriority) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: i32::from(priority.get()),
    };
    let policy = libc::SCHED_RR | libc::SCHED_RESET_ON_FORK;
    // SAFETY: `param` is a valid sched_param for the call's duration; pid 0
    // is the calling thread.
    if unsafe { libc::sched_setscheduler(0, policy, &param) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub fn set_current_thread_realtime(_priority: RealtimePriority) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "real-time priority is set only on Linux",
    ))
}

/// The cores this process may run on (1 when the system cannot tell).
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The calling thread's scheduling policy and priority.
    fn current_policy() -> (i32, i32) {
        let mut param = libc::sched_param { sched_priority: 0 };
        // SAFETY: pid 0 is the calling thread; `param` outlives the call.
        let policy = unsafe { libc::sched_getscheduler(0) };
        assert_eq!(unsafe { libc::sched_getparam(0, &mut param) }, 0);
        (policy, param.sched_priority)
    }

    fn may_set_realtime(priority: i32) -> bool {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `limit` outlives the call.
        let got = unsafe { libc::getrlimit(libc::RLIMIT_RTPRIO, &mut limit) } == 0;
        // SAFETY: no arguments.
        let root = unsafe { libc::geteuid() } == 0;
        root || (got && limit.rlim_cur >= priority as libc::rlim_t)
    }

    #[test]
    fn realtime_workers_run_at_sched_rr_and_the_blocking_pool_does_not() {
        let priority = RealtimePriority::try_from(3).unwrap();
        let started = ServerRuntime::start(2, None, Some(priority));
        if !may_set_realtime(3) {
            let err = format!("{:#}", started.err().expect("refused without the right"));
            assert!(err.contains("CAP_SYS_NICE"), "{err}");
            return;
        }
        let runtime = started.unwrap();
        // Workers take their priority at their first park, which an idle
        // worker reaches at once; the wait keeps a task spawned before it
        // from meeting a worker that has not yet parked.
        std::thread::sleep(std::time::Duration::from_millis(200));
        let handle = runtime.handle().clone();
        let (worker, blocking) = std::thread::spawn(move || {
            handle.block_on(async {
                let mut workers = Vec::new();
                // Spawned tasks run on workers; several, in case one worker
                // takes them all.
                for _ in 0..8 {
                    workers.push(tokio::spawn(async { current_policy() }).await.unwrap());
                    tokio::task::yield_now().await;
                }
                // Started from a worker, whose policy a new thread inherits.
                let blocking = tokio::spawn(async {
                    tokio::task::spawn_blocking(current_policy).await.unwrap()
                })
                .await
                .unwrap();
                (workers, blocking)
            })
        })
        .join()
        .unwrap();
        for policy in worker {
            let rr = libc::SCHED_RR | libc::SCHED_RESET_ON_FORK;
            assert_eq!(policy, (rr, 3), "a worker's policy");
        }
        assert_eq!(
            blocking,
            (libc::SCHED_OTHER, 0),
            "the blocking pool's policy"
        );
        let normal = ServerRuntime::start(1, None, None).unwrap();
        let handle = normal.handle().clone();
        let policy = std::thread::spawn(move || {
            handle.block_on(async { tokio::spawn(async { current_policy() }).await.unwrap() })
        })
        .join()
        .unwrap();
        assert_eq!(policy, (libc::SCHED_OTHER, 0), "no priority asked for");
    }
}
