//! Row-major multi-index iteration shared by the kernels that walk tensors of
//! any rank (broadcasting ADD, MEAN, PAD).

/// A multi-index over `shape`, advanced in row-major order.
pub struct Odometer<'s> {
    shape: &'s [usize],
    pub idx: Vec<usize>,
}

impl<'s> Odometer<'s> {
    /// Starts at the all-zero index of `shape`.
    pub fn new(shape: &'s [usize]) -> Self {
        Odometer {
            shape,
            idx: vec![0; shape.len()],
        }
    }

    /// Moves to the next index; wraps to all zeros after the last one.
    pub fn advance(&mut self) {
        for d in (0..self.shape.len()).rev() {
            self.idx[d] += 1;
            if self.idx[d] < self.shape[d] {
                return;
            }
            self.idx[d] = 0;
        }
    }

    /// Flat offset of the current index for per-axis `strides`.
    pub fn offset(&self, strides: &[usize]) -> usize {
        self.idx.iter().zip(strides).map(|(i, s)| i * s).sum()
    }
}

/// Row-major strides of `shape`.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        s[d] = s[d + 1] * shape[d + 1];
    }
    s
}
