//! AVERAGE_POOL_2D and MAX_POOL_2D over maps of any width. The window is
//! clipped to the input as in [`super::int8`]; the pooled value `v`
//! (rounded average or maximum of the input values) is then moved to the
//! output's quantization: `acc = v + input_offset` goes through the clean
//! check and the output stage. With the identity stage (multiplier 2^30,
//! shift 1, offset = the input zero point) this equals the int8 kernels,
//! which assume equal input and output quantization.

use super::int8::{average, Pool2dParams};
use crate::view::{emit, Clean, Codes, CodesMut, Outlier};
use crate::view::{OutputStage, TapRange};

/// How a pooled input value becomes an output code.
#[derive(Clone, Copy, Debug)]
pub struct PoolRescale<'a> {
    /// Minus the input zero point.
    pub input_offset: i32,
    /// From the input scale to the output's codes (per tensor).
    pub output: OutputStage<'a>,
}

fn pool(
    p: &Pool2dParams,
    r: &PoolRescale,
    x: Codes,
    mut y: CodesMut,
    clean: Option<Clean>,
    is_average: bool,
) -> Result<(), Outlier> {
    let g = &p.geometry;
    let c = g.input[2];
    let [kh, kw] = g.kernel;
    // The lowest value the input format holds starts a maximum.
    let lowest = if x.bits >= 8 { -128 } else { 0 };
    for oy in y.rect.y..y.rect.y + y.rect.h {
        let ry = TapRange::new(oy, g.stride[0], g.pad[0], g.dilation[0], kh, g.input[0]);
        for ox in y.rect.x..y.rect.x + y.rect.w {
            let rx = TapRange::new(ox, g.stride[1], g.pad[1], g.dilation[1], kw, g.input[1]);
            let count = ((ry.hi - ry.lo) * (rx.hi - rx.lo)) as i32;
            let out_at = y.rect.offset(oy, ox, c);
            for k in 0..c {
                let mut v: i32 = if is_average { 0 } else { lowest };
                for ky in ry.lo..ry.hi {
                    for kx in rx.lo..rx.hi {
                        let e = x.value(x.rect.offset(ry.at(ky), rx.at(kx), c) + k);
                        v = if is_average { v.wrapping_add(e) } else { v.max(e) };
                    }
                }
                if is_average {
                    v = average(v, count);
                }
                emit(
                    &mut y,
                    out_at + k,
                    v.wrapping_add(r.input_offset),
                    k,
                    &r.output,
                    clean.as_ref(),
                )?;
            }
        }
    }
    Ok(())
}

/// Average pooling of the output pixels of `y.rect` from `x` (which holds at
/// least `p.geometry.input_rect(&y.rect)`); `p.min`/`p.max` are not used (the
/// output stage clamps).
pub fn average_pool2d_lowbit(
    p: &Pool2dParams,
    r: &PoolRescale,
    x: Codes,
    y: CodesMut,
    clean: Option<Clean>,
) -> Result<(), Outlier> {
    pool(p, r, x, y, clean, true)
}

/// Max pooling, otherwise as [`average_pool2d_lowbit`].
pub fn max_pool2d_lowbit(
    p: &Pool2dParams,
    r: &PoolRescale,
    x: Codes,
    y: CodesMut,
    clean: Option<Clean>,
) -> Result<(), Outlier> {
    pool(p, r, x, y, clean, false)
}
