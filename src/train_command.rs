//! `rnn-fast train`: read the corpus, start fresh, fine-tune or resume, run
//! the session with progress, log and checkpoints, save, and print a sample.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::{Preset, TrainArgs, in_file, say, write_sample};
use crate::config::TrainConfig;
use crate::corpus::{self, Corpus};
use crate::error::{Error, Result};
use crate::model_file::{self, Loaded};
use crate::sample::{Pick, Sampler};
use crate::session::{self, Observer, Progress, Report, SessionOptions, Stop};
use crate::trainer::{self, Trainer};

/// Shards when their count is not given (fewer for short texts).
pub const DEFAULT_SHARDS: usize = 32;
/// Streams per pass when not given: 32 shards make 8 groups of 4, enough
/// for 8 threads, and 4 streams already reuse each Whh element 4 times.
pub const DEFAULT_STREAMS: usize = 4;
/// Shards get at least this many characters each when their count is not given.
pub const MIN_SHARD_CHARS: usize = 10_000;
/// Corpora longer than this hold out 5% for validation by default.
const VAL_DEFAULT_ABOVE: usize = 100_000;
/// Characters between two reports by default...
const DEFAULT_EVAL_EVERY: usize = 200_000;
/// ...or this many times the held-out text, so that evaluating a large one
/// costs a small fraction of the training time.
const EVAL_EVERY_VAL_TIMES: usize = 5;
/// How often the session hands control back (progress, checkpoints, signals).
const TICK: Duration = Duration::from_millis(200);
/// Characters of each `--sample-every` sample.
const PERIODIC_SAMPLE_LEN: usize = 200;

/// The settings a fresh `train` invocation asks for, for a training text
/// of `corpus_len` characters.
pub fn train_config(args: &TrainArgs, corpus_len: usize) -> TrainConfig {
    let article = args.preset == Some(Preset::Article);
    let mut c = if article {
        TrainConfig::article()
    } else {
        TrainConfig::new()
    };
    if let Some(o) = args.optimizer {
        c.optimizer = o;
        if !article {
            c.lr = TrainConfig::default_lr(o);
        }
    }
    c.hidden = args.hidden.unwrap_or(c.hidden);
    c.seq_len = args.seq_len.unwrap_or(c.seq_len);
    c.lr = args.lr.unwrap_or(c.lr);
    c.clip_norm = args.clip_norm.or(c.clip_norm);
    // A norm clip replaces the element-wise one unless both are asked for.
    let default_clip = if c.clip_norm.is_some() {
        f32::INFINITY
    } else {
        c.clip
    };
    c.clip = args.clip.unwrap_or(default_clip);
    c.lr_decay = args.lr_decay.unwrap_or(c.lr_decay);
    c.lr_decay_every = args.lr_decay_every.unwrap_or(c.lr_decay_every);
    c.seed = args.seed.unwrap_or(c.seed);
    c.grad = args.grad.unwrap_or(c.grad);
    c.parallel = args.parallel.unwrap_or(c.parallel);
    // The default shard and stream counts do not depend on the machine, so
    // that the default (avg) run gives the same model everywhere.
    c.threads = args.threads.unwrap_or(if article { 1 } else { cores() });
    c.shards = args.shards.unwrap_or(if article {
        1
    } else {
        DEFAULT_SHARDS.min((corpus_len / MIN_SHARD_CHARS).max(1))
    });
    c.streams = args.streams.unwrap_or(if article {
        1
    } else {
        DEFAULT_STREAMS.min(c.shards)
    });
    c.epochs = match (args.epochs, article) {
        (Some(e), _) => e,
        (None, true) => c.epochs,
        (None, false) => TrainConfig::auto_epochs(corpus_len),
    };
    c
}

/// The default thread count: every core.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Where a run starts.
enum Start {
    Fresh,
    /// `--init-from`: the weights of a model, a fresh optimizer.
    InitFrom(Loaded),
    /// `--resume`: a checkpoint's weights, state and settings.
    Resume(Loaded),
}

