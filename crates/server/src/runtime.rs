//! The online server's own tokio runtime, apart from the one the command
//! runs on: `[server] workers` threads, optionally kept to some cores and
//! run at a real-time priority (`[server] realtime_priority`).

use std::cell::Cell;
use std::io;

use sluice_types::{ErrorKind, RealtimePriority};

/// Why the server's runtime did not start.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The threads could not be kept to the cores asked for (a core the
    /// process may not use, for one).
    #[error("pinning the server's runtime to cores {cores:?}: {source}")]
    Pin {
        /// The cores asked for.
        cores: Vec<usize>,
        /// What the system said.
        source: io::Error,
    },

    /// The process may not run threads at the real-time priority asked
    /// for: it lacks CAP_SYS_NICE and its `ulimit -r` is lower, or the
    /// system is not Linux.
    #[error(
        "running the server's threads at real-time priority {priority} (SCHED_RR) \
         needs CAP_SYS_NICE, or `ulimit -r` of at least {priority}: {source}"
    )]
    Realtime {
        /// The priority asked for (`[server] realtime_priority`).
        priority: RealtimePriority,
        /// What the system said.
        source: io::Error,
    },

    /// Tokio could not build the runtime (its threads could not be started).
    #[error("starting the server's runtime: {0}")]
    Start(io::Error),
}

impl RuntimeError {
    /// What kind of failure this is: a priority the process may not take is
    /// the user's to fix (a setting or a right), the rest internal.
    pub fn kind(&self) -> ErrorKind {
        match self {
            // The setting asks for a right the process lacks: the user's to fix.
            RuntimeError::Realtime { .. } => ErrorKind::InvalidInput,
            RuntimeError::Pin { .. } | RuntimeError::Start(_) => ErrorKind::Internal,
        }
    }
}

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
    ) -> Result<Self, RuntimeError> {
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
                probe_on_own_thread(move || pin_current_thread(&probe)).map_err(|source| {
                    RuntimeError::Pin {
                        cores: cores.to_vec(),
                        source,
                    }
                })?;
                Some(cores.to_vec())
            }
            None => None,
        };
        if let Some(priority) = realtime {
            probe_on_own_thread(move || set_current_thread_realtime(priority))
                .map_err(|source| RuntimeError::Realtime { priority, source })?;
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
            .map_err(RuntimeError::Start)
    }

    /// The runtime's handle, to start the server on it or block on it.
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

/// Runs a thread setting on a thread of its own, so that a refusal is seen
/// before the runtime's threads, whose start hooks cannot fail, try it.
fn probe_on_own_thread(set: impl FnOnce() -> io::Result<()> + Send + 'static) -> io::Result<()> {
    std::thread::spawn(set)
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the probe thread panicked")))
}

/// The cores the calling thread may run on.
pub fn allowed_cores() -> io::Result<Vec<usize>> {
    // SAFETY: cpu_set_t is a plain bit array, valid when zeroed; the kernel
    // writes at most size_of::<cpu_set_t>() bytes into it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((0..libc::CPU_SETSIZE as usize)
            .filter(|&core| libc::CPU_ISSET(core, &set))
            .collect())
    }
}

/// Restricts the calling thread to `cores` (threads it starts inherit this).
pub fn pin_current_thread(cores: &[usize]) -> io::Result<()> {
    // SAFETY: as in `allowed_cores`; CPU_SET ignores cores beyond the set's size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &core in cores {
            libc::CPU_SET(core, &mut set);
        }
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
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
    fn a_pinned_thread_runs_only_on_its_core() {
        let cores = allowed_cores().unwrap();
        let last = *cores.last().unwrap();
        let seen = std::thread::spawn(move || {
            pin_current_thread(&[last]).unwrap();
            allowed_cores().unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(seen, vec![last]);
        assert_eq!(
            allowed_cores().unwrap(),
            cores,
            "the caller's own cores are untouched"
        );
    }

    #[test]
    fn realtime_workers_run_at_sched_rr_and_the_blocking_pool_does_not() {
        let priority = RealtimePriority::try_from(3).unwrap();
        let started = ServerRuntime::start(2, None, Some(priority));
        if !may_set_realtime(3) {
            let err = started
                .err()
                .expect("refused without the right")
                .to_string();
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
