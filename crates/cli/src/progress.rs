//! Progress bars on a terminal; nothing when stderr is a pipe.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sluice_featurestore::Progress;

pub struct Bar {
    bar: ProgressBar,
}

impl Bar {
    pub fn new() -> Self {
        let target = if std::io::stderr().is_terminal() {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Self {
            bar: ProgressBar::with_draw_target(None, target),
        }
    }
}

impl Progress for Bar {
    fn phase(&self, name: &str, total: Option<u64>) {
        self.bar.reset();
        match total {
            Some(total) => {
                self.bar.set_length(total);
                self.bar.set_style(
                    ProgressStyle::with_template(
                        "{msg:>22} [{bar:30}] {percent:>3}% {elapsed_precise} eta {eta}",
                    )
                    .expect("valid template")
                    .progress_chars("=> "),
                );
            }
            None => {
                self.bar.unset_length();
                self.bar.set_style(
                    ProgressStyle::with_template("{msg:>22} {spinner} {elapsed_precise}")
                        .expect("valid template"),
                );
                self.bar
                    .enable_steady_tick(std::time::Duration::from_millis(120));
            }
        }
        self.bar.set_message(name.to_string());
    }

    fn advance(&self, amount: u64) {
        self.bar.inc(amount);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
