//! Row-major matrix views for the matrix products: a slice with its shape.
//!
//! [`MatRef`] (read-only, `Copy`) and [`MatMut`] (mutable) describe
//! `rows × cols` values of an `f32` slice, row `i` starting at `i · stride`
//! (the leading dimension of BLAS; `stride ≥ cols`, so rows may be padded).
//! The constructors check once that the view fits in its slice; the kernels
//! then index the slice with the stride as before, and take m, n and k from
//! the views instead of loose arguments.
//!
//! A view keeps only the span it covers: [`MatRef::as_slice`] is the slice
//! from the start of row 0 to the end of the last row (empty with no rows).

use std::ops::Range;

/// Length of the span a `rows × cols` view with `stride` covers; panics
/// where it does not fit in `len` values or `cols > stride`.
fn span(len: usize, rows: usize, cols: usize, stride: usize) -> usize {
    assert!(
        cols <= stride,
        "matrix view {rows}×{cols}: the stride {stride} is less than the columns"
    );
    if rows == 0 {
        return 0;
    }
    let end = (rows - 1)
        .checked_mul(stride)
        .and_then(|s| s.checked_add(cols))
        .unwrap_or(usize::MAX);
    assert!(
        end <= len,
        "matrix view {rows}×{cols} with stride {stride} needs {end} values, the slice has {len}"
    );
    end
}

/// Start of the sub-view `rows × cols` of a view of `shape` (rows, cols) with
/// `stride`; panics where the ranges leave the view.
fn sub_start(
    shape: (usize, usize),
    stride: usize,
    rows: &Range<usize>,
    cols: &Range<usize>,
) -> usize {
    assert!(
        rows.start <= rows.end
            && rows.end <= shape.0
            && cols.start <= cols.end
            && cols.end <= shape.1,
        "sub-view rows {rows:?} cols {cols:?} of a {}×{} matrix",
        shape.0,
        shape.1
    );
    rows.start * stride + cols.start
}

/// A read-only `rows × cols` row-major view of an `f32` slice, rows `stride`
/// values apart.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    stride: usize,
}

impl<'a> MatRef<'a> {
    /// The `rows × cols` matrix whose row `i` is `data[i·stride..][..cols]`.
    /// Panics unless `cols ≤ stride` and `(rows-1)·stride + cols ≤ data.len()`
    /// (any slice holds a view of no rows).
    pub fn new(data: &'a [f32], rows: usize, cols: usize, stride: usize) -> MatRef<'a> {
        let end = span(data.len(), rows, cols, stride);
        MatRef {
            data: &data[..end],
            rows,
            cols,
            stride,
        }
    }

    /// The `rows × cols` matrix stored densely (`stride == cols`).
    pub fn dense(data: &'a [f32], rows: usize, cols: usize) -> MatRef<'a> {
        MatRef::new(data, rows, cols, cols)
    }

    /// Number of rows.
    #[inline(always)]
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    #[inline(always)]
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Distance between the starts of two rows, in values.
    #[inline(always)]
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Row `i` (`cols` values).
    #[inline(always)]
    pub fn row(&self, i: usize) -> &'a [f32] {
        let data: &'a [f32] = self.data;
        &data[i * self.stride..][..self.cols]
    }

    /// The span the view covers: row 0's start to the last row's end,
    /// padding between rows included.
    #[inline(always)]
    pub fn as_slice(&self) -> &'a [f32] {
        self.data
    }

    /// The rows `rows` and columns `cols` of this view, with the same stride.
    pub fn sub(&self, rows: Range<usize>, cols: Range<usize>) -> MatRef<'a> {
        let start = sub_start((self.rows, self.cols), self.stride, &rows, &cols);
        let data: &'a [f32] = if rows.is_empty() {
            &self.data[..0]
        } else {
            &self.data[start..]
        };
        MatRef::new(data, rows.len(), cols.len(), self.stride)
    }
}

/// A mutable `rows × cols` row-major view of an `f32` slice, rows `stride`
/// values apart. The values between rows (`cols..stride`) are not part of it.
#[derive(Debug)]
pub struct MatMut<'a> {
    data: &'a mut [f32],
    rows: usize,
    cols: usize,
    stride: usize,
}

impl<'a> MatMut<'a> {
    /// The `rows × cols` matrix whose row `i` is `data[i·stride..][..cols]`.
    /// Panics unless `cols ≤ stride` and `(rows-1)·stride + cols ≤ data.len()`
    /// (any slice holds a view of no rows).
    pub fn new(data: &'a mut [f32], rows: usize, cols: usize, stride: usize) -> MatMut<'a> {
        let end = span(data.len(), rows, cols, stride);
        MatMut {
            data: &mut data[..end],
            rows,
            cols,
            stride,
        }
    }

    /// The `rows × cols` matrix stored densely (`stride == cols`).
    pub fn dense(data: &'a mut [f32], rows: usize, cols: usize) -> MatMut<'a> {
        MatMut::new(data, rows, cols, cols)
    }

    /// Number of rows.
    #[inline(always)]
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    #[inline(always)]
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Distance between the starts of two rows, in values.
    #[inline(always)]
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Row `i` (`cols` values).
    #[inline(always)]
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.stride..][..self.cols]
    }

    /// Row `i` (`cols` values), mutable.
    #[inline(always)]
    pub fn row_mut(&mut self, i: usize) -> &mut [f32] {
        &mut self.data[i * self.stride..][..self.cols]
    }

    /// The span the view covers: row 0's start to the last row's end,
    /// padding between rows included.
    #[inline(always)]
    pub fn as_slice(&self) -> &[f32] {
        &*self.data
    }

