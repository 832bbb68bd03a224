//! `rnn-fast plot`: draw a `--log` CSV as SVG loss curves.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use rnn_fast::input::{self, MAX_TEXT_BYTES};
use rnn_fast::message::counted;
use rnn_fast::{Error, Result, files, plot};

use super::output::say;
use super::outputs::{Input, check_output, check_replaces_only_plots};

#[derive(Debug, Args)]
pub struct PlotArgs {
    /// CSV written by `rnn-fast train --log`.
    pub log: PathBuf,
    /// The SVG file to write, or - for standard output. A drawing plot
    /// made before (or an empty file) is replaced; another SVG file only
    /// with --force; any other file never.
    #[arg(short, long, default_value = "loss.svg")]
    pub output: PathBuf,
    /// Replace an SVG drawing at OUTPUT that plot did not make.
    #[arg(long)]
    pub force: bool,
}

/// Reads the log and writes its curves to the output (atomically), or to
/// standard output for `-o -`.
pub fn run(mut args: PlotArgs) -> Result<()> {
    if args.output.as_os_str() == "-" {
        let svg = plot::render(&read_log(&args)?);
        let mut out = std::io::stdout().lock();
        return out
            .write_all(svg.as_bytes())
            .and_then(|()| out.flush())
            .map_err(Error::Output);
    }
    args.output = files::through_links(&args.output);
    let log = Input {
        what: "log read",
        path: &args.log,
    };
    check_output("-o", &args.output, &[log])?;
    check_replaces_only_plots(&args.output, args.force)?;
    let rows = read_log(&args)?;
    files::write_atomic(&args.output, plot::render(&rows).as_bytes())?;
    say(
        &mut std::io::stdout().lock(),
        format_args!(
            "wrote {} ({})",
            args.output.display(),
            counted(rows.len(), "point")
        ),
    )
    // The drawing is on disk whatever became of the line saying so: a full
    // disk under standard output says so, as train does (a closed pipe is
    // no failure).
    .map_err(|e| match e {
        e if e.is_broken_pipe() => e,
        e => Error::AfterSave {
            saved: args.output.clone(),
            what: "writing to standard output".into(),
            source: Box::new(e),
        },
    })
}

/// The rows of the log.
fn read_log(args: &PlotArgs) -> Result<Vec<plot::Row>> {
    let text = input::read_text(&args.log, MAX_TEXT_BYTES)?;
    let rows = plot::parse(&text).map_err(|reason| Error::Corpus {
        path: args.log.clone(),
        reason,
    })?;
    if let Some(line) = plot::cut_short(&text) {
        let warning = format!(
            "warning: {} line {line} is cut short (the run stopped while writing it, or is writing it now): drawn without it",
            args.log.display()
        );
        super::output::to_stderr(&warning);
    }
    Ok(rows)
}
