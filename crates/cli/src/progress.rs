//! Progress bars on a terminal; nothing when stderr is a pipe.

use std::io::IsTerminal;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sluice_featurestore::Progress;

pub struct Bar {
    /// The current phase's bar. Each phase gets a new one, built whole
    /// before it first draws: changing one bar's name, style and length in
    /// place redraws in between, showing the previous phase at 0% (or,
    /// before the first phase, indicatif's default bar).
    bar: Mutex<ProgressBar>,
    visible: bool,
}

impl Bar {
    pub fn new() -> Self {
        Self {
            bar: Mutex::new(ProgressBar::hidden()),
            visible: std::io::stderr().is_terminal(),
        }
    }

    fn current(&self) -> MutexGuard<'_, ProgressBar> {
        self.bar.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Progress for Bar {
    fn phase(&self, name: &str, total: Option<u64>) {
        let target = if self.visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let template = match total {
            Some(_) => "{msg:>22} [{bar:30}] {percent:>3}% {elapsed_precise} eta {eta}",
            None => "{msg:>22} {spinner} {elapsed_precise}",
        };
        let style = ProgressStyle::with_template(template)
            .expect("valid template")
            .progress_chars("=> ");
        let next = ProgressBar::with_draw_target(total, target)
            .with_style(style)
            .with_message(name.to_string());
        let mut bar = self.current();
        bar.finish_and_clear();
        *bar = next;
        // A spinner moves by itself: the work behind it reports nothing until it ends.
        if total.is_none() {
            bar.enable_steady_tick(Duration::from_millis(120));
        }
    }

    fn advance(&self, amount: u64) {
        self.current().inc(amount);
    }

    fn finish(&self) {
        self.current().finish_and_clear();
    }
}

/// A command that fails mid-phase leaves no bar behind its error message.
impl Drop for Bar {
    fn drop(&mut self) {
        self.current().finish_and_clear();
    }
}
