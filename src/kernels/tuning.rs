//! The tuning constants of the matrix products in [`super::simd`], in one
//! place, each with the reason for its value.
//!
//! Two budgets set them. Registers: AVX2 has 16 vector registers (`f32x8`),
//! AVX-512 32 (`f32x16`); a register block must leave room for the vectors
//! of B it loads and the broadcast of A. Latency: an FMA takes about 4
//! cycles and two issue per cycle, so about 8 independent accumulator chains
//! keep the FMA units busy. Caches: an L1 data cache of at least 32 KiB.
//!
//! Where a value depends on the vector width, the constant comes in an
//! `_X8` and an `_X16` form and a `const fn` of the lane count picks one.
//! The `gemm_nn`/`gemm_tn` blocks (`MR`, `KC`, the panels) do not change
//! the result: each entry of C is one FMA chain over k in order, whatever
//! the blocking. The `gemm_nt` blocks do (each dot product is summed in
//! vector lanes and then reduced), and so the pinned model files.

/// Most rows of the `gemm_nn`/`gemm_tn` register block (from two rows of C
/// on; one row is a matrix-vector product, [`NV_ROW`]). With the panel of
/// [`panel_vectors`] vectors: 6 × 4 = 24 accumulators of AVX-512's 32
/// registers (f32x16), plus 4 B vectors and a broadcast; 6 × 2 = 12 of
/// AVX2's 16 (f32x8), plus 2 and 1. Each step of k loads the panel's
/// vectors once for 6 rows (4 loads and 6 broadcasts per 24 FMAs, where 4
/// rows took 8 per 16). Measured at 32 streams, H 256 (the step's product,
/// Ice Lake Xeon): see `perf/README.md`.
pub const MR: usize = 6;

/// The number of streams from which the backward pass reads `Whh` as
/// panels: row blocks of that many rows read a panel's few vectors per row
/// of Whh again and again, which panels keep in L1; two or three pass over
/// each k-block once. One stream reads rows whole, or panels where
/// [`one_row_back_on_panels`].
pub const PANEL_STREAMS: usize = 4;

/// Whether one stream's backward product `g = dpre · W_hh` (one row of C;
/// `W_hh` is `rows × hp`) reads `W_hh` packed in panels, four at a time
/// ([`super::simd::gemm_nn_row_panels`]), rather than as stored: where one
/// row of C takes its panels four at a time (f32x8 SIMD builds:
/// [`super::panels::row_on_panel_groups`]), a row of `hp` values is wider
/// than the one-row block ([`NV_ROW`] vectors, 64 values) and `W_hh` takes
/// at least twice the L1d (read at run time: [`cache_bytes`]). As stored, the product then passes
/// down `W_hh` once per 64 columns, reading 256 bytes of each row (rows
/// 1 KiB apart at H 256), and each new line reached the loads late; four
/// panels are four sequential runs. The packing, once per update, is the
/// cost, which a `W_hh` mostly still in L1 does not repay. The sums are the
/// same either way (each entry one FMA chain over k in order), so this
/// changes no result. AVX2 Zen 1 (family 17h, 32 KiB L1d), one stream,
/// medians of 5-7 interleaved runs: rnn H 80 -1.3% and H 96 -3% (25 and
/// 36 KiB), H 128 +4.3%, H 256 +4.5%, H 512 +8.4%; LSTM H 96 +1.4%, H 128
/// +5.8%; GRU H 96 +2.5%, H 256 +3.3% (`perf/README.md`).
pub fn one_row_back_on_panels(rows: usize, hp: usize) -> bool {
    super::panels::row_on_panel_groups(hp)
        && hp > NV_ROW * super::LANES
        && rows * hp * size_of::<f32>() >= 2 * cache_bytes().0
}

/// Rows of B (steps of k) per cache block of `gemm_nn`/`gemm_tn`: a panel of
/// at most 64 columns (4 vectors of f32x16) × `KC` rows is 32 KiB, within
/// L1, while every row block of A passes over it. Measured at k = 1,280 (B
/// 32, `perf/README.md`): KC 64, 128 and 256 gave 267k, 275k and 275k
/// characters/s; 128 is kept.
pub const KC: usize = 128;

/// Rows of A per L2 block of `gemm_nn`/`gemm_tn` (from two rows of C on):
/// the products pass over every row of A once per panel of B, so an A of
/// more rows than fit the L2 came from L3 or memory once per panel. Cut
/// into blocks of at most this many rows (this many × `KC` values, a
/// quarter of the L2 read at run time, [`cache_bytes`]; a multiple of
/// [`MR`]), each block is read from beyond L2 once and from L2 for the
/// other panels. The logits `Yᵀ = Why · Hᵀ` of one stream at a large
/// vocabulary is such a product (A = `Why`, 3,440 rows at V 3,440, three
/// panels of `Hᵀ` on f32x8). The sums are the same (each entry one FMA
/// chain over k in order), so this changes no result.
pub fn rows_per_l2_block() -> usize {
    let rows = cache_bytes().1 / 4 / (KC * size_of::<f32>());
    (rows / MR * MR).max(MR)
}