/// FNV-1a over the corpus ids: a resumed run checks it trains on the same text.
fn corpus_hash(ids: &[u16]) -> u64 {
    ids.iter().fold(0xcbf2_9ce4_8422_2325, |h, &id| {
        (h ^ id as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The settings options that a checkpoint fixes, by name, when given.
fn fixed_by_checkpoint(args: &TrainArgs) -> Vec<&'static str> {
    [
        ("--hidden", args.hidden.is_some()),
        ("--seq-len", args.seq_len.is_some()),
        ("--lr", args.lr.is_some()),
        ("--clip", args.clip.is_some()),
        ("--clip-norm", args.clip_norm.is_some()),
        ("--lr-decay", args.lr_decay.is_some()),
        ("--lr-decay-every", args.lr_decay_every.is_some()),
        ("--optimizer", args.optimizer.is_some()),
        ("--grad", args.grad.is_some()),
        ("--shards", args.shards.is_some()),
        ("--streams", args.streams.is_some()),
        ("--parallel", args.parallel.is_some()),
        ("--seed", args.seed.is_some()),
        ("--val-frac", args.val_frac.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, given)| given.then_some(name))
    .collect()
}

/// Runs `rnn-fast train`.
pub fn run(args: TrainArgs) -> Result<()> {
    // First, so that a signal during the set-up also stops the run cleanly.
    let interrupts = Interrupts::install()?;
    let (text, name) = match &args.corpus {
        Some(path) => (corpus::read_text(path)?, path.display().to_string()),
        None => (
            corpus::BUILTIN_TEXT.to_string(),
            corpus::BUILTIN_NAME.into(),
        ),
    };
    let start = match (&args.resume, &args.init_from) {
        (Some(path), _) => {
            let loaded = model_file::load(path)?;
            if loaded.state.is_none() {
                return Err(Error::Invalid(format!(
                    "{} holds a model but no training state: fine-tune it with --init-from instead",
                    path.display()
                )));
            }
            if let Some(first) = fixed_by_checkpoint(&args).first() {
                return Err(Error::Invalid(format!(
                    "{first} cannot change when resuming: the checkpoint fixes the training settings (only --epochs, --threads and output options may be given)"
                )));
            }
            Start::Resume(loaded)
        }
        (None, Some(path)) => Start::InitFrom(model_file::load(path)?),
        (None, None) => Start::Fresh,
    };
    let mut corpus = match &start {
        Start::Fresh => Corpus::from_text(&text),
        Start::InitFrom(l) | Start::Resume(l) => Corpus::with_vocab(&text, &l.model.vocab),
    }
    .map_err(|e| in_file(&name, e))?;
    drop(text);
    let total = corpus.len();
    let hash = corpus_hash(&corpus.ids);

    let (config, val_frac) = match &start {
        Start::Resume(l) => {
            let saved_hash = l.metadata.get("train.corpus_hash");
            if saved_hash != Some(&hash.to_string()) {
                let trained_on = l.metadata.get("corpus").map_or("?", String::as_str);
                return Err(Error::Invalid(format!(
                    "{name} is not the text this checkpoint was trained on ({trained_on}): resume with the same corpus"
                )));
            }
            let mut c = TrainConfig::from_metadata(&l.metadata)?;
            c.epochs = args.epochs.unwrap_or(c.epochs);
            c.threads = args.threads.unwrap_or_else(cores);
            let frac: f64 = l
                .metadata
                .get("val_frac")
                .and_then(|v| v.parse().ok())
                .filter(|f| (0.0..1.0).contains(f))
                .ok_or_else(|| {
                    Error::Invalid("the checkpoint's val_frac is missing or not in [0, 1)".into())
                })?;
            (c, frac)
        }
        _ => {
            let default_frac = if total > VAL_DEFAULT_ABOVE { 0.05 } else { 0.0 };
            let frac = args.val_frac.unwrap_or(default_frac);
            let val_len = (total as f64 * frac) as usize;
            (train_config(&args, total - val_len), frac)
        }
    };
    let val_len = (total as f64 * val_frac) as usize;
    if val_frac > 0.0 && (val_len < 2 || total - val_len < 2) {
        return Err(Error::Invalid(format!(
            "--val-frac {val_frac} of {total} characters leaves no validation text or no training text"
        )));
    }
    let val = corpus.ids.split_off(total - val_len);
    config.validate()?;
    model_file::check_writable(&args.output)?;

    let start_chars = match &start {
        Start::Resume(l) => l
            .metadata
            .get("train.chars_seen")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        _ => 0,
    };
    // A resumed run's .best file is replaced only by a better model.
    let resumed_best_val = match &start {
        Start::Resume(l) => l
            .metadata
            .get("train.best_val")
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::INFINITY),
        _ => f64::INFINITY,
    };
    let resumed_epoch = match &start {
        Start::Resume(l) => l.state.as_ref().map_or(0, |s| s.epoch),
        _ => 0,
    };
    let (log, start_elapsed) = match &args.log {
        Some(path) => {
            let (log, last) = CsvLog::open(path, matches!(start, Start::Resume(_)))?;
            // A hand-edited log must not stop the run: a bad time counts as 0.
            let last = Duration::try_from_secs_f64(last).unwrap_or(Duration::ZERO);
            (Some(log), last)
        }
        None => (None, Duration::ZERO),
    };
    let mut trainer = match start {
        Start::Fresh => Trainer::new(config.clone(), &corpus)?,
        Start::InitFrom(l) => {
            if l.model.hidden() != config.hidden && args.hidden.is_some() {
                return Err(Error::Invalid(format!(
                    "--hidden {} differs from the model's H {}",
                    config.hidden,
                    l.model.hidden()
                )));
            }
            let config = TrainConfig {
                hidden: l.model.hidden(),
                ..config.clone()
            };
            Trainer::with_model(config, l.model, &corpus)?
        }
        Start::Resume(l) => {
            let state = l.state.expect("checked above");
            Trainer::resume(config.clone(), l.model, &corpus, state)?
        }
    };
    let config = trainer.config().clone();

    let run_meta = vec![
        ("corpus".to_string(), name.clone()),
        ("val_frac".to_string(), val_frac.to_string()),
        ("train.corpus_len".to_string(), total.to_string()),
        ("train.corpus_hash".to_string(), hash.to_string()),
    ];
    let mut observer = TrainObserver {
        out: Output::new(args.quiet),
        log,
        config: config.clone(),
        run_meta,
        vocab_len: corpus.vocab.len(),
        first_id: corpus.ids[0],
        output: args.output.clone(),
        checkpoint_every: args.checkpoint_every.map(Duration::from_secs_f32),
        last_checkpoint: Instant::now(),
        best_val: resumed_best_val,
        best_train: f64::INFINITY,
        warned: false,
        sample_every: args.sample_every.filter(|&n| n > 0),
        next_sample: start_chars + args.sample_every.unwrap_or(0),
        interrupts: None,
        start_chars,
        start_elapsed,
        last_train: f64::NAN,
    };
    let held_out = if val.is_empty() {
        String::new()
    } else {
        format!(
            " ({} trained, last {} held out for validation)",
            corpus.len(),
            val.len()
        )
    };
    let c = &config;
    observer.out.line(format_args!(
        "training on {name}: {total} characters{held_out}, {} distinct",
        corpus.vocab.len()
    ))?;
    observer.out.line(format_args!(
        "H {}, seq_len {}, {} lr {} ({} gradients, clip {}{}), {} epochs, seed {}",
        c.hidden,
        c.seq_len,
        c.optimizer,
        c.lr,
        c.grad,
        c.clip,
        c.clip_norm.map_or(String::new(), |n| format!(", norm {n}")),
        c.epochs,
        c.seed
    ))?;
    observer.out.line(format_args!(
        "{} threads, {} shards, {} streams per pass, parallel {}",
        c.threads, c.shards, c.streams, c.parallel
    ))?;
    if resumed_epoch > 0 || start_chars > 0 {
        observer.out.line(format_args!(
            "resuming after {start_chars} characters ({} epochs done)",
            resumed_epoch
        ))?;
    }
    let options = SessionOptions {
        epochs: config.epochs,
        eval_every: args
            .eval_every
            .unwrap_or(DEFAULT_EVAL_EVERY.max(EVAL_EVERY_VAL_TIMES * val.len())),
        max_time: args.max_seconds.map(Duration::from_secs_f32),
        tick: TICK,
        start_chars,
        start_elapsed,
    };
    observer.out.start(
        trainer.chars_per_epoch().saturating_mul(config.epochs),
        start_chars,
    );
    let mut progress = Progress {
        elapsed: start_elapsed,
        chars_seen: start_chars,
        planned_chars: 0,
    };
    observer.interrupts = Some(interrupts);
    let result = session::run(
        &mut trainer,
        &corpus.ids,
        &val,
        &options,
        &mut ProgressKeeper {
            inner: &mut observer,
            last: &mut progress,
        },
    );
    let stop = match result {
        Err(Error::Diverged(msg)) => {
            observer.out.finish();
            let kept = if observer.checkpoint_every.is_some() && args.output.is_file() {
                format!("; the last checkpoint, {}, is kept", args.output.display())
            } else {
                "; nothing was saved".to_string()
            };
            return Err(Error::Diverged(format!("{msg}{kept}")));
        }
        other => other?,
    };
    observer.save(&trainer, &args.output, &progress)?;
    observer.out.finish();
    if stop == Stop::Stopped
        && let Some((signal, code)) = observer.interrupts.as_ref().and_then(Interrupts::received)
    {
        let corpus_arg = args
            .corpus
            .as_ref()
            .map_or(String::new(), |p| format!(" {}", p.display()));
        return Err(Error::Interrupted {
            code,
            message: format!(
                "interrupted by {signal}: the run so far is saved in {}; resume with: rnn-fast train{corpus_arg} --resume {}",
                args.output.display(),
                args.output.display()
            ),
        });
    }
    if stop == Stop::TimeLimit {
        observer.out.line(format_args!(
            "stopped after --max-seconds {}: resume with --resume {}",
            args.max_seconds.unwrap_or(0.0),
            args.output.display()
        ))?;
    }
    observer
        .out
        .line(format_args!("saved {}", args.output.display()))?;

    if args.sample_len > 0 && !args.quiet {
        let model = trainer.model();
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
        say(&mut out, format_args!(""))?;
    }
    Ok(())
}

/// Passes events on and remembers the last progress (for the final save).
struct ProgressKeeper<'a> {
    inner: &'a mut TrainObserver,
    last: &'a mut Progress,
}

impl Observer for ProgressKeeper<'_> {
    fn report(&mut self, trainer: &Trainer, report: &Report) -> Result<()> {
        self.last.elapsed = Duration::from_secs_f64(report.elapsed_s);
        self.last.chars_seen = report.chars_seen;
        self.inner.report(trainer, report)
    }

    fn tick(&mut self, trainer: &Trainer, progress: &Progress) -> Result<bool> {
        *self.last = *progress;
        self.inner.tick(trainer, progress)
    }
}

