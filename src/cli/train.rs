//! `rnn-fast train`: read the corpus, start fresh, fine-tune or resume,
//! train with progress, log and checkpoints, save, and print a sample. The
//! arguments and their conversion into settings are in [`super::train_args`].

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rnn_fast::checkpoint::{self, Checkpoint, RunInfo, corpus_hash};
use rnn_fast::config::{InitKind, LrSchedule, MAX_THREADS_PER_CORE, TrainConfig, capped_threads};
use rnn_fast::corpus::{self, Corpus};
use rnn_fast::files::{self, OutputLock};
use rnn_fast::layout::CellKind;
use rnn_fast::message::{self, counted};
use rnn_fast::sample::{Pick, Sampler};
use rnn_fast::session::{self, Progress, SessionOptions, Stop};
use rnn_fast::trainer::Trainer;
use rnn_fast::{Error, Result};

use super::csv_log::{CsvLog, MovedLines};
use super::observer::best_path;
use super::observer::{Samples, TrainObserver};
use super::output::{LAST_LINES_WAIT, Output, say};
use super::outputs::{self, Input, ModelOutput, check_distinct, check_output};
use super::sample::write_sample;
use super::signals::Interrupts;
use super::start::{self, Start};
use super::train_args::{self, TrainArgs};

/// Characters between two reports by default...
const DEFAULT_EVAL_EVERY: usize = 200_000;
/// ...or this many times the held-out text, so that evaluating a large one
/// costs a small fraction of the training time.
const EVAL_EVERY_VAL_TIMES: usize = 5;

/// The report spacing when `--eval-every` is not given (and a checkpoint
/// records none), for `val_len` held-out characters.
fn default_eval_every(val_len: usize) -> usize {
    DEFAULT_EVAL_EVERY.max(EVAL_EVERY_VAL_TIMES * val_len)
}

/// How often the session hands control back (progress, checkpoints, signals).
const TICK: Duration = Duration::from_millis(200);

/// The corpus text and the name it is shown by.
fn read_corpus(args: &TrainArgs) -> Result<(String, String)> {
    Ok(match &args.corpus {
        Some(path) => (corpus::read_text(path)?, path.display().to_string()),
        None => (
            corpus::BUILTIN_TEXT.to_string(),
            corpus::BUILTIN_NAME.into(),
        ),
    })
}

/// Splits the held-out end (`val_frac` of the corpus) off `corpus` and returns it.
fn split_validation(corpus: &mut Corpus, val_frac: f64) -> Result<Vec<u16>> {
    let total = corpus.len();
    if val_frac == 0.0 {
        return Ok(Vec::new());
    }
    let train_len = train_args::train_len(total, val_frac);
    let held = total - train_len;
    if total < 4 {
        return Err(Error::Usage(format!(
            "--val-frac {val_frac}: the text's {} are too few to hold any out (2 to score, 2 to train on): give 0",
            counted(total, "character")
        )));
    }
    if held < 2 {
        // The least fraction that holds out 2 characters.
        let mut least = 2.0 / total as f64;
        while train_args::train_len(total, least) > total - 2 {
            least = least.next_up();
        }
        return Err(Error::Usage(format!(
            "--val-frac {val_frac} holds out {} of the text's {total}, too few to score: give at least {least} (2 characters), or 0 to hold out none",
            counted(held, "character")
        )));
    }
    if train_len < 2 {
        return Err(Error::Usage(format!(
            "--val-frac {val_frac} leaves {} of the text's {total} to train on, too few: give less",
            counted(train_len, "character")
        )));
    }
    Ok(corpus.ids.split_off(train_len))
}

/// The run's settings and record, before training: a resumed run's come
/// from its checkpoint; one started `--init-from` a model takes the
/// model's cell, layers and H.
fn plan(
    args: &TrainArgs,
    start: &Start,
    name: &str,
    corpus: &Corpus,
) -> Result<(TrainConfig, RunInfo)> {
    let total = corpus.len();
    let hash = corpus_hash(&corpus.ids);
    if let Some(ck) = start.checkpoint() {
        let config = start::resumed_settings(args, ck, name, hash)?;
        return Ok((config, ck.run.clone()));
    }
    let val_frac = args.val_frac(total);
    let run = RunInfo {
        corpus: name.to_string(),
        val_frac,
        corpus_len: total,
        corpus_hash: hash,
        chars_seen: 0,
        best_val: None,
        eval_every: None,
    };
    // `--init-from`: the model's H, so that the defaults that follow from H
    // (Adam's rate) are the model's.
    let model_hidden = match start {
        Start::InitFrom(model) => {
            let path = args.init_from.as_deref().expect("InitFrom has a path");
            Some(start::init_hidden(args, model, path)?)
        }
        _ => None,
    };
    let mut config = args.settings(train_args::train_len(total, val_frac), model_hidden);
    if let Start::InitFrom(model) = start {
        (config.cell, config.layers) = (model.layout.cell, model.layout.layers);
    }
    Ok((config, run))
}