/// Column vectors of the one-row block of `gemm_nn`/`gemm_tn` (m = 1,
/// a matrix-vector product such as the recurrence of one stream) on f32x8:
/// 8 independent accumulators hide the FMA latency, and 8 accumulators plus
/// 8 loaded B vectors fit AVX2's 16 registers.
pub const NV_ROW: usize = 8;

/// The same on f32x16: AVX-512's 32 registers hold 16 accumulators, so a
/// row of B of up to 256 values is read in one contiguous pass per step of
/// k (a 1 KiB run the prefetcher follows) instead of two 512-byte halves.
pub const NV_ROW_X16: usize = 16;

/// [`NV_ROW_X16`] from 16 lanes up, [`NV_ROW`] below.
pub const fn row_vectors(lanes: usize) -> usize {
    if lanes >= 16 { NV_ROW_X16 } else { NV_ROW }
}

/// Width in vectors of the column panel of `gemm_nn`/`gemm_tn` on f32x8:
/// [`MR`] × 2 = 12 accumulators of AVX2's 16 registers.
pub const PANEL_VECTORS_X8: usize = 2;

/// Width in vectors of the column panel of `gemm_nn`/`gemm_tn` on f32x16:
/// [`MR`] × 4 = 24 accumulators of AVX-512's 32 registers.
pub const PANEL_VECTORS_X16: usize = 4;

/// The column panel of `gemm_nn`/`gemm_tn` in vectors of `lanes` f32:
/// [`PANEL_VECTORS_X16`] from 16 lanes up, [`PANEL_VECTORS_X8`] below.
pub const fn panel_vectors(lanes: usize) -> usize {
    if lanes >= 16 {
        PANEL_VECTORS_X16
    } else {
        PANEL_VECTORS_X8
    }
}

/// Whole panels per block of [`super::simd::gemm_nn_row_panels`] (one row
/// of C against `W_hhᵀ` in panels, f32x8 builds): 4 × [`PANEL_VECTORS_X8`]
/// = 8 accumulators, as many as the row-major one-row block ([`NV_ROW`]),
/// plus the broadcast of A, 9 of AVX2's 16 registers.
pub const ROW_PANELS: usize = 4;

/// Rows of A per `gemm_nt` block on f32x8: 2 × [`NT_COLS`] = 8 vector
/// accumulators, plus 4 B vectors and one A vector, 13 of AVX2's 16
/// registers.
pub const NT_ROWS_X8: usize = 2;

/// Rows of A per `gemm_nt` block on f32x16: 4 × [`NT_COLS`] = 16 vector
/// accumulators, plus 4 B vectors and one A vector, 21 of AVX-512's 32
/// registers.
pub const NT_ROWS_X16: usize = 4;

/// Rows of B (columns of C) per `gemm_nt` block of [`nt_rows`] rows: each B
/// vector loaded serves all rows of the block, each A vector all 4 columns.
pub const NT_COLS: usize = 4;

/// Vector accumulators of each dot product when m is below [`nt_rows`] (a
/// matrix-vector product: one stream's step reading `W_hh` as stored): its
/// k steps dealt to 4 chains, so that a few rows of B at a time (below)
/// keep the FMAs apart. The block this replaced, 8 rows at once with one
/// chain each, read `W_hh` at 73 GB/s on a Zen 4 against the transposed
/// copy's 87 (`perf/README.md`).
pub const NT_ROW_CHAINS: usize = 4;

/// Rows of B per block of that matrix-vector product on f32x8: each vector
/// of A loaded serves 3 rows, 3 × [`NT_ROW_CHAINS`] = 12 accumulators plus
/// one A vector (B is the FMAs' memory operand), 13 of AVX2's 16
/// registers. Loads bound the loop on AVX2 (a Zen 1 loads two 128-bit
/// halves a cycle): 3 rows take 16 loads per 12 FMAs where 2 took 12 per 8.
/// rnn H 256, one stream, AVX2 Zen (EPYC, family 17h), medians of 5
/// interleaved runs: 39.3k chars/s with 2 rows, 40.8k with 3 (41.3k with
/// the loads unchecked as well, [`super::simd`]); a row's sum does not
/// depend on this (see `dot_rows`), so neither does a model.
pub const NT_ROW_ROWS_X8: usize = 3;

/// The same on f32x16: 4 rows, 16 accumulators, plus 4 B vectors and one A
/// vector, 21 of AVX-512's 32 registers. A vector of A per row loaded
/// beside each vector of B would take half the loads: LSTM H 256, one
/// stream, Zen 4 (one 64-byte load a cycle), 28.4-29.0k chars/s with one row
/// at a time, 29.7-30.4k with 2, 29.9-30.6k with 4.
pub const NT_ROW_ROWS_X16: usize = 4;

