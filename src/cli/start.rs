//! Where a training run starts: fresh, from a model's weights
//! (`--init-from`), or from a checkpoint (`--resume`), with the checks that
//! a resume repeats only the settings the checkpoint holds.

use std::path::Path;

use rnn_fast::checkpoint::{self, Checkpoint};
use rnn_fast::config::TrainConfig;
use rnn_fast::corpus::{BUILTIN_NAME, Corpus};
use rnn_fast::message::{counted, shell_word};
use rnn_fast::model::Model;
use rnn_fast::{Error, Result};

use super::train_args::TrainArgs;

/// Where a run starts.
pub enum Start {
    Fresh,
    /// `--init-from`: the weights of a model, a fresh optimizer.
    InitFrom(Model),
    /// `--resume`: a checkpoint's weights, state and settings.
    Resume(Model, Box<Checkpoint>),
}

impl Start {
    /// Loads the model or checkpoint the arguments name; a resume must be a
    /// checkpoint and may repeat its settings but not change them.
    pub fn load(args: &TrainArgs) -> Result<Start> {
        match (&args.resume, &args.init_from) {
            (Some(path), _) => {
                let loaded = checkpoint::load(path)?;
                let Some(ck) = loaded.checkpoint else {
                    return Err(Error::Checkpoint(format!(
                        "{} holds a model but no training state: fine-tune it with --init-from instead",
                        path.display()
                    )));
                };
                check_same_settings(args, &ck)?;
                Ok(Start::Resume(loaded.model, Box::new(ck)))
            }
            (None, Some(path)) => Ok(Start::InitFrom(checkpoint::load(path)?.model)),
            (None, None) => Ok(Start::Fresh),
        }
    }

    /// The corpus `text` encoded for this start: with its own vocabulary
    /// when fresh, with the model's otherwise.
    pub fn encode(&self, text: &str) -> Result<Corpus> {
        match self {
            Start::Fresh => Corpus::from_text(text),
            Start::InitFrom(m) | Start::Resume(m, _) => Corpus::with_vocab(text, &m.vocab),
        }
    }

    /// The checkpoint resumed, if any.
    pub fn checkpoint(&self) -> Option<&Checkpoint> {
        match self {
            Start::Resume(_, ck) => Some(ck),
            _ => None,
        }
    }
}

/// A resumed run's settings: the checkpoint's, with the epochs and threads
/// the command gives; the corpus must be the one it trained on.
pub fn resumed_settings(
    args: &TrainArgs,
    ck: &Checkpoint,
    corpus_name: &str,
    corpus_hash: u64,
) -> Result<TrainConfig> {
    if ck.run.corpus_hash != corpus_hash {
        return Err(not_its_corpus(args, corpus_name, ck, None));
    }
    Ok(TrainConfig {
        epochs: args.epochs.unwrap_or(ck.settings.epochs),
        threads: args.threads.unwrap_or_else(rnn_fast::config::cores),
        ..ck.settings.clone()
    })
}

/// The error of resuming `ck` on `corpus_name`, a text it was not trained
/// on (`why`: what gave it away, where more than its hash did, such as a
/// character its vocabulary lacks). Where no corpus was given (the text
/// was the built-in one), or one was given for a checkpoint of the
/// built-in text, the error gives the command that resumes it.
pub fn not_its_corpus(
    args: &TrainArgs,
    corpus_name: &str,
    ck: &Checkpoint,
    why: Option<&Error>,
) -> Error {
    let trained_on = &ck.run.corpus;
    let built_in = trained_on == BUILTIN_NAME;
    let command = |corpus: Option<&Path>| {
        let resumed = args.resume.as_deref().expect("a checkpoint is resumed");
        resume_command(corpus, resumed, &args.output, None)
    };
    Error::Checkpoint(match (&args.corpus, built_in) {
        (None, false) => format!(
            "this checkpoint was trained on {trained_on}, not the built-in text: resume with: {}",
            command(Some(Path::new(trained_on)))
        ),
        (Some(_), true) => format!(
            "{corpus_name} is not the text this checkpoint was trained on (the built-in text): resume with: {}",
            command(None)
        ),
        _ => {
            let why = why.map_or(":".to_string(), |e| format!(": {e};"));
            // Named as then: the file has changed since, or the name is
            // another file's here.
            let trained = if trained_on == corpus_name && !built_in {
                format!(
                    "{trained_on} when it was trained: changed since, or another file of that name"
                )
            } else {
                trained_on.clone()
            };
            format!(
                "{corpus_name} is not the text this checkpoint was trained on ({trained}){why} resume with the same corpus"
            )
        }
    })
}