/// The trainer for this start.
fn trainer(start: Start, config: TrainConfig, corpus: &Corpus) -> Result<Trainer> {
    match start {
        Start::Fresh => Trainer::new(config, corpus),
        Start::InitFrom(model) => Trainer::with_model(config, model, corpus),
        Start::Resume(model, ck) => Trainer::resume(config, model, corpus, ck.state),
    }
}

/// The warnings for options that the run's learning-rate schedule does not
/// read (they are recorded and do nothing): `--lr-decay` is read by `step`
/// and `plateau`, `--lr-decay-every` by `step`, `--patience` by `plateau`.
fn unread_schedule_options(args: &TrainArgs, config: &TrainConfig) -> Vec<String> {
    let schedule = config.lr_schedule;
    let given = [
        (
            "--lr-decay",
            args.lr_decay.is_some(),
            schedule != LrSchedule::Cosine,
            "step or plateau",
        ),
        (
            "--lr-decay-every",
            args.lr_decay_every.is_some(),
            schedule == LrSchedule::Step,
            "step",
        ),
        (
            "--patience",
            args.patience.is_some(),
            schedule == LrSchedule::Plateau,
            "plateau",
        ),
    ];
    let default = args.lr_schedule.is_none() && args.resume.is_none() && args.preset.is_none();
    given
        .into_iter()
        .filter(|&(_, set, read, _)| set && !read)
        .map(|(option, _, _, readers)| {
            format!(
                "warning: {option} does nothing under --lr-schedule {schedule}{}; it applies to {readers}",
                if default { " (the default)" } else { "" },
            )
        })
        .collect()
}

/// The warning for a session that `trained` well past `--max-seconds`
/// `limit` (by the limit and by a second): training stops between steps,
/// so one step longer than the limit (a long `--seq-len`) runs past it,
/// which is said rather than left to surprise.
fn overrun_warning(limit: f32, trained: Duration, c: &TrainConfig) -> Option<String> {
    let trained = trained.as_secs_f32();
    (trained > limit + limit.max(1.0)).then(|| {
        format!(
            "warning: training took {trained:.1} s, past --max-seconds {limit}: the limit is checked between steps, and a step (seq_len {} × {}) took longer; lower --seq-len to stop nearer it",
            c.seq_len,
            counted(c.streams_per_pass(), "stream")
        )
    })
}