    /// [`MatMut::as_slice`], mutable. Writing between rows (columns
    /// `cols..stride`) is outside the matrix: the kernels do not.
    #[inline(always)]
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut *self.data
    }

    /// The columns `cols` of every row, with the same stride.
    pub fn columns(&mut self, cols: Range<usize>) -> MatMut<'_> {
        let start = sub_start((self.rows, self.cols), self.stride, &(0..self.rows), &cols);
        let data: &mut [f32] = if self.rows == 0 {
            &mut self.data[..0]
        } else {
            &mut self.data[start..]
        };
        MatMut::new(data, self.rows, cols.len(), self.stride)
    }

    /// A read-only view of the same matrix.
    #[inline(always)]
    pub fn view(&self) -> MatRef<'_> {
        MatRef {
            data: &*self.data,
            rows: self.rows,
            cols: self.cols,
            stride: self.stride,
        }
    }
}

/// `(m, n)` of `B (n×m) = Aᵀ` with `A (m×n)`. Panics, naming the shapes,
/// where B is not the shape of Aᵀ.
#[inline(always)]
pub(crate) fn transpose_dims(a: MatRef, b: &MatMut) -> (usize, usize) {
    assert!(
        b.rows == a.cols && b.cols == a.rows,
        "transpose: B {}×{} is not the shape of Aᵀ, A {}×{}",
        b.rows,
        b.cols,
        a.rows,
        a.cols
    );
    (a.rows, a.cols)
}

/// `(m, n, k)` of `C (m×n) += op(A) (m×k) · op(B) (k×n)`, where `op(A)` is A
/// or, with `ta`, Aᵀ (and so for B with `tb`). Panics, naming the kernel and
/// the shapes, where they disagree.
#[inline(always)]
pub(crate) fn gemm_dims(
    name: &str,
    (a, ta): (MatRef, bool),
    (b, tb): (MatRef, bool),
    c: &MatMut,
) -> (usize, usize, usize) {
    let (m, k) = if ta {
        (a.cols, a.rows)
    } else {
        (a.rows, a.cols)
    };
    let (kb, n) = if tb {
        (b.cols, b.rows)
    } else {
        (b.rows, b.cols)
    };
    if m != c.rows || n != c.cols || k != kb {
        let t = |t: bool| if t { "ᵀ" } else { "" };
        panic!(
            "{name}: shapes disagree: C {}×{} += A{} · B{} with A stored {}×{}, B stored {}×{} (op(A) must be {}×k, op(B) k×{})",
            c.rows,
            c.cols,
            t(ta),
            t(tb),
            a.rows,
            a.cols,
            b.rows,
            b.cols,
            c.rows,
            c.cols
        );
    }
    (m, n, k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_keeps_its_span_and_rows() {
        let data: Vec<f32> = (0..20).map(|i| i as f32).collect();
        let a = MatRef::new(&data[1..], 3, 4, 6);
        assert_eq!((a.rows(), a.cols(), a.stride()), (3, 4, 6));
        assert_eq!(a.as_slice().len(), 2 * 6 + 4);
        assert_eq!(a.row(2), &[13.0, 14.0, 15.0, 16.0]);
        let s = a.sub(1..3, 2..4);
        assert_eq!((s.rows(), s.cols(), s.stride()), (2, 2, 6));
        assert_eq!(s.row(0), &[9.0, 10.0]);
        assert_eq!(s.row(1), &[15.0, 16.0]);
        assert_eq!(a.sub(3..3, 0..4).rows(), 0);
        assert_eq!(MatRef::dense(&data, 4, 5).row(3), &data[15..20]);
    }

    #[test]
    fn a_mutable_view_writes_its_rows_only() {
        let mut data = vec![0.0f32; 11];
        let mut c = MatMut::new(&mut data, 3, 3, 4);
        c.row_mut(1).fill(1.0);
        c.row_mut(2)[2] = 2.0;
        assert_eq!(c.view().row(1), &[1.0; 3]);
        assert_eq!(c.as_slice().len(), 11);
        let mut right = c.columns(1..3);
        assert_eq!((right.rows(), right.cols(), right.stride()), (3, 2, 4));
        right.row_mut(0)[1] = 3.0;
        assert_eq!(
            data,
            [0.0, 0.0, 3.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 2.0]
        );
    }

    #[test]
    fn an_empty_view_fits_anywhere() {
        let a = MatRef::new(&[], 0, 7, 7);
        assert_eq!(a.as_slice().len(), 0);
        let c = MatMut::new(&mut [], 0, 3, 5);
        assert_eq!(c.rows(), 0);
        assert_eq!(MatRef::new(&[1.0; 4], 2, 0, 2).as_slice().len(), 2);
    }

    #[test]
    #[should_panic(expected = "needs 16 values, the slice has 15")]
    fn a_view_past_the_slice_panics() {
        MatRef::new(&[0.0; 15], 3, 4, 6);
    }

    #[test]
    #[should_panic(expected = "the stride 3 is less than the columns")]
    fn a_stride_below_the_columns_panics() {
        MatMut::new(&mut [0.0; 12], 3, 4, 3);
    }

    #[test]
    #[should_panic(expected = "sub-view")]
    fn a_sub_view_past_the_view_panics() {
        MatRef::new(&[0.0; 12], 3, 4, 4).sub(0..2, 2..5);
    }

    #[test]
    #[should_panic(
        expected = "gemm_tn: shapes disagree: C 2×3 += Aᵀ · B with A stored 4×2, B stored 5×3"
    )]
    fn disagreeing_shapes_panic_with_the_shapes() {
        let (a, b) = ([0.0; 8], [0.0; 15]);
        let mut c = [0.0; 6];
        gemm_dims(
            "gemm_tn",
            (MatRef::dense(&a, 4, 2), true),
            (MatRef::dense(&b, 5, 3), false),
            &MatMut::dense(&mut c, 2, 3),
        );
    }
}