/// Where the run's messages go: a live progress bar on a terminal, plain
/// lines otherwise, nothing with `--quiet`.
enum Output {
    Bar(ProgressBar),
    Plain,
    Quiet,
}

impl Output {
    fn new(quiet: bool) -> Output {
        if quiet {
            Output::Quiet
        } else if std::io::stdout().is_terminal() {
            Output::Bar(ProgressBar::hidden())
        } else {
            Output::Plain
        }
    }

    /// Shows the bar for a run of `planned` characters, `done` of them done.
    fn start(&mut self, planned: usize, done: usize) {
        if let Output::Bar(bar) = self {
            let style =
                ProgressStyle::with_template("{bar:30.cyan/blue} {percent:>3}% {msg}  ETA {eta}")
                    .expect("a valid template")
                    .progress_chars("█▉▊▋▌▍▎▏ ");
            bar.set_style(style);
            bar.set_length(planned as u64);
            bar.set_position(done as u64);
            bar.set_draw_target(ProgressDrawTarget::stdout());
        }
    }

    /// One line of the log, above the bar when there is one.
    fn line(&mut self, line: std::fmt::Arguments<'_>) -> Result<()> {
        match self {
            Output::Bar(bar) if !bar.is_hidden() => {
                bar.println(line.to_string());
                Ok(())
            }
            Output::Bar(_) | Output::Plain => say(&mut std::io::stdout().lock(), line),
            Output::Quiet => Ok(()),
        }
    }