/// Runs `rnn-fast train`.
pub fn run(mut args: TrainArgs) -> Result<()> {
    // First, so that a signal during the set-up also stops the run cleanly.
    let interrupts = Interrupts::install()?;
    // Outputs named through a symbolic link are the files it leads to: they
    // are checked, locked and replaced as those files, the link left as it is.
    args.output = files::through_links(&args.output);
    if let Some(log) = &args.log {
        args.log = Some(files::through_links(log));
    }
    // The checkpoint resumed too, so that resuming in place through a link
    // finds its own output (and its `.best` beside it).
    if let Some(resume) = &args.resume {
        args.resume = Some(files::through_links(resume));
    }
    let (text, name) = read_corpus(&args)?;
    let start = Start::load(&args)?;
    // A text the resumed checkpoint's vocabulary cannot encode is not its
    // corpus, whatever character gave it away.
    let mut corpus = start.encode(&text).map_err(|e| match start.checkpoint() {
        Some(ck) => start::not_its_corpus(&args, &name, ck, Some(&e)),
        None => e.in_file(name.as_ref()),
    })?;
    drop(text);
    let (mut config, mut run) = plan(&args, &start, &name, &corpus)?;
    let val = split_validation(&mut corpus, run.val_frac)?;
    config.validate()?;
    if !matches!(start, Start::Resume(..)) {
        config.check_weight_decay()?;
    }
    if config.lr_schedule == LrSchedule::Plateau && val.is_empty() {
        return Err(Error::Usage(
            "--lr-schedule plateau follows the validation loss: hold out text with --val-frac"
                .into(),
        ));
    }
    // Warnings are said once every check has passed (a refused run says
    // only why).
    let mut warnings = unread_schedule_options(&args, &config);
    let keep_best = !val.is_empty();
    // From the claims on, a signal is held rather than ending the process
    // at once, so that the claims (and a new log) are undone on the way
    // out: before the log is opened, the run stops there with nothing
    // trained; after, the session saves and stops after a step.
    interrupts.set_training(true);
    let RunOutputs {
        model: output,
        log,
        moved,
        locks,
        owned,
    } = claim_outputs(&args, &start, keep_best)?;
    if let Some(ck) = start.checkpoint() {
        start::check_epochs_left(config.epochs, args.epochs, ck)?;
    }
    let (threads, cut) = capped_threads_warning(config.threads);
    config.threads = threads;
    warnings.extend(cut);
    warnings.extend(streams_warning(args.streams, config.shards));
    let resumed_epoch = start.checkpoint().map_or(0, |ck| ck.state.epoch);
    let resuming = matches!(start, Start::Resume(..));
    let in_place = args
        .resume
        .as_deref()
        .is_some_and(|r| files::same_file(r, &output.path));
    let resumed_here = start.checkpoint().filter(|_| in_place);
    let best_val = best_to_beat(&run, &best_path(&output.path), resumed_here);
    let mut trainer = trainer(start, config, &corpus)?;
    check_file_size(&trainer, &run)?;
    let mut options = session_options(&args, &trainer, &val, (&run, resuming), &mut warnings)?;
    if let Some((signal, code)) = interrupts.received() {
        return Err(Error::Interrupted {
            code,
            message: format!(
                "interrupted by {signal} while setting up: nothing was trained, so nothing is lost"
            ),
        });
    }
    // The log is opened (a new one written, an old one replaced) only once
    // every check has passed: a refused run leaves the files as they were.
    let resumed_chars = resuming.then_some(run.chars_seen);
    let (log, start_elapsed) = open_log(log.as_deref(), resumed_chars, &mut warnings)?;
    options.start_elapsed = start_elapsed;
    let mut out = Output::new(args.quiet);
    for w in warnings {
        out.warn(&w);
    }
    for (kept, to, replaceable) in moved {
        out.warn(&format!(
            "warning: {} exists and is not this run's: it is kept as it is, and this run writes {}{}",
            kept.display(),
            to.display(),
            if replaceable { " (--force replaces it)" } else { "" }
        ));
    }
    // Recorded where a resume without --eval-every would report elsewhere:
    // reports pick the `.best` model and the plateau schedule's cuts. (A
    // default spacing is not recorded, outside plateau, so that such a
    // run's file keeps the bytes it always had.)
    if trainer.config().lr_schedule == LrSchedule::Plateau
        || options.eval_every != default_eval_every(val.len())
    {
        run.eval_every = Some(options.eval_every);
    }
    let begin = Progress {
        elapsed: start_elapsed,
        chars_seen: run.chars_seen,
        planned_chars: 0,
        recent_loss: f64::NAN,
    };
    let step_chars = trainer.config().seq_len * trainer.config().shards;
    let samples = args.sample_every.filter(|&n| n > 0).map(|n| {
        let every = n.max(step_chars);
        // At multiples of `every`, a resumed run's too.
        Samples {
            every,
            next: session::next_multiple(every, begin.chars_seen),
            prime: corpus.ids[0],
        }
    });
    print_header(
        &mut out,
        trainer.config(),
        &run,
        &corpus,
        &val,
        resumed_epoch,
    );
    let mut observer = TrainObserver {
        out,
        log,
        config: trainer.config().clone(),
        best_val,
        run,
        output: output.path.clone(),
        checkpoint_every: args.checkpoint_every.map(Duration::from_secs_f32),
        keep_best,
        best_epoch: None,
        last_checkpoint: Instant::now(),
        checkpoint_saved: false,
        resumed_in_place: in_place,
        owned,
        samples,
        interrupts,
        best_train: f64::INFINITY,
        warned: false,
        warned_held_out: false,
        vocab_len: corpus.vocab.len(),
        log_failure: None,
        checkpoint_failure: None,
        best_failure: None,
        start: begin,
        last: begin,
        last_train: f64::NAN,
    };
    let planned = trainer.chars_per_epoch().saturating_mul(options.epochs);
    observer.out.start(planned, begin.chars_seen);
    let result = session::run(&mut trainer, &corpus.ids, &val, &options, &mut observer);
    let finished = finish(&args, &trainer, &mut observer, result);
    observer.interrupts.set_training(false);
    finished?;
    final_sample(&args, &trainer, &corpus)?;
    drop((output.lock, locks));
    Ok(())
}

/// The files a run writes: its model (claimed) and its log, and each
/// existing file kept with the name written beside it instead (said once
/// the run is sure to start).
struct RunOutputs {
    model: ModelOutput,
    log: Option<PathBuf>,
    /// (kept, written instead, whether `--force` would replace the kept one)
    moved: Vec<(PathBuf, PathBuf, bool)>,
    /// The claims on the `.best` model and the log, held to the end.
    locks: Vec<OutputLock>,
    /// The model output and the `.best` model, each with the version of
    /// the file found there once the checks let the run replace it (see
    /// [`TrainObserver::owned`]).
    owned: Vec<(PathBuf, Option<files::FileVersion>)>,
}

