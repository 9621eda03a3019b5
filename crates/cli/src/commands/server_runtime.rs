//! The online server's own tokio runtime, apart from the one the command
//! runs on: `[server] workers` threads, optionally kept to some cores.

use anyhow::{Context, Result};

use crate::commands::bench_cores::pin_current_thread;

/// A runtime dropped inside another one's task panics, so this one is shut
/// down without waiting, also when a command ends early on an error.
pub struct ServerRuntime(Option<tokio::runtime::Runtime>);

impl ServerRuntime {
    /// `workers` worker threads; with `cores`, every thread of the runtime
    /// (workers and blocking pool) is kept to those cores.
    pub fn start(workers: usize, cores: Option<&[usize]>) -> Result<Self> {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder
            .worker_threads(workers)
            .thread_name("sluice-server")
            .enable_all();
        if let Some(cores) = cores {
            // The thread-start hook cannot fail, so the pin is tried on a
            // thread of its own first: the same call cannot then fail in the hook.
            let probe = cores.to_vec();
            std::thread::spawn(move || pin_current_thread(&probe))
                .join()
                .map_err(|_| anyhow::anyhow!("the pinning probe panicked"))?
                .context("pinning the server's runtime")?;
            let cores = cores.to_vec();
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

/// The cores this process may run on (1 when the system cannot tell).
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}
