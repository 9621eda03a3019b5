//! `bench serve --pin`: the machine's cores split between the server and
//! its load clients, so that on a small machine the two never queue for the
//! same core and a latency figure measures the server, not the scheduler.

use std::io;

use serde::Serialize;

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

/// The cores the calling thread may run on.
fn allowed_cores() -> io::Result<Vec<usize>> {
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
        assert_eq!(allowed_cores().unwrap(), cores, "the caller's own cores are untouched");
    }
}