/// Checks every file the run will write against what it reads, and claims
/// the model output; an existing model or log that is not this run's is
/// kept (the run writes beside it) unless `--force`. `keep_best`: the run
/// also writes the best model by validation beside the output.
fn claim_outputs(args: &TrainArgs, start: &Start, keep_best: bool) -> Result<RunOutputs> {
    let mut inputs = Vec::new();
    if let Some(c) = &args.corpus {
        inputs.push(Input {
            what: "corpus",
            path: c,
        });
    }
    if let Some(i) = &args.init_from {
        inputs.push(Input {
            what: "model fine-tuned",
            path: i,
        });
    }
    // The checkpoint resumed is the one input the model output may replace.
    check_output("-o", &args.output, &inputs)?;
    if let Some(r) = &args.resume {
        inputs.push(Input {
            what: "checkpoint resumed",
            path: r,
        });
    }
    let best = best_path(&args.output);
    if keep_best {
        check_output("the best model (beside -o)", &best, &inputs)?;
    }
    if let Some(log) = &args.log {
        check_output("--log", log, &inputs)?;
        check_distinct(("-o", &args.output), ("--log", log))?;
        check_distinct(("--log", log), ("the best model (beside -o)", &best))?;
    }
    let resumed = match (&args.resume, start.checkpoint()) {
        (Some(path), Some(ck)) => Some((path.as_path(), ck.run.chars_seen)),
        _ => None,
    };
    files::check_writable(&args.output)?;
    let model = outputs::model_output(&args.output, resumed, args.force)?;
    let mut moved = Vec::new();
    if let Some(kept) = &model.moved_from {
        let replaceable = outputs::is_model_or_empty(kept);
        moved.push((kept.clone(), model.path.clone(), replaceable));
    }
    // The other files the run writes are claimed too, so that a second run
    // naming one of them cannot write it at the same time; a log named as
    // the model is written (moved beside a file kept) is refused first.
    if let Some(log) = &args.log {
        check_distinct(("-o", &model.path), ("--log", log))?;
    }
    let mut locks = Vec::new();
    let log = match &args.log {
        Some(path) if resumed.is_some() => {
            outputs::check_is_log(path, "appended to")?;
            locks.push(OutputLock::claim(path, "--log")?);
            Some(path.clone())
        }
        Some(path) => {
            if args.force {
                outputs::check_is_log(path, "replaced, even with --force")?;
            }
            let (to, kept, lock) = outputs::claim_unless_forced(path, args.force, "--log")?;
            locks.push(lock);
            if let Some(kept) = kept {
                let replaceable = outputs::is_log_or_new(&kept);
                moved.push((kept, to.clone(), replaceable));
            }
            Some(to)
        }
        None => None,
    };
    check_final_paths(args, &model.path, log.as_deref(), &inputs, keep_best)?;
    if keep_best {
        locks.push(OutputLock::claim(&best_path(&model.path), "-o")?);
    }
    // With the locks held, the files still to open at once: the log, and a
    // save's temporary file.
    files::check_can_open(&model.path, 1 + usize::from(log.is_some()))?;
    // What is there now is what the checks above allowed the run to
    // replace: recorded at once, so that a file put there while the run
    // sets up (seconds, for a large model) is another's, and kept.
    let owned = [model.path.clone(), best_path(&model.path)]
        .into_iter()
        .map(|p| {
            let version = files::file_version(&p);
            (p, version)
        })
        .collect();
    Ok(RunOutputs {
        model,
        log,
        moved,
        locks,
        owned,
    })
}