    fn finish(&mut self) {
        if let Output::Bar(bar) = self {
            bar.finish_and_clear();
            *self = Output::Plain;
        }
    }
}

/// What the train command does as the session runs.
struct TrainObserver {
    out: Output,
    log: Option<CsvLog>,
    config: TrainConfig,
    /// Metadata about the run saved beside the settings.
    run_meta: Vec<(String, String)>,
    vocab_len: usize,
    first_id: u16,
    output: PathBuf,
    checkpoint_every: Option<Duration>,
    last_checkpoint: Instant,
    best_val: f64,
    best_train: f64,
    warned: bool,
    sample_every: Option<usize>,
    next_sample: usize,
    /// Ctrl-C and SIGTERM, once installed.
    interrupts: Option<Interrupts>,
    /// Where this session started (for its throughput), and the last train loss.
    start_chars: usize,
    start_elapsed: Duration,
    last_train: f64,
}

impl TrainObserver {
    /// Saves a checkpoint (the model and everything to resume it) to `path`.
    fn save(&self, trainer: &Trainer, path: &Path, progress: &Progress) -> Result<()> {
        if !trainer.model().is_finite() {
            return Err(Error::Diverged(format!(
                "the weights are no longer finite numbers after {} characters; {} was not overwritten; lower --lr",
                progress.chars_seen,
                path.display()
            )));
        }
        let mut meta = self.config.to_metadata();
        meta.extend(self.run_meta.iter().cloned());
        // Not the elapsed time: the same run must write the same bytes
        // (the log keeps the time; a resumed log continues from its last row).
        meta.push(("train.chars_seen".into(), progress.chars_seen.to_string()));
        if self.best_val.is_finite() {
            meta.push(("train.best_val".into(), self.best_val.to_string()));
        }
        model_file::save(path, trainer.model(), &meta, Some(&trainer.state()))
    }
}

