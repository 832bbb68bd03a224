//! rnn-fast: character-level RNN language models (the article's vanilla
//! tanh RNN, and PyTorch's LSTM and GRU cells), trained fast on a CPU.
//!
//! The model and its exact semantics are those of a small NumPy article
//! (see the README); this crate reproduces it and scales it. Reading order,
//! top-down: [`config`] → [`session`] → [`trainer`] → [`bptt`] →
//! [`cell`] → [`kernels`] (and [`dropout`]'s masks); [`corpus`] and [`vocab`]; [`model`] and [`layout`];
//! [`checkpoint`] and [`files`]; [`sample`], [`eval`] and [`dynamic`]
//! (dynamic evaluation). [`reference`](mod@reference) is the plain `f64` oracle
//! ([`gated_reference`] for the gated cells). The
//! command line (`src/cli/`, in the binary) turns arguments into these
//! values and calls them.

// `unsafe` only in kernels/chunk.rs, for the `gemm` crate, and in the
// register block of kernels/simd.rs, for unchecked loads (both measured there).
#![deny(unsafe_code)]

pub mod bench;
pub mod bptt;
pub mod cell;
pub mod checkpoint;
pub mod config;
pub mod corpus;
pub mod divergence;
pub mod dropout;
pub mod dynamic;
pub mod error;
pub mod eval;
pub mod files;
pub mod gated_reference;
pub mod input;
pub mod kernels;
pub mod layout;
pub mod message;
pub mod model;
pub mod optimizer;
pub mod peak;
pub mod plot;
pub mod reference;
pub mod resources;
pub mod sample;
pub mod schedule;
pub mod session;
pub mod shards;
pub mod trainer;
pub mod vocab;

pub use error::{Error, Result};