/// The same checks on the paths the run will really write (a model or log
/// moved beside an existing file, and the `.best` model beside the model):
/// none is an input or another output, and an existing `.best` model that is
/// not this run's is kept unless `--force`.
fn check_final_paths(
    args: &TrainArgs,
    model: &std::path::Path,
    log: Option<&std::path::Path>,
    inputs: &[Input<'_>],
    keep_best: bool,
) -> Result<()> {
    let best = best_path(model);
    let best_role = "the best model (beside -o)";
    if let Some(log) = log {
        check_distinct(("-o", model), ("--log", log))?;
        check_distinct(("--log", log), (best_role, &best))?;
    }
    if !keep_best {
        return Ok(());
    }
    check_output(best_role, &best, inputs)?;
    let own = args
        .resume
        .as_deref()
        .is_some_and(|r| files::same_file(r, model) && files::same_file(&best_path(r), &best));
    if std::fs::symlink_metadata(&best).is_ok() && !own {
        outputs::check_replaces_a_model(best_role, &best)?;
        if !args.force {
            return Err(Error::Usage(format!(
                "{} exists and is not this run's best model: it is kept; add --force to replace it, or choose another -o",
                best.display()
            )));
        }
    }
    Ok(())
}

/// The validation loss a new best model must beat: the run's record, or
/// the `.best` model's beside the checkpoint `resumed` in place when that is
/// lower and is the same run's, saved after that checkpoint (a run killed
/// after its last checkpoint may have saved a better `.best` since, which
/// a worse model must not replace). A `.best` of another run (same text,
/// other settings, or older) does not count.
fn best_to_beat(run: &RunInfo, best: &std::path::Path, resumed: Option<&Checkpoint>) -> f64 {
    let recorded = run.best_val.unwrap_or(f64::INFINITY);
    let Some(resumed) = resumed else {
        return recorded;
    };
    let on_disk = checkpoint::read_record(best)
        .filter(|(settings, best_run)| {
            *settings == resumed.settings
                && best_run.corpus_hash == run.corpus_hash
                && best_run.val_frac == run.val_frac
                && best_run.chars_seen > run.chars_seen
        })
        .and_then(|(_, best_run)| best_run.best_val);
    on_disk.map_or(recorded, |b| b.min(recorded))
}

/// The threads `asked` for, cut to [`MAX_THREADS_PER_CORE`] per core
/// ([`capped_threads`]), and the warning that says so where it cut them
/// (train and bench).
pub fn capped_threads_warning(asked: usize) -> (usize, Option<String>) {
    let (threads, cut) = capped_threads(asked);
    let warning = cut.then(|| {
        format!(
            "warning: --threads {asked} is more than {MAX_THREADS_PER_CORE} per core on this machine ({}): using {threads}",
            counted(rnn_fast::config::cores(), "core")
        )
    });
    (threads, warning)
}

/// The warning for an explicit `--streams` above the shards: each stream
/// of a pass reads its own shard, so a pass trains at most `shards`
/// streams ([`TrainConfig::streams_per_pass`]).
pub fn streams_warning(asked: Option<usize>, shards: usize) -> Option<String> {
    let asked = asked.filter(|&b| b > shards)?;
    Some(format!(
        "warning: --streams {asked} is more than the {}: training {} per pass (each stream reads its own shard; --shards sets how many there are)",
        counted(shards, "shard"),
        counted(shards, "stream")
    ))
}

/// Room in a checkpoint's header for the numbers that grow as the run goes
/// on (characters seen, updates, epochs, the best loss): a few digits each.
const HEADER_GROWTH: u64 = 512;

/// Refuses a run whose checkpoints would be larger than this process may
/// write (`ulimit -f`): the size of its checkpoint now, with room for the
/// header's numbers to grow.
fn check_file_size(trainer: &Trainer, run: &RunInfo) -> Result<()> {
    let bytes = || {
        let ck = Checkpoint {
            settings: trainer.config().clone(),
            run: run.clone(),
            state: trainer.state_ref(),
        };
        checkpoint::written_len(trainer.model(), Some(&ck)) + HEADER_GROWTH
    };
    let vocab_len = trainer.model().vocab.len();
    rnn_fast::resources::check_file_size(trainer.config(), vocab_len, bytes)
}

/// When to report and stop. Reports are at least one step apart, and at
/// least the held-out text's length, so that evaluating cannot take most
/// of the run. A resumed run keeps the spacing its checkpoint recorded (the
/// plateau schedule counts reports); one that records none reported at the
/// default, and another is taken with a warning (a checkpoint written
/// before the others were recorded holds none either).
fn session_options(
    args: &TrainArgs,
    trainer: &Trainer,
    val: &[u16],
    (run, resuming): (&RunInfo, bool),
    warnings: &mut Vec<String>,
) -> Result<SessionOptions> {
    let c = trainer.config();
    let planned = trainer.chars_per_epoch().saturating_mul(c.epochs);
    if args.warmup.is_some() && c.warmup >= planned {
        warnings.push(format!(
            "warning: --warmup {} is not less than the {planned} characters the run plans: the learning rate rises for the whole run and never reaches --lr {}",
            c.warmup, c.lr
        ));
    }
    let floor = (c.seq_len * c.shards).max(val.len());
    let eval_every = match args.eval_every {
        Some(n) if n > 0 && n < floor => {
            warnings.push(format!(
                "warning: --eval-every {n} is less than one step or the held-out text: reporting every {floor} characters"
            ));
            floor
        }
        Some(n) => n,
        None => run.eval_every.unwrap_or(default_eval_every(val.len())),
    };
    if let Some(stored) = run.eval_every
        && stored != eval_every
    {
        return Err(Error::ResumeMismatch {
            option: "--eval-every",
            stored: stored.to_string(),
            given: eval_every.to_string(),
        });
    }
    // A checkpoint that records no spacing reported at the default one, or
    // was written before rnn-fast recorded the others: said, not refused.
    let default = default_eval_every(val.len());
    if resuming && run.eval_every.is_none() && eval_every != default {
        warnings.push(format!(
            "warning: the checkpoint records no report spacing, so its run reported every {default} characters (the default), or an earlier rnn-fast that recorded none wrote it: reporting every {eval_every} from here, the resumed run may report, and pick its .best model, elsewhere than that run did"
        ));
    }
    Ok(SessionOptions {
        epochs: c.epochs,
        eval_every,
        max_time: args.max_seconds.map(Duration::from_secs_f32),
        tick: TICK,
        start_chars: run.chars_seen,
        // Set from the log, opened after these checks.
        start_elapsed: Duration::ZERO,
    })
}

/// The `--log` file, and where a resumed run's time continues from.
fn open_log(
    path: Option<&std::path::Path>,
    resumed_chars: Option<usize>,
    warnings: &mut Vec<String>,
) -> Result<(Option<CsvLog>, Duration)> {
    let Some(path) = path else {
        return Ok((None, Duration::ZERO));
    };
    let (log, last, moved) = CsvLog::open(path, resumed_chars)?;
    if let Some(MovedLines { lines, to }) = moved {
        warnings.push(format!(
            "warning: {} held {} after the checkpoint's {} characters (a run stopped after its last checkpoint, or a line cut short): moved to {}, so that the log follows the run resumed",
            path.display(),
            message::counted(lines, "line"),
            resumed_chars.unwrap_or(0),
            to.display()
        ));
    }
    // A hand-edited log must not stop the run: a bad time (not a count of
    // seconds, or over a century, which the run's clock could overflow
    // adding to) counts as 0.
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 86_400);
    let last = Duration::try_from_secs_f64(last)
        .ok()
        .filter(|&t| t <= CENTURY)
        .unwrap_or(Duration::ZERO);
    Ok((Some(log), last))
}

