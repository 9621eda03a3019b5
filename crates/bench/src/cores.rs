//! How `bench serve` uses the machine's cores. `--pin` splits them between
//! the server and its load clients, so that on a small machine the two never
//! queue for the same core. `--keep-awake` keeps every core from idling: on
//! a VM an idle virtual CPU is descheduled by the host, and waking it again
//! can take milliseconds, which a latency tail at a moderate rate then
//! measures instead of the server.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use serde::Serialize;
use sluice_server::runtime::allowed_cores;
pub use sluice_server::runtime::pin_current_thread;

/// The cores this process may run on, split in two halves (at least one each).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CoreSplit {
    pub server: Vec<usize>,
    pub client: Vec<usize>,
}

impl CoreSplit {
    /// The first half of the allowed cores for the server, the rest for the clients.
    pub fn halves() -> io::Result<Self> {
        Self::of(&allowed_cores()?)
    }

    fn of(cores: &[usize]) -> io::Result<Self> {
        if cores.len() < 2 {
            return Err(io::Error::other(format!(
                "pinning needs at least two cores, and this process may run on {}",
                cores.len()
            )));
        }
        let (server, client) = cores.split_at(cores.len() / 2);
        Ok(Self {
            server: server.to_vec(),
            client: client.to_vec(),
        })
    }
}

/// One spinning thread per core at the lowest priority there is
/// (`SCHED_IDLE`): it runs only when nothing else wants the core, so the
/// core never halts, and yields it at once to any other thread. Stopped
/// when dropped.
pub struct KeepAwake {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl KeepAwake {
    /// Starts a spinner on every core this process may run on.
    pub fn start() -> io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut awake = Self {
            stop: stop.clone(),
            threads: Vec::new(),
        };
        for core in allowed_cores()? {
            let stop = stop.clone();
            let (started, ready) = std::sync::mpsc::channel();
            awake.threads.push(std::thread::spawn(move || {
                let setup = pin_current_thread(&[core]).and_then(|()| lowest_priority());
                let failed = setup.is_err();
                let _ = started.send(setup);
                while !failed && !stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            }));
            // Dropping `awake` on this error stops the spinners already started.
            ready
                .recv()
                .map_err(|_| io::Error::other("a keep-awake thread died at start"))??;
        }
        Ok(awake)
    }
}

impl Drop for KeepAwake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Puts the calling thread under `SCHED_IDLE`.
fn lowest_priority() -> io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 is the calling thread; `param` is a valid sched_param.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `cores` as taskset's list (`0,1`).
pub fn core_list(cores: &[usize]) -> String {
    cores
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cores_split_in_halves_and_one_core_is_refused() {
        assert_eq!(
            CoreSplit::of(&[0, 1]).unwrap(),
            CoreSplit {
                server: vec![0],
                client: vec![1]
            }
        );
        assert_eq!(
            CoreSplit::of(&[2, 3, 5, 7, 8]).unwrap(),
            CoreSplit {
                server: vec![2, 3],
                client: vec![5, 7, 8]
            }
        );
        let err = CoreSplit::of(&[0]).unwrap_err().to_string();
        assert!(err.contains("at least two cores"), "{err}");
    }

    /// Threads of this process under SCHED_IDLE, from field 41 (policy) of /proc/self/task/*/stat.
    fn idle_policy_threads() -> usize {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("stat")).ok())
            .filter(|stat| {
                let after_name = &stat[stat.rfind(')').unwrap() + 1..];
                after_name.split_whitespace().nth(38) == Some("5")
            })
            .count()
    }

    #[test]
    fn keep_awake_spins_one_idle_priority_thread_per_core_until_dropped() {
        let cores = allowed_cores().unwrap().len();
        let before = idle_policy_threads();
        let awake = KeepAwake::start().unwrap();
        assert_eq!(awake.threads.len(), cores);
        assert_eq!(idle_policy_threads(), before + cores);
        drop(awake);
        // A joined thread's /proc entry can outlive the join by a moment.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while idle_policy_threads() != before && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(idle_policy_threads(), before);
    }
}