impl Observer for TrainObserver {
    fn report(&mut self, trainer: &Trainer, r: &Report) -> Result<()> {
        self.out.line(format_args!("{}", report_line(r)))?;
        if let Some(log) = &mut self.log {
            log.row(r)?;
        }
        if !self.warned
            && let Some(line) =
                trainer::diagnose(r.train_loss, self.best_train, self.vocab_len, &self.config)
        {
            if let Output::Bar(bar) = &self.out {
                bar.suspend(|| eprintln!("{line}"));
            } else {
                eprintln!("{line}");
            }
            self.warned = true;
        }
        self.best_train = self.best_train.min(r.train_loss);
        self.last_train = r.train_loss;
        if let Some(val) = r.val
            && val.loss_nats < self.best_val
        {
            self.best_val = val.loss_nats;
            if self.checkpoint_every.is_some() {
                let progress = Progress {
                    elapsed: Duration::from_secs_f64(r.elapsed_s),
                    chars_seen: r.chars_seen,
                    planned_chars: 0,
                };
                self.save(trainer, &best_path(&self.output), &progress)?;
            }
        }
        Ok(())
    }

    fn tick(&mut self, trainer: &Trainer, p: &Progress) -> Result<bool> {
        if let Output::Bar(bar) = &self.out {
            let epoch_chars = (p.planned_chars as f64 / self.config.epochs as f64).max(1.0);
            let rate = p.chars_seen.saturating_sub(self.start_chars) as f64
                / p.elapsed
                    .saturating_sub(self.start_elapsed)
                    .as_secs_f64()
                    .max(1e-9);
            bar.set_position(p.chars_seen as u64);
            bar.set_message(format!(
                "epoch {:.2}  {:.0}k chars/s  loss {:.3}{}",
                p.chars_seen as f64 / epoch_chars,
                rate / 1e3,
                self.last_train,
                if self.best_val.is_finite() {
                    format!("  best val {:.3}", self.best_val)
                } else {
                    String::new()
                }
            ));
        }
        if let Some(every) = self.checkpoint_every
            && self.last_checkpoint.elapsed() >= every
        {
            self.save(trainer, &self.output.clone(), p)?;
            self.last_checkpoint = Instant::now();
        }
        if let Some(every) = self.sample_every
            && p.chars_seen >= self.next_sample
        {
            self.next_sample = p.chars_seen + every;
            let model = trainer.model();
            let mut sampler = Sampler::new(model, self.config.seed ^ p.chars_seen as u64);
            let mut text = Vec::new();
            write_sample(
                &mut text,
                model,
                &mut sampler,
                &[self.first_id],
                PERIODIC_SAMPLE_LEN,
                Pick::MODEL,
            )?;
            let text = String::from_utf8_lossy(&text).into_owned();
            self.out.line(format_args!(
                "--- sample after {} characters ---\n{text}\n---",
                p.chars_seen
            ))?;
        }
        // A signal asks to stop after this step (the session then saves).
        Ok(self
            .interrupts
            .as_ref()
            .is_none_or(|i| i.received().is_none()))
    }
}

/// Ctrl-C (SIGINT) and SIGTERM during training: the first sets a flag that
/// stops the run after the current step, with a checkpoint; a second one,
/// of either kind, exits at once (signal-hook's conditional shutdown). Files
/// are written atomically, so even that leaves no half-written model.
struct Interrupts {
    int: Arc<AtomicBool>,
    term: Arc<AtomicBool>,
}