/// The lines that say what is trained, how, and from where.
fn print_header(
    out: &mut Output,
    c: &TrainConfig,
    run: &RunInfo,
    corpus: &Corpus,
    val: &[u16],
    resumed_epoch: usize,
) {
    let held_out = if val.is_empty() {
        String::new()
    } else {
        format!(
            " ({} trained, last {} held out for validation)",
            corpus.len(),
            val.len()
        )
    };
    // The text's own characters: a model this run starts from or resumes
    // may know more of them than the text holds.
    let mut seen = vec![false; corpus.vocab.len()];
    for &id in corpus.ids.iter().chain(val) {
        seen[usize::from(id)] = true;
    }
    let distinct = seen.iter().filter(|&&s| s).count();
    let of_model = if distinct < corpus.vocab.len() {
        format!(" (the model's vocabulary: {})", corpus.vocab.len())
    } else {
        String::new()
    };
    out.line(format_args!(
        "training on {}: {} characters{held_out}, {distinct} distinct{of_model}",
        message::one_line(&run.corpus),
        corpus.len() + val.len(),
    ));
    // The article's cell is named only when it is not the default one layer.
    let cell = match (c.cell, c.layers) {
        (CellKind::Tanh, 1) => String::new(),
        (cell, 1) => format!("{cell}, "),
        (cell, n) => format!("{cell}, {n} layers, "),
    };
    out.line(format_args!(
        "{cell}H {}, seq_len {}, {} lr {} ({} gradients, clip {}{}), {}, seed {}",
        c.hidden,
        c.seq_len,
        c.optimizer,
        c.lr,
        c.grad,
        c.clip,
        c.clip_norm.map_or(String::new(), |n| format!(", norm {n}")),
        counted(c.epochs, "epoch"),
        c.seed
    ));
    if c.init != InitKind::Article || c.weight_decay != 0.0 {
        out.line(format_args!(
            "init {}, weight decay {}",
            c.init, c.weight_decay
        ));
    }
    out.line(format_args!(
        "{}, {}, {} per pass, parallel {}{}",
        counted(c.threads, "thread"),
        counted(c.shards, "shard"),
        counted(c.streams_per_pass(), "stream"),
        c.parallel,
        if c.dropout > 0.0 {
            format!(", dropout {}", c.dropout)
        } else {
            String::new()
        }
    ));
    let done = run.chars_seen;
    if resumed_epoch > 0 || done > 0 {
        out.line(format_args!(
            "resuming after {done} characters ({} done)",
            counted(resumed_epoch, "epoch")
        ));
    }
}

/// How a run that received a stop `signal` (exit status `code`) ended, as
/// its session stopped: at the signal, after a step (the checkpoint in
/// `out`, and the command that resumes it); or as the signal came during
/// the last report or the save, at the time limit or with every epoch done
/// (such a run used to end without a word, exit 0).
fn interrupted(stop: Stop, signal: &str, code: u8, out: &str, resume: &str) -> Error {
    let message = match stop {
        Stop::Stopped => format!(
            "interrupted by {signal}: the run so far is saved in {out}; resume with: {resume}"
        ),
        Stop::TimeLimit => format!(
            "interrupted by {signal} as the run reached --max-seconds: saved in {out}; resume with: {resume}"
        ),
        Stop::Finished => {
            format!("interrupted by {signal} as the run ended: it is complete, saved in {out}")
        }
    };
    Error::Interrupted { code, message }
}

