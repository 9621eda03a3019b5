//! `sluice`: the command-line interface. A thin layer that parses arguments,
//! calls the feature-store API and prints results; it holds no storage logic.

mod args;
mod commands;
mod output;
mod progress;

use std::process::ExitCode;

use clap::Parser;

use crate::args::Cli;
use crate::output::UserError;
use sluice_types::ErrorKind;

/// The server allocates and frees many small buffers per request (Arrow
/// arrays, JSON, HTTP), on every core; mimalloc's per-thread heaps make
/// that cheaper than the system allocator (see BENCHMARKS.md, bench serve).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    restore_default_sigpipe();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    tracing_subscriber::fmt()
        // A command's own error reaches the user as one line from `main`;
        // what goes wrong in the background (a prediction-log commit, a model
        // reload, a Redis retry) is logged as it happens. Other crates' logs
        // only when asked for, with SLUICE_LOG.
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(
                    "off,sluice_server=warn,sluice_pipelines=warn,sluice_online=warn",
                )
            }),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            // Most of our errors already end with their source's text: a
            // cause is printed only when it says something not yet said.
            let mut said = error.to_string();
            for cause in error.chain().skip(1) {
                let text = cause.to_string();
                if !said.contains(&text) {
                    eprintln!("  caused by: {text}");
                    said.push_str(&text);
                }
            }
            ExitCode::from(exit_code(&error))
        }
    }
}

/// `sluice ... | head` should end quietly when the reader goes away, as other
/// Unix tools do, instead of panicking on a failed write to stdout.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in `main`, before any thread starts; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The exit code of a failed command: its error's kind mapped by
/// `ErrorKind::exit_code` (1 when the user can fix the command, 2 when the
/// system failed); an error of no known kind is the system's.
fn exit_code(error: &anyhow::Error) -> u8 {
    if error.is::<output::DriftDetected>() {
        return 3;
    }
    error
        .chain()
        .find_map(kind_of)
        .unwrap_or(ErrorKind::Internal)
        .exit_code()
}

fn kind_of(error: &(dyn std::error::Error + 'static)) -> Option<ErrorKind> {
    if error.is::<UserError>() {
        return Some(ErrorKind::InvalidInput);
    }
    if let Some(e) = error.downcast_ref::<sluice_types::Error>() {
        return Some(e.kind());
    }
    if let Some(e) = error.downcast_ref::<sluice_featurestore::Error>() {
        return Some(e.kind());
    }
    if let Some(e) = error.downcast_ref::<sluice_pipelines::Error>() {
        return Some(e.kind());
    }
    if let Some(e) = error.downcast_ref::<sluice_server::Error>() {
        return Some(e.kind());
    }
    error
        .downcast_ref::<sluice_server::runtime::RuntimeError>()
        .map(sluice_server::runtime::RuntimeError::kind)
}
