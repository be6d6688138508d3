//! Calibration statistics: the int8 values each feature map of the patch
//! stage takes over all calibration images and all tiles (halos included,
//! so a pixel counts once per tile that computes it), per channel.

use rayon::prelude::*;

use crate::ir::TensorId;
use crate::patch::stage::hwc;
use crate::patch::TilePlan;
use crate::reference::Interpreter;
use crate::tensor::TensorData;
use crate::Result;

/// Histogram of one map's int8 values: `counts[c][v + 128]` for channel `c`.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    pub tensor: TensorId,
    pub counts: Vec<[u64; 256]>,
}

impl Histogram {
    /// The histogram of all channels together.
    pub fn total(&self) -> [u64; 256] {
        let mut t = [0u64; 256];
        for c in &self.counts {
            for (a, b) in t.iter_mut().zip(c) {
                *a += b;
            }
        }
        t
    }

    fn merge(mut self, other: &Histogram) -> Histogram {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        self
    }
}

/// Collects the histograms of `maps` (tensors of `tp`'s stage) over `inputs`
/// (one input tensor list per image), in parallel; `progress` is called once
/// per image.
pub fn calibrate(
    interp: &Interpreter,
    tp: &TilePlan,
    maps: &[TensorId],
    inputs: &[Vec<TensorData>],
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<Histogram>> {
    let graph = interp.graph();
    let empty: Vec<Histogram> = maps
        .iter()
        .map(|&t| Histogram {
            tensor: t,
            counts: vec![[0; 256]; hwc(graph, t).map_or(1, |s| s[2])],
        })
        .collect();
    inputs
        .par_iter()
        .map(|input| {
            let values = interp.run_all(input)?;
            let mut h = empty.clone();
            for hist in &mut h {
                let t = hist.tensor;
                let v = values[t].as_ref().expect("stage tensors are computed").as_i8();
                let [_, w, c] = hwc(graph, t).expect("stage maps are spatial");
                for tile in &tp.tiles {
                    let r = tile.rect(t);
                    for y in r.y..r.y + r.h {
                        let row = &v[(y * w + r.x) * c..(y * w + r.x + r.w) * c];
                        for px in row.chunks_exact(c) {
                            for (counts, &x) in hist.counts.iter_mut().zip(px) {
                                counts[(i32::from(x) + 128) as usize] += 1;
                            }
                        }
                    }
                }
            }
            progress();
            Ok(h)
        })
        .try_reduce(
            || empty.clone(),
            |a, b| Ok(a.into_iter().zip(&b).map(|(x, y)| x.merge(y)).collect()),
        )
}

/// The clean range `[lo, hi]` (int8 values) of a histogram: the central
/// interval holding all but a fraction `eps` of the values, `eps / 2` cut
/// from each tail (values piled up at a ReLU floor stay inside because the
/// lower tail then holds far more than `eps / 2`). An empty histogram gives
/// `[fallback, fallback]`.
pub fn clean_range(counts: &[u64; 256], eps: f64, fallback: i32) -> (i32, i32) {
    let n: u64 = counts.iter().sum();
    if n == 0 {
        return (fallback, fallback);
    }
    let tail = (eps.clamp(0.0, 1.0) * n as f64 / 2.0).floor() as u64;
    // Lowest value with more than `tail` values at or below it.
    let mut below = 0u64;
    let mut lo = 127;
    for (v, &c) in counts.iter().enumerate() {
        below += c;
        if below > tail {
            lo = v as i32 - 128;
            break;
        }
    }
    let mut above = 0u64;
    let mut hi = -128;
    for (v, &c) in counts.iter().enumerate().rev() {
        above += c;
        if above > tail {
            hi = v as i32 - 128;
            break;
        }
    }
    (lo, hi.max(lo))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_range_cuts_each_tail() {
        let mut h = [0u64; 256];
        h[128] = 9_990; // value 0
        h[128 + 50] = 5; // value 50: 5 of 10,000 = 5e-4
        h[128 - 40] = 5;
        assert_eq!(clean_range(&h, 1e-4, 0), (-40, 50));
        assert_eq!(clean_range(&h, 9e-4, 0), (-40, 50));
        // 1e-3 of 10,000 values may fall outside: both tails of 5 go.
        assert_eq!(clean_range(&h, 1e-3, 0), (0, 0));
        assert_eq!(clean_range(&[0; 256], 1e-3, 7), (7, 7));
    }
}