/// After the session: save, and say how the run ended (a divergence, a
/// signal, the time limit, progress output or a log that failed).
fn finish(
    args: &TrainArgs,
    trainer: &Trainer,
    observer: &mut TrainObserver,
    result: Result<Stop>,
) -> Result<()> {
    let output = observer.output.clone();
    let out = output.display();
    let stop = match result {
        Err(Error::Diverged(msg)) => {
            observer.out.finish();
            let kept = kept_on_disk(observer);
            // A resumed run keeps the checkpoint's settings, --lr and the
            // clips included: the advice is followed from its weights.
            let from = args.resume.as_ref().map_or(String::new(), |ck| {
                format!(
                    "; a resumed run keeps its checkpoint's settings: to change them, train from its weights with --init-from {}",
                    message::shell_word(ck)
                )
            });
            return Err(Error::Diverged(format!("{msg}{kept}{from}")));
        }
        other => other?,
    };
    let saved = observer.save(trainer, &output, observer.last.chars_seen);
    observer.out.finish();
    if let Err(e) = saved {
        return Err(save_elsewhere(e, trainer, observer));
    }
    // Saved: a signal from here on (while a stalled reader holds up the
    // last lines) ends the process at once.
    observer.interrupts.set_training(false);
    // The command that resumes the run, to paste into a shell.
    let log = observer.log.as_ref().map(CsvLog::path);
    let resume = start::resume_command(args.corpus.as_deref(), &output, &output, log);
    if stop == Stop::Stopped
        && let Some((signal, code)) = observer.signal()
    {
        observer.out.close_within(LAST_LINES_WAIT);
        return Err(interrupted(stop, signal, code, &out.to_string(), &resume));
    }
    let trained = observer.last.elapsed.saturating_sub(observer.start.elapsed);
    if let Some(w) = args
        .max_seconds
        .and_then(|limit| overrun_warning(limit, trained, trainer.config()))
    {
        observer.out.warn(&w);
    }
    if stop == Stop::TimeLimit {
        observer.out.line(format_args!(
            "stopped after --max-seconds {}: resume with: {resume}",
            args.max_seconds.unwrap_or(0.0),
        ));
    }
    // Paths as the header names them: a line break in a name is escaped.
    observer.out.line(format_args!(
        "{}",
        message::one_line(&format!("saved {out}"))
    ));
    if let Some(epoch) = observer
        .best_epoch
        .filter(|_| observer.best_failure.is_none())
    {
        let best = best_path(&output).display().to_string();
        observer.out.line(format_args!(
            "best validation loss {:.3} nats/char, at epoch {epoch:.2}: saved {}",
            observer.best_val,
            message::one_line(&best)
        ));
    }
    report_lost_output(&output, observer)?;
    // A signal that came during the last report or the save, the run done
    // (or at its time limit): said after any output that failed, which
    // matters more.
    match observer.signal() {
        Some((signal, code)) => {
            observer.out.close_within(LAST_LINES_WAIT);
            Err(interrupted(stop, signal, code, &out.to_string(), &resume))
        }
        None => Ok(()),
    }
}

/// What of the run is on disk when its end could not be saved: "; ..."
/// naming the last checkpoint this run wrote, the checkpoint it resumed in
/// place or its best model. Only those are named, and only while the file
/// is still the one the run wrote or resumed: a file --force was to
/// replace, or one put there during the run, is not this run's.
fn kept_on_disk(observer: &TrainObserver) -> String {
    let output = &observer.output;
    let out = output.display();
    let best = best_path(output);
    let ours = observer.still_holds(output);
    if observer.checkpoint_saved && ours {
        format!("; the last good checkpoint, {out}, is kept")
    } else if observer.resumed_in_place && ours {
        format!("; the checkpoint resumed, {out}, is kept as it was")
    } else if observer.best_epoch.is_some() && observer.still_holds(&best) {
        format!(
            "; the best model by validation ({:.3} nats/char), {}, is kept",
            observer.best_val,
            best.display()
        )
    } else {
        "; nothing was saved".to_string()
    }
}

/// The run's end could not be written at `-o` (another file put there, a
/// full disk, its folder gone): it is saved beside it or in the temporary
/// folder instead, and the error says where; where both fail, what is on
/// disk. Any other error as it is.
fn save_elsewhere(e: Error, trainer: &Trainer, observer: &mut TrainObserver) -> Error {
    let Error::Write { path, source } = e else {
        return e;
    };
    // Beside the output first (the output's name was taken by another
    // file), then in the temporary folder (a full disk, a folder gone),
    // under a new name of its own there (a shared folder: no name another
    // user could have prepared).
    let chars = observer.last.chars_seen;
    // The name beside is claimed (another run may have picked it) while
    // the run is saved there; where it cannot be (a folder gone, a full
    // disk that takes no lock file), the temporary folder is next.
    let saved = match files::claim_beside(&path, "-o") {
        Ok((name, _claim)) if observer.save(trainer, &name, chars).is_ok() => Some(name),
        _ => observer
            .checkpoint(trainer, chars, &path)
            .ok()
            .and_then(|ck| {
                let write =
                    |file: &std::fs::File| checkpoint::write_file(file, trainer.model(), Some(&ck));
                // $TMPDIR, then /tmp where $TMPDIR names no folder.
                [std::env::temp_dir(), std::path::PathBuf::from("/tmp")]
                    .iter()
                    .find_map(|dir| files::write_new_with(dir, &path, write).ok())
            }),
    };
    let what = match saved {
        Some(place) => format!(
            "; the run is saved in {} instead (resume from it with --resume)",
            place.display()
        ),
        None => kept_on_disk(observer),
    };
    Error::Write {
        path,
        source: std::io::Error::new(source.kind(), format!("{source}{what}")),
    }
}