/// The command that resumes `checkpoint` on `corpus` (the built-in text
/// where none) into `output`, continuing the log `log` where the run keeps
/// one, each path quoted for a shell.
pub fn resume_command(
    corpus: Option<&Path>,
    checkpoint: &Path,
    output: &Path,
    log: Option<&Path>,
) -> String {
    let corpus = corpus.map_or(String::new(), |c| format!(" {}", shell_word(c)));
    let (ck, o) = (shell_word(checkpoint), shell_word(output));
    let log = log.map_or(String::new(), |l| format!(" --log {}", shell_word(l)));
    format!("rnn-fast train{corpus} --resume {ck} -o {o}{log}")
}

/// Refuses a resumed run with nothing left to train: `epochs` (the run's,
/// `given` on the command line or the checkpoint's) counts the whole run,
/// so at or below the epochs done the run would train nothing and save the
/// checkpoint with fewer epochs planned.
pub fn check_epochs_left(epochs: usize, given: Option<usize>, ck: &Checkpoint) -> Result<()> {
    let done = ck.state.epoch;
    if epochs > done {
        return Ok(());
    }
    let trained = counted(done, "epoch");
    Err(Error::Usage(match given {
        Some(e) => format!(
            "--epochs {e} leaves nothing to train: the checkpoint has trained {trained}, and --epochs counts the whole run; give more than {done}"
        ),
        None => format!(
            "the checkpoint has trained all its {trained}: nothing is left to train; give --epochs above {done} to train on"
        ),
    }))
}

/// Refuses a setting given with `--resume` that differs from the
/// checkpoint's, naming both values; equal ones are accepted, so the
/// command that started a run can be re-run with `--resume` appended.
fn check_same_settings(args: &TrainArgs, ck: &Checkpoint) -> Result<()> {
    fn same<T: ToString>(option: &'static str, given: Option<T>, stored: String) -> Result<()> {
        match given.map(|g| g.to_string()) {
            Some(given) if given != stored => Err(Error::ResumeMismatch {
                option,
                stored,
                given,
            }),
            _ => Ok(()),
        }
    }
    let s = &ck.settings;
    let norm = s.clip_norm.map_or("none".to_string(), |n| n.to_string());
    same("--cell", args.cell, s.cell.to_string())?;
    same("--layers", args.layers, s.layers.to_string())?;
    same("--hidden", args.hidden, s.hidden.to_string())?;
    same("--seq-len", args.seq_len, s.seq_len.to_string())?;
    same("--lr", args.lr, s.lr.to_string())?;
    same("--clip", args.clip, s.clip.to_string())?;
    same("--clip-norm", args.clip_norm, norm)?;
    same("--lr-decay", args.lr_decay, s.lr_decay.to_string())?;
    same(
        "--lr-decay-every",
        args.lr_decay_every,
        s.lr_decay_every.to_string(),
    )?;
    same("--lr-schedule", args.lr_schedule, s.lr_schedule.to_string())?;
    same("--warmup", args.warmup, s.warmup.to_string())?;
    same("--patience", args.patience, s.patience.to_string())?;
    same("--optimizer", args.optimizer, s.optimizer.to_string())?;
    same("--grad", args.grad, s.grad.to_string())?;
    same("--shards", args.shards, s.shards.to_string())?;
    same("--streams", args.streams, s.streams.to_string())?;
    same("--parallel", args.parallel, s.parallel.to_string())?;
    same("--seed", args.seed, s.seed.to_string())?;
    same("--val-frac", args.val_frac, ck.run.val_frac.to_string())?;
    same("--dropout", args.dropout, s.dropout.to_string())?;
    same("--init", args.init, s.init.to_string())?;
    same(
        "--weight-decay",
        args.weight_decay,
        s.weight_decay.to_string(),
    )
}

/// `--init-from`: the model's H, unless `--hidden` asks for another (or
/// `--cell` or `--layers` for another cell or depth).
pub fn init_hidden(args: &TrainArgs, model: &Model, path: &Path) -> Result<usize> {
    if let Some(cell) = args.cell.filter(|&c| c != model.layout.cell) {
        return Err(Error::Usage(format!(
            "--cell {cell} differs from the cell {} of {}",
            model.layout.cell,
            path.display()
        )));
    }
    if let Some(n) = args.layers.filter(|&n| n != model.layout.layers) {
        return Err(Error::Usage(format!(
            "--layers {n} differs from the {} of {}",
            counted(model.layout.layers, "layer"),
            path.display()
        )));
    }
    match args.hidden {
        Some(h) if h != model.hidden() => Err(Error::Usage(format!(
            "--hidden {h} differs from the H {} of {}",
            model.hidden(),
            path.display()
        ))),
        _ => Ok(model.hidden()),
    }
}