impl Interrupts {
    fn install() -> Result<Interrupts> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let any = Arc::new(AtomicBool::new(false));
        let int = Arc::new(AtomicBool::new(false));
        let term = Arc::new(AtomicBool::new(false));
        let err =
            |e: std::io::Error| Error::Invalid(format!("cannot install signal handlers: {e}"));
        for (signal, code, flag) in [(SIGINT, 130, &int), (SIGTERM, 143, &term)] {
            // Registered first, so it sees `any` as it was before this signal.
            signal_hook::flag::register_conditional_shutdown(signal, code, Arc::clone(&any))
                .map_err(err)?;
            signal_hook::flag::register(signal, Arc::clone(&any)).map_err(err)?;
            signal_hook::flag::register(signal, Arc::clone(flag)).map_err(err)?;
        }
        Ok(Interrupts { int, term })
    }

    /// The signal received, if any, and its exit status.
    fn received(&self) -> Option<(&'static str, u8)> {
        if self.int.load(Ordering::Relaxed) {
            Some(("SIGINT", 130))
        } else if self.term.load(Ordering::Relaxed) {
            Some(("SIGTERM", 143))
        } else {
            None
        }
    }
}

/// `OUTPUT` with `.best` before its extension: `model.safetensors` → `model.best.safetensors`.
pub fn best_path(output: &Path) -> PathBuf {
    let stem = output
        .file_stem()
        .map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned());
    let name = match output.extension() {
        Some(ext) => format!("{stem}.best.{}", ext.to_string_lossy()),
        None => format!("{stem}.best"),
    };
    output.with_file_name(name)
}

/// One report as a line of the training log.
fn report_line(r: &Report) -> String {
    let epoch = if r.epoch.fract() == 0.0 {
        format!("{:4}", r.epoch)
    } else {
        format!("{:7.2}", r.epoch)
    };
    let bits = |nats: f64| nats / std::f64::consts::LN_2;
    let val = match r.val {
        Some(v) => format!(
            "  val {:.3} nats/char ({:.3} bits/char)",
            v.loss_nats,
            v.bits_per_char()
        ),
        None => String::new(),
    };
    format!(
        "epoch {epoch}  loss {:.3} nats/char ({:.3} bits/char){val}  {:.0} chars/s  {:.1} s",
        r.train_loss,
        bits(r.train_loss),
        r.chars_per_sec,
        r.elapsed_s
    )
}

/// The `--log` CSV file: one row per report, flushed as it is written.
struct CsvLog {
    path: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
}

impl CsvLog {
    /// Creates the log, or appends to it when resuming (header only when
    /// new); also returns the last `elapsed_s` already in it (0 for a new log),
    /// where a resumed run's time continues.
    fn open(path: &Path, append: bool) -> Result<(CsvLog, f64)> {
        let write_err = |source| Error::Write {
            path: path.to_path_buf(),
            source,
        };
        let old = if append {
            std::fs::read_to_string(path).unwrap_or_default()
        } else {
            String::new()
        };
        let existing = !old.is_empty();
        let last_elapsed = crate::plot::parse(&old)
            .ok()
            .and_then(|rows| rows.last().map(|r| r.elapsed_s))
            .unwrap_or(0.0);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(append)
            .write(true)
            .truncate(!append)
            .open(path)
            .map_err(write_err)?;
        let mut log = CsvLog {
            path: path.to_path_buf(),
            file: std::io::BufWriter::new(file),
        };
        if !existing {
            log.line(format_args!("{}", crate::plot::CSV_HEADER))?;
        }
        Ok((log, last_elapsed))
    }

    fn row(&mut self, r: &Report) -> Result<()> {
        let val = r
            .val
            .map_or(String::new(), |v| format!("{:.6}", v.loss_nats));
        self.line(format_args!(
            "{:.3},{:.4},{},{:.6},{val}",
            r.elapsed_s, r.epoch, r.chars_seen, r.train_loss
        ))
    }

    fn line(&mut self, line: std::fmt::Arguments<'_>) -> Result<()> {
        writeln!(self.file, "{line}")
            .and_then(|()| self.file.flush())
            .map_err(|source| Error::Write {
                path: self.path.clone(),
                source,
            })
    }
}
