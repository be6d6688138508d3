//! Checks a mixed plan read from a file against its model and patch plan,
//! field by field, before anything is derived from it.

use super::{is_pad_output, mixed_maps, per_channel_ok, MapSpec, MixedPrecision};
use crate::ir::Graph;
use crate::patch::stage::hwc;
use crate::patch::Tiling;

/// A low-bit scale may lie within this factor of the map's int8 scale either
/// way (the formats [`super::Format::low`] derives lie within 1/127 to 255
/// times it); the bound keeps every derived requantization finite.
pub const SCALE_FACTOR_LIMIT: f64 = 256.0;

type Check = Result<(), String>;

fn int8_range(v: i32) -> bool {
    (-128..=127).contains(&v)
}

impl MixedPrecision {
    /// Checks that the plan fits patch plan `tp` of `graph`: its maps are
    /// exactly [`mixed_maps`] of its scope, in order and by name; an 8-bit map
    /// keeps the model's int8 format with the full clean range; a low map has
    /// 1..=7 bits, one scale (or one per channel where per-channel scales are
    /// legal) within [`SCALE_FACTOR_LIMIT`] of the int8 scale, a zero point
    /// among its codes, one int8 clean and code range per scale (a clean range
    /// with `lo > hi` is empty: every tile is an outlier) and no mean error or
    /// one finite value per channel; a PAD output repeats its input's spec.
    /// Errors are sentences naming the JSON path of the field at fault below
    /// `at`.
    pub fn check(&self, graph: &Graph, tp: &Tiling, root: &str) -> Check {
        let at = root;
        if !(0.0..1.0).contains(&self.outlier_quantile) {
            return Err(format!(
                "field `{at}.outlier_quantile` is {}, expected a fraction in [0, 1)",
                self.outlier_quantile
            ));
        }
        let expected = mixed_maps(graph, tp, self.scope, self.layer_in_place);
        if self.maps.len() != expected.len() {
            return Err(format!(
                "field `{at}.maps` lists {} feature maps, expected {} (the maps of the plan's stage under scope '{}'{})",
                self.maps.len(),
                expected.len(),
                self.scope.name(),
                if self.layer_in_place {
                    " with the depthwise layers in place"
                } else {
                    ""
                }
            ));
        }
        for (k, (spec, &t)) in self.maps.iter().zip(&expected).enumerate() {
            let at = format!("{at}.maps[{k}]");
            if spec.tensor != t {
                return Err(format!(
                    "field `{at}.tensor` is {}, expected {t} ('{}'), feature map #{k} of the plan",
                    spec.tensor, graph.tensors[t].name
                ));
            }
            let name = &graph.tensors[t].name;
            if &spec.name != name {
                return Err(format!(
                    "field `{at}.name` is '{}', expected '{name}' (the name of tensor {t})",
                    spec.name
                ));
            }
            if is_pad_output(graph, t) {
                let from = graph
                    .ops
                    .iter()
                    .find(|op| op.output() == t)
                    .map(|op| graph.activation_inputs(op)[0]);
                let j = from.and_then(|f| self.map_of(f)).filter(|&j| j < k);
                let same = |a: &MapSpec| {
                    a.format == spec.format
                        && a.clean == spec.clean
                        && a.code == spec.code
                        && a.mean_error == spec.mean_error
                };
                if !j.is_some_and(|j| same(&self.maps[j])) {
                    return Err(format!(
                        "field `{at}` is the output of a PAD, which copies codes: expected the format, clean and \
                         code ranges and mean error of the PAD's input map{}",
                        j.map_or(String::new(), |j| format!(" (`{root}.maps[{j}]`)"))
                    ));
                }
                continue;
            }
            check_spec(graph, spec, &at)?;
        }
        Ok(())
    }
}

/// Checks the format and ranges of one map spec (not a PAD output).
fn check_spec(graph: &Graph, spec: &MapSpec, at: &str) -> Check {
    let t = spec.tensor;
    let (s8, z8) = graph.scale_zp(t);
    let f = &spec.format;
    let channels = hwc(graph, t).map_or(1, |s| s[2]);
    if f.bits == 8 {
        let full = [(-128, 127)];
        if f.scale != [f64::from(s8)] || f.zero_point != z8 || spec.clean != full || spec.code != full {
            return Err(format!(
                "field `{at}` is an 8-bit map: expected the model's int8 format (scale [{}], zero point {z8}) and \
                 clean and code ranges [[-128, 127]]",
                f64::from(s8)
            ));
        }
        if !spec.mean_error.is_empty() {
            return Err(format!("field `{at}.mean_error` must be empty for an 8-bit map"));
        }
        return Ok(());
    }
    if !(1..8).contains(&f.bits) {
        return Err(format!("field `{at}.format.bits` is {}, expected 1..=8", f.bits));
    }
    let per_channel = per_channel_ok(graph, t);
    if f.scale.len() != 1 && !(per_channel && f.scale.len() == channels) {
        return Err(format!(
            "field `{at}.format.scale` has {} entries, expected 1{}",
            f.scale.len(),
            if per_channel {
                format!(" or {channels} (one per channel)")
            } else {
                " (per-channel scales need a map written and read only by convolutions)".into()
            }
        ));
    }
    let (lo, hi) = (f64::from(s8) / SCALE_FACTOR_LIMIT, f64::from(s8) * SCALE_FACTOR_LIMIT);
    if let Some((c, s)) = f.scale.iter().enumerate().find(|(_, s)| !(lo..=hi).contains(*s)) {
        return Err(format!(
            "field `{at}.format.scale[{c}]` is {s}, expected a scale within [{lo}, {hi}] ({SCALE_FACTOR_LIMIT} times \
             the map's int8 scale {s8} either way)"
        ));
    }
    let (cmin, cmax) = f.code_range();
    if !(cmin..=cmax).contains(&f.zero_point) {
        return Err(format!(
            "field `{at}.format.zero_point` is {}, expected a code of {cmin}..={cmax} for {} bits",
            f.zero_point, f.bits
        ));
    }
    for (field, ranges) in [("clean", &spec.clean), ("code", &spec.code)] {
        if ranges.len() != f.scale.len() {
            return Err(format!(
                "field `{at}.{field}` has {} ranges, expected {} (one per scale of the format)",
                ranges.len(),
                f.scale.len()
            ));
        }
        if let Some((c, r)) = ranges
            .iter()
            .enumerate()
            .find(|(_, r)| !int8_range(r.0) || !int8_range(r.1))
        {
            return Err(format!(
                "field `{at}.{field}[{c}]` is [{}, {}], expected int8 bounds in -128..=127",
                r.0, r.1
            ));
        }
    }
    if let Some((c, r)) = spec.code.iter().enumerate().find(|(_, r)| r.0 > r.1) {
        return Err(format!(
            "field `{at}.code[{c}]` is [{}, {}], expected lo <= hi",
            r.0, r.1
        ));
    }
    let n = spec.mean_error.len();
    if n != 0 && n != channels {
        return Err(format!(
            "field `{at}.mean_error` has {n} entries, expected none or {channels} (one per channel)"
        ));
    }
    if let Some((c, e)) = spec.mean_error.iter().enumerate().find(|(_, e)| !e.is_finite()) {
        return Err(format!("field `{at}.mean_error[{c}]` is {e}, expected a finite number"));
    }
    Ok(())
}
