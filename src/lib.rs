//! rnn-fast: character-level vanilla (tanh) RNN language models, trained
//! fast on a CPU.
//!
//! The model and its exact semantics are those of a small NumPy article
//! (see the README); this crate reproduces it and scales it. Reading order,
//! top-down: [`cli`] → [`config`] → [`trainer`] → [`bptt`] → [`kernels`];
//! [`corpus`] and [`vocab`]; [`model`] and [`layout`]; [`model_file`];
//! [`sample`] and [`eval`]. [`reference`] is the plain `f64` oracle.

pub mod bench;
pub mod bptt;
pub mod cli;
pub mod config;
pub mod corpus;
pub mod error;
pub mod eval;
pub mod input;
pub mod kernels;
pub mod layout;
pub mod model;
pub mod model_file;
pub mod optimizer;
pub mod peak;
pub mod plot;
pub mod reference;
pub mod sample;
pub mod session;
pub mod shards;
pub mod train_command;
pub mod trainer;
pub mod vocab;

pub use error::{Error, Result};