/// The run is saved; a best model, progress output or log that failed on
/// the way is said now: a closed standard output (`| head`) as a warning,
/// anything else as an error (exit status 1).
fn report_lost_output(saved: &std::path::Path, observer: &mut TrainObserver) -> Result<()> {
    let after = |what: &str, source: Error| Error::AfterSave {
        saved: saved.to_path_buf(),
        what: what.to_string(),
        source: Box::new(source),
    };
    if let Some(e) = observer.best_failure.take() {
        return Err(after("the best model beside it", e));
    }
    if let Some(e) = observer.log_failure.take() {
        return Err(after("the --log file", e));
    }
    match observer.out.take_failure() {
        Some(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            observer.out.warn(&format!(
                "warning: standard output was closed: training went on to its end and {} is saved",
                saved.display()
            ));
            Ok(())
        }
        Some(e) => Err(after(
            "writing progress to standard output",
            Error::Output(e),
        )),
        None => Ok(()),
    }
}

/// The sample printed after training.
fn final_sample(args: &TrainArgs, trainer: &Trainer, corpus: &Corpus) -> Result<()> {
    if args.sample_len == 0 || args.quiet {
        return Ok(());
    }
    let model = trainer.model();
    let config = trainer.config();
    let mut sampler = Sampler::new(model, config.seed);
    let prime = if config.drop_tail {
        // The article samples from 'h' with the state training left.
        sampler.set_state(&trainer.last_state());
        model.vocab.id('h').unwrap_or(0)
    } else {
        corpus.ids[0]
    };
    let mut out = std::io::stdout().lock();
    say(&mut out, format_args!("--- sample ---"))?;
    write_sample(
        &mut out,
        model,
        &mut sampler,
        &[prime],
        args.sample_len,
        Pick::MODEL,
    )?;
    say(&mut out, format_args!(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A signal is said however the session stopped: a run it stopped can
    /// be resumed; one it reached during the last report or the save is
    /// complete (or at its time limit), and says so with the signal's status.
    #[test]
    fn a_signal_is_said_however_the_run_ended() {
        let said = |stop| match interrupted(
            stop,
            "SIGTERM",
            143,
            "m.st",
            "rnn-fast train c.txt --resume m.st -o m.st",
        ) {
            Error::Interrupted { code, message } => (code, message),
            e => panic!("{e}"),
        };
        assert_eq!(
            said(Stop::Stopped),
            (143, "interrupted by SIGTERM: the run so far is saved in m.st; resume with: rnn-fast train c.txt --resume m.st -o m.st".into())
        );
        assert_eq!(
            said(Stop::TimeLimit),
            (143, "interrupted by SIGTERM as the run reached --max-seconds: saved in m.st; resume with: rnn-fast train c.txt --resume m.st -o m.st".into())
        );
        assert_eq!(
            said(Stop::Finished),
            (
                143,
                "interrupted by SIGTERM as the run ended: it is complete, saved in m.st".into()
            )
        );
    }

    /// A step longer than `--max-seconds` is said; the usual overrun, less
    /// than a step of milliseconds, is not.
    #[test]
    fn a_run_well_past_its_time_limit_says_why() {
        let c = TrainConfig {
            seq_len: 20_000,
            streams: 1,
            shards: 1,
            ..TrainConfig::defaults(200_000)
        };
        let secs = Duration::from_secs_f32;
        let w = overrun_warning(1.0, secs(22.9), &c).unwrap();
        assert_eq!(
            w,
            "warning: training took 22.9 s, past --max-seconds 1: the limit is checked between steps, and a step (seq_len 20000 × 1 stream) took longer; lower --seq-len to stop nearer it"
        );
        assert_eq!(overrun_warning(1.0, secs(1.9), &c), None);
        assert_eq!(overrun_warning(0.05, secs(0.9), &c), None);
        assert!(overrun_warning(0.05, secs(1.2), &c).is_some());
        assert_eq!(overrun_warning(60.0, secs(100.0), &c), None);
        assert!(overrun_warning(60.0, secs(121.0), &c).is_some());
    }
}