/// Rows of A per `gemm_nt` block on vectors of `lanes` f32:
/// [`NT_ROWS_X16`] from 16 lanes up, [`NT_ROWS_X8`] below.
pub const fn nt_rows(lanes: usize) -> usize {
    if lanes >= 16 { NT_ROWS_X16 } else { NT_ROWS_X8 }
}

/// Whether the weight gradient `C (m×n) += Aᵀ · B` over a chunk's rows runs
/// on the `wide` kernel: while C takes at most a quarter of this core's L2
/// (read at run time: [`cache_bytes`]). The
/// `wide` kernel's k-blocks each pass over all of C, which is cheap while C
/// stays in L2; past it the crate, which packs both operands and blocks the
/// rows of C, is ahead. Measured in `bench` at 32 streams on an Ice Lake
/// Xeon (1.25 MiB L2; see `perf/README.md`): dWhy at V 3,440 (C 3.4 MiB)
/// 1.29 s on the crate against 1.5-1.7 s, dWhh at H 512 (1 MiB) 0.87 s
/// against 0.99 s; dWhh at H 256 (256 KiB) level, dWhy at V 65 (80 KiB)
/// 0.23 s on `wide` against 0.28 s.
pub fn tn_on_wide(m: usize, n: usize) -> bool {
    m * n * size_of::<f32>() <= cache_bytes().1 / 4
}

/// Whether the logits `Y = H · Whyᵀ` of a chunk of `rows` rows (`v`
/// characters, `hp` terms each) of `streams` streams run on the `wide`
/// kernel against a transposed copy of `Why` instead of on the `gemm`
/// crate: one stream, on an FMA build of the SIMD kernels, Hp at most 512.
/// At one stream's shape (40 × 65) the crate spends a whole pass of its
/// 64-row microkernel on the 65th character; the `wide` kernel computes
/// the Vp columns (the padding's zeros) in vectors. Measured on a Zen 4,
/// per chunk: H 64 3.75 µs + 0.90 µs of transpose against the crate's
/// 5.42; H 256 14.7 + 3.0 against 20.0; in `bench`, one stream, medians of
/// 5 interleaved runs, H 64 +1.5%, H 256 +0.5%; at 4 streams level, at 32
/// 4% slower (`perf/README.md`).
///
/// Where it holds, both give the same bits: the crate sums each entry in
/// one FMA chain over k when k ≤ 512 (its k-block is never shorter), as
/// `wide`'s `gemm_nn` does. The crate's own paths for small products (a
/// dot-product kernel where `rows · v` ≤ 256, matrix-vector products for
/// one row or column) sum otherwise, so those stay on the crate.
pub fn logits_on_wide(streams: usize, rows: usize, v: usize, hp: usize) -> bool {
    cfg!(all(target_feature = "fma", not(feature = "scalar-kernels")))
        && streams == 1
        && hp <= 512
        && rows >= 2
        && v >= 2
        && rows * v > 256
}

/// Whether one stream's `wide` logits ([`logits_on_wide`]; `rows` rows, `v`
/// characters, `hp` terms) run transposed, `Yᵀ = Why · Hᵀ` against `Why` as
/// stored ([`super::logits`]): where the copy of `Whyᵀ` the other
/// orientation makes (V·Hp values) is more than twice the copies of `Hᵀ`
/// and `Yᵀ` this one makes (Tp·(Hp + V), T rounded up to whole vectors),
/// since each of this one's values is also zeroed or read once more.
/// Measured on a Zen 4, one stream, `bench` medians of 4 interleaved runs,
/// transposed against not: Japanese (V 3,440) H 128 +6.2%, H 256 +13.7%,
/// H 512 +15.5%, but H 64 -5.3% (Why fits in L2; here 220 K values
/// against 2 · 280 K); Tiny Shakespeare (V 65) H 64 to 512 level.
pub fn logits_transposed(rows: usize, v: usize, hp: usize) -> bool {
    v * hp > 2 * rows.next_multiple_of(super::LANES) * (hp + v)
}

/// The shortest padded row of `W_hh` (Hp values) that one stream's step
/// reads as stored, a dot product with each row (`gemm_nt`), instead of
/// the transposed copy in panels that more streams read. Reading `W_hh`
/// itself saves the transpose made after every update and half the
/// footprint (forward and backward read one copy); each dot product then
/// ends in a sum across the lanes, which shorter rows cannot amortise.
/// Measured on a Zen 4, one stream, medians of 4 interleaved runs: rnn H 32
/// -6%, H 64 -6%, H 96 +1%, H 128 +4%, H 256 +5%; LSTM H 64 -1%, H 128 +7%
/// (`perf/README.md`).
pub const STORED_ROW_MIN: usize = 128;

