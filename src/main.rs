//! `rnn-fast`: parse the arguments, run, print any error as one line, and
//! exit with the status the error's kind maps to ([`rnn_fast::Error::exit_code`]).

#![forbid(unsafe_code)]

mod cli;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;
use rnn_fast::Error;
use rnn_fast::error::EXIT_USAGE;

fn main() -> ExitCode {
    // First, before anything is said (a usage error included): a standard
    // stream opened on a file the command reads or writes.
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // The words after the program's name and the subcommand's.
            let named = 1 + usize::from(subcommand().is_some());
            let words = cli::words_as_paths(std::env::args_os().skip(named));
            if let Err(e) = cli::check_streams(&words) {
                return fail(e);
            }
            return usage_error(e);
        }
    };
    if let Err(e) = cli::check_streams(&cli.files()) {
        return fail(e);
    }
    match cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// Says `e` (on standard error, or where its kind says) and gives its exit
/// status.
fn fail(e: Error) -> ExitCode {
    match e {
        Error::StderrIsNamedFile { say_on_stdout, .. } => {
            if say_on_stdout {
                let line = format!("error: {e}");
                let _ = writeln!(std::io::stdout(), "{}", rnn_fast::message::one_line(&line));
            }
        }
        Error::Interrupted { .. } => cli::to_stderr(&e.to_string()),
        _ => cli::to_stderr(&format!("error: {e}")),
    }
    ExitCode::from(e.exit_code())
}

/// Help and version are printed as asked; a bad command line is one line
/// (clap's message with its details joined, without the usage block) and
/// exit status 2.
fn usage_error(e: clap::Error) -> ExitCode {
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        // Help that could not be written (a full disk) is a failure; a
        // closed pipe (`--help | head`) is not.
        return match e.print() {
            Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => {
                cli::to_stderr(&format!("error: cannot write output: {err}"));
                ExitCode::from(rnn_fast::error::EXIT_FAILURE)
            }
            _ => ExitCode::SUCCESS,
        };
    }
    let text = e.to_string();
    let parts: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
        .collect();
    let line = parts.join(" ");
    // The help to read: the subcommand's, when one was named.
    let command = subcommand().map_or(String::new(), |c| format!(" {c}"));
    cli::to_stderr(&format!("{line} (see 'rnn-fast{command} --help')"));
    ExitCode::from(EXIT_USAGE)
}

/// The subcommand the command line names first, if any (`args_os`: an
/// argument that is not UTF-8 is no subcommand, not a panic).
fn subcommand() -> Option<String> {
    std::env::args_os()
        .nth(1)
        .and_then(|a| a.into_string().ok())
        .filter(|a| {
            <cli::Cli as clap::CommandFactory>::command()
                .find_subcommand(a)
                .is_some()
        })
}
