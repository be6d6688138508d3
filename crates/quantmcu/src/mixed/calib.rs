//! Calibration statistics: the int8 values each feature map of the patch
//! stage takes over all calibration images and all tiles (halos included,
//! so a pixel counts once per tile that computes it), per channel and per
//! tile, collected by running a plan through the runtime: the int8 patch
//! plan, or a mixed plan whose lowered maps change what later maps see.

use quantmcu_rt::geometry::Rect;
use quantmcu_rt::interpreter::Observer;
use rayon::prelude::*;

use super::MixedPrecision;
use crate::ir::TensorId;
use crate::patch::exec::RunStats;
use crate::patch::PlanRunner;
use crate::tensor::TensorData;
use crate::Result;

/// Histograms of one map's int8 values, over the tiles that stored it at 8
/// bits: `counts[c][v + 128]` per channel, and `tiles[k][v + 128]` (all
/// channels) per (image, tile) in image-major order.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    pub tensor: TensorId,
    pub counts: Vec<[u64; 256]>,
    pub tiles: Vec<[u32; 256]>,
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

    /// The histogram of the tiles whose values all lie in `[lo, hi]`.
    pub fn clean_tiles(&self, lo: i32, hi: i32) -> [u64; 256] {
        let mut t = [0u64; 256];
        for tile in &self.tiles {
            let clean = tile
                .iter()
                .enumerate()
                .all(|(v, &n)| n == 0 || (lo..=hi).contains(&(v as i32 - 128)));
            if clean {
                for (a, &b) in t.iter_mut().zip(tile) {
                    *a += u64::from(b);
                }
            }
        }
        t
    }
}

/// Collects one run's histograms (maps stored at 8 bits only).
struct Collect<'h> {
    hists: &'h mut [Histogram],
    tiles: usize,
}

impl Observer for Collect<'_> {
    fn map_written(&mut self, tile: usize, map: usize, bits: u32, data: &[i8], rect: Rect, channels: usize) {
        let Some(h) = self.hists.get_mut(map) else { return };
        if bits != 8 || channels != h.counts.len() {
            return;
        }
        if h.tiles.len() < self.tiles {
            h.tiles.resize(self.tiles, [0; 256]);
        }
        let per_tile = &mut h.tiles[tile];
        for px in data[..rect.area() * channels].chunks_exact(channels) {
            for (counts, &x) in h.counts.iter_mut().zip(px) {
                let bin = (i32::from(x) + 128) as usize;
                counts[bin] += 1;
                per_tile[bin] += 1;
            }
        }
    }
}

/// Runs `runner` (compiled with `plan`, whose maps it numbers) on `inputs`
/// (one input tensor list per image) in parallel and collects every map's
/// histograms; `progress` is called once per image.
pub fn calibrate(
    runner: &PlanRunner,
    plan: &MixedPrecision,
    channels: &[usize],
    inputs: &[Vec<TensorData>],
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<Histogram>> {
    let runs = calibrate_runs(runner, plan, channels, inputs, &|_, _| {
        progress();
        Ok(Some(()))
    })?;
    Ok(runs.expect("every image runs").0)
}

/// [`calibrate`] that also hands each image's run to `each` (with the
/// image's index) and returns what it made of them, in image order (the
/// measured search scores a plan's outputs from the same runs that
/// re-calibrate it). When `each` returns `None` the remaining images are
/// not run and the result is `None`.
pub fn calibrate_runs<T: Send>(
    runner: &PlanRunner,
    plan: &MixedPrecision,
    channels: &[usize],
    inputs: &[Vec<TensorData>],
    each: &(dyn Fn(usize, RunStats) -> Result<Option<T>> + Sync),
) -> Result<Option<(Vec<Histogram>, Vec<T>)>> {
    let tiles = runner.encoded().tiles.max(1);
    let empty: Vec<Histogram> = plan
        .maps
        .iter()
        .zip(channels)
        .map(|(m, &c)| Histogram {
            tensor: m.tensor,
            counts: vec![[0; 256]; c],
            tiles: Vec::new(),
        })
        .collect();
    let per_image: Option<Vec<(Vec<Histogram>, T)>> = inputs
        .par_iter()
        .enumerate()
        .map(|(i, input)| {
            let mut h = empty.clone();
            let run = runner.run_observed(input, &mut Collect { hists: &mut h, tiles })?;
            for m in &mut h {
                m.tiles.resize(tiles, [0; 256]);
            }
            Ok(each(i, run)?.map(|t| (h, t)))
        })
        .collect::<Result<_>>()?;
    let Some(per_image) = per_image else {
        return Ok(None);
    };
    // Merge in image order: sums for the channels, concatenation for tiles.
    let mut out = empty;
    let mut made = Vec::with_capacity(per_image.len());
    for (h, t) in per_image {
        for (o, x) in out.iter_mut().zip(h) {
            for (a, b) in o.counts.iter_mut().zip(&x.counts) {
                for (p, q) in a.iter_mut().zip(b) {
                    *p += q;
                }
            }
            o.tiles.extend(x.tiles);
        }
        made.push(t);
    }
    Ok(Some((out, made)))
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

/// Shannon entropy (bits) of a histogram.
pub fn entropy(counts: &[u64]) -> f64 {
    let n: u64 = counts.iter().sum();
    if n == 0 {
        return 0.0;
    }
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n as f64;
            -p * p.log2()
        })
        .sum()
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

    #[test]
    fn entropy_of_uniform_and_point_masses() {
        assert_eq!(entropy(&[5, 5, 5, 5]), 2.0);
        assert_eq!(entropy(&[0, 9, 0]), 0.0);
        assert_eq!(entropy(&[]), 0.0);
    }
}