/// Whether the one-row product `c (1×n) += a · B (k×n)` of an AVX-512 build
/// runs on f32x8 instead of f32x16: on a CPU that [`halves_wide_loads`],
/// while B takes at most twice the L1d (read at run time:
/// [`cache_bytes`]). Such a product is a matrix-vector product bound by the
/// load port: each step of k broadcasts one value of `a` and loads the
/// vectors of a row of B, one FMA each. On Zen 4 that is 5 loads at one a
/// cycle per 4 FMAs of f32x16 and 9 at two a cycle per 8 FMAs of f32x8, so
/// 5 cycles become 4.5. Once B comes from L2 or beyond, its bandwidth bounds
/// the product, not the loads. Measured on a Zen 4 (32 KiB L1d), one
/// stream, medians of 4-5 interleaved runs against f32x16: rnn H 32 +3.9%,
/// H 64 +3.4%, H 128 level, H 256 level; LSTM H 32 +4.2%, H 64 +2.1%, LSTM
/// H 256 (B 1 MiB) -2.4%; GRU H 32 +1.9%, H 64 +1.2% (`perf/README.md`).
/// Each entry of C is the same FMA chain over k on either width, so the
/// choice changes no result.
pub fn one_row_on_x8(k: usize, n: usize) -> bool {
    halves_wide_loads() && k * n * size_of::<f32>() <= 2 * cache_bytes().0
}

/// Whether this CPU issues 512-bit loads at half the rate of 256-bit ones:
/// AMD's Zen 4 (family 19h; its AVX-512 runs on 256-bit units) loads two
/// 256-bit vectors or one 512-bit vector a cycle, where Zen 5 (family 1Ah)
/// and Intel's AVX-512 cores load two 512-bit vectors. Read once (CPUID).
pub fn halves_wide_loads() -> bool {
    static HALVES: std::sync::LazyLock<bool> = std::sync::LazyLock::new(zen4_avx512);
    *HALVES
}

#[cfg(target_arch = "x86_64")]
fn zen4_avx512() -> bool {
    let cpuid = raw_cpuid::CpuId::new();
    let amd = cpuid
        .get_vendor_info()
        .is_some_and(|v| v.as_str() == "AuthenticAMD");
    let family_19h = cpuid
        .get_feature_info()
        .is_some_and(|f| f.family_id() == 0x19);
    let avx512 = cpuid
        .get_extended_feature_info()
        .is_some_and(|f| f.has_avx512f());
    amd && family_19h && avx512
}

#[cfg(not(target_arch = "x86_64"))]
fn zen4_avx512() -> bool {
    false
}

/// The row stride (in values) at which the `gemm` crate's products read a
/// matrix of `cols`-value rows that the engine lays out for them: `cols`,
/// or `cols` + 16 where rows of `cols` values are a multiple of 1 KiB
/// apart. At such a stride the crate's reads down a column fall into 4 (or
/// fewer) of the L1's 64 sets of 64-byte lines (the geometry of every
/// x86-64 L1d) and evict each other; one more line per row spreads them
/// over all 64. The crate's blocking does not depend on the strides, so
/// neither does any result. Measured on a Zen 4 (`perf/README.md`),
/// GFLOP/s at stride `cols` against `cols` + 16:
///
/// - the logits' `Why`, B of `C (m×n) = A · Bᵀ` at n = 65: m 40, 256
///   columns: 43.5 against 66.8; 512: 27.4 against 68.0; m 160, 256
///   columns: 72.8 against 85.3; m 1,280: 90.1 against 92.1; 64, 128 and
///   192 columns level;
/// - the gated cells' gate gradients, A of `dW_hh = Aᵀ · H_prev` over a
///   chunk of 1,280 rows: LSTM H 128 (512 columns) 107 against 111, H 256
///   (1,024) 92-100 against 97-106, H 512 98 against 99; GRU (768 and
///   1,536 columns) level.
pub fn row_stride(cols: usize) -> usize {
    if (cols * size_of::<f32>()).is_multiple_of(1024) {
        cols + 16
    } else {
        cols
    }
}

/// L1d and L2 data-cache sizes of this CPU in bytes, as the `gemm` crate
/// reads them at run time (CPUID or the OS): a core's share, so where two
/// hardware threads share a core's caches, half of them.
pub fn cache_bytes() -> (usize, usize) {
    let info = &gemm_common::cache::CACHE_INFO;
    (info[0].cache_bytes, info[1].cache_bytes)
}

/// Side of the square tiles of `transpose`: a 16×16 tile of f32 is 16 cache
/// lines read and 16 written, 2 KiB, well inside any L1.
pub const TRANSPOSE_TILE: usize = 16;
