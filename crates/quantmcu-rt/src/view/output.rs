//! Output stages: requantization of int32 accumulators (TFLite's Q31
//! multiplier, shift, output zero point and clamp), as given and with its
//! per-channel constants resolved, and the store of one checked, requantized
//! accumulator into a map of any width.

use super::clean::{Clean, Outlier};
use super::codes::CodesMut;
use crate::dsp::{qadd, smmlar};

/// Requantization of int32 accumulators to int8: per output channel (or one
/// entry for all channels) a Q31 multiplier and shift, then the output zero
/// point, then the clamp `[min, max]` of the fused activation.
#[derive(Clone, Copy, Debug)]
pub struct OutputStage<'a> {
    pub multiplier: &'a [i32],
    pub shift: &'a [i32],
    pub offset: i32,
    pub min: i32,
    pub max: i32,
}

impl OutputStage<'_> {
    /// The int8 output of accumulator `acc` of channel `c`.
    #[inline]
    pub fn apply(&self, acc: i32, c: usize) -> i8 {
        let c = if self.multiplier.len() == 1 { 0 } else { c };
        let r = crate::fixedpoint::multiply_by_quantized_multiplier(acc, self.multiplier[c], self.shift[c]);
        r.saturating_add(self.offset).clamp(self.min, self.max) as i8
    }
}

/// A requantization in its short form (`crate::view::Requant` says when
/// it applies): Q31 `multiplier` in `[2^30, 2^31)`, right shift `right` in
/// `1..=29`, `round = 2^(right-1) + output_offset * 2^right`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShortRequant {
    pub multiplier: i32,
    pub round: i32,
    pub right: u32,
}

impl ShortRequant {
    /// `(smmulr(qadd(acc, acc), multiplier) + (acc < 0 ? -1 : 0) + round) >>
    /// right`, wrapping: the TFLite rounding (ties away from zero) plus the
    /// output offset, before the clamp. One SMMLAR adds the rounded high word
    /// to the constant and the sign correction; the accumulator's sign
    /// stands in for the high word's (they differ only when the high word is
    /// 0, where the correction cannot change the shifted result).
    #[inline(always)]
    pub fn scaled(&self, acc: i32) -> i32 {
        smmlar(qadd(acc, acc), self.multiplier, self.round.wrapping_add(acc >> 31)) >> self.right
    }
}

/// [`OutputStage::apply`] for one channel with its constants resolved once:
/// the same TFLite double rounding, bit for bit, in fewer instructions.
///
/// Channels with a Q31 multiplier in `[2^30, 2^31)` and a right shift `s` in
/// `1..=29` whose clamp absorbs every `|value| >= 2^(29 - s)` (all ordinary
/// layers) take a short form: SMMULR of the doubled accumulator is the
/// rounding doubling high multiply whenever doubling does not saturate (and
/// when it does, the exact and the short results both lie beyond the clamp),
/// and `(h + (h < 0 ? -1 : 0) + 2^(s-1) + offset 2^s) >> s` is the rounding
/// divide (ties away from zero) plus the output offset (it cannot overflow
/// since `|h| <= 2^30` there and the constant is kept within `2^29`):
/// [`ShortRequant::scaled`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Requant {
    multiplier: i32,
    left: u32,
    right: u32,
    mask: i32,
    half: i32,
    offset: i32,
    min: i32,
    max: i32,
    /// The short form's constant `2^(s-1) + offset 2^s`.
    round: i32,
    /// The short form applies.
    short: bool,
}

impl Requant {
    #[inline(always)]
    pub(crate) fn new(stage: &OutputStage, c: usize) -> Self {
        let c = if stage.multiplier.len() == 1 { 0 } else { c };
        let shift = stage.shift[c];
        let right = (-shift).max(0) as u32;
        let mask = ((1i64 << right) - 1) as i32;
        let multiplier = stage.multiplier[c];
        let round = (i64::from(mask >> 1) + 1) + (i64::from(stage.offset) << right.min(31));
        let short = (1..=29).contains(&right) && multiplier >= 1 << 30 && round.abs() <= 1 << 29 && {
            let edge = 1i32 << (29 - right);
            edge.saturating_add(stage.offset) >= stage.max && (-edge).saturating_add(stage.offset) <= stage.min
        };
        Requant {
            multiplier,
            left: shift.max(0) as u32,
            right,
            mask,
            half: mask >> 1,
            offset: stage.offset,
            min: stage.min,
            max: stage.max,
            round: if short { round as i32 } else { 0 },
            short,
        }
    }

    /// The requantized, clamped value of accumulator `acc`.
    #[inline(always)]
    pub(crate) fn value(&self, acc: i32) -> i32 {
        if self.short {
            self.scaled(acc).max(self.min).min(self.max)
        } else {
            self.exact_value(acc)
        }
    }

    /// True when the short form applies and the clamp is the range of
    /// `bits`-bit signed (`signed`) or unsigned values: then [`Requant::value`]
    /// is [`Requant::scaled`] saturated to that range (SSAT/USAT).
    #[inline(always)]
    pub(crate) fn saturates(&self, signed: bool, bits: u32) -> bool {
        let (lo, hi) = match (signed, bits) {
            (true, 1..=31) => (-(1i32 << (bits - 1)), (1i32 << (bits - 1)) - 1),
            (false, 0..=30) => (0, (1i32 << bits) - 1),
            _ => return false,
        };
        self.short && self.min == lo && self.max == hi
    }

    /// The short form before the clamp (only meaningful when it applies).
    #[inline(always)]
    pub(crate) fn scaled(&self, acc: i32) -> i32 {
        self.short_form().scaled(acc)
    }

    /// The short form's constants.
    #[inline(always)]
    fn short_form(&self) -> ShortRequant {
        ShortRequant {
            multiplier: self.multiplier,
            round: self.round,
            right: self.right,
        }
    }

    /// The short form when [`Requant::value`] is it saturated to int8.
    #[inline(always)]
    pub(crate) fn int8(&self) -> Option<ShortRequant> {
        self.saturates(true, 8).then(|| self.short_form())
    }

    /// [`Requant::value`] by TFLite's formula.
    #[inline(always)]
    fn exact_value(&self, acc: i32) -> i32 {
        let x = acc.wrapping_shl(self.left);
        // Saturating rounding doubling high multiply: (x*m + 2^30) >> 31 for
        // both signs (the nudge and the truncating division combine into one
        // floor shift); only MIN * MIN saturates.
        let high = if x == i32::MIN && self.multiplier == i32::MIN {
            i32::MAX
        } else {
            ((i64::from(x) * i64::from(self.multiplier) + (1 << 30)) >> 31) as i32
        };
        // Rounding divide by 2^right, ties away from zero.
        let threshold = self.half + (high >> 31 & 1);
        let r = (high >> self.right) + i32::from(high & self.mask > threshold);
        r.saturating_add(self.offset).max(self.min).min(self.max)
    }
}

/// Checks accumulator `acc` of channel `c` against `clean`, then requantizes
/// it with `stage` and stores it as element `i` of `y`.
#[inline]
pub(crate) fn emit(
    y: &mut CodesMut,
    i: usize,
    acc: i32,
    c: usize,
    stage: &OutputStage,
    clean: Option<&Clean>,
) -> Result<(), Outlier> {
    if let Some(k) = clean {
        k.check(acc, c)?;
    }
    y.store(i, i32::from(stage.apply(acc, c)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// TFLite's output stage from `fixedpoint`, the requantization oracle:
    /// clamp to `[min(lo, hi), max(lo, hi)]`.
    fn output_stage(acc: i32, m: i32, shift: i32, offset: i32, lo: i32, hi: i32) -> i32 {
        crate::fixedpoint::multiply_by_quantized_multiplier(acc, m, shift)
            .saturating_add(offset)
            .clamp(lo.min(hi), lo.max(hi))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20000))]

        /// The short form equals `OutputStage::apply` on ordinary layers'
        /// constants, extreme accumulators included.
        #[test]
        fn short_requant_equals_output_stage(
            acc in prop_oneof![any::<i32>(), Just(i32::MIN), Just(i32::MAX), -70000i32..70000, (1i32 << 30) - 4..(1 << 30) + 4, -(1i32 << 30) - 4..-(1 << 30) + 4],
            m in prop_oneof![(1i32 << 30)..i32::MAX, Just(1 << 30), Just(i32::MAX)],
            shift in -29i32..=-1,
            offset in -300i32..300,
            (lo, hi) in prop_oneof![Just((-128i32, 127i32)), Just((0, 15)), Just((0, 3)), (-200i32..200, -200i32..200)],
        ) {
            let (mult, sh) = ([m], [shift]);
            let stage = OutputStage { multiplier: &mult, shift: &sh, offset, min: lo.min(hi), max: lo.max(hi) };
            prop_assert_eq!(Requant::new(&stage, 0).value(acc), output_stage(acc, m, shift, offset, lo, hi));
        }

        /// The resolved output stage equals `OutputStage::apply`.
        #[test]
        fn requant_equals_output_stage(
            acc in prop_oneof![any::<i32>(), Just(i32::MIN), Just(i32::MAX), -70000i32..70000],
            m in prop_oneof![any::<i32>(), Just(i32::MIN), Just(i32::MAX), (1i32 << 30)..i32::MAX],
            shift in -31i32..=30,
            offset in -300i32..300,
            (lo, hi) in (-200i32..200, -200i32..200),
        ) {
            let (mult, sh) = ([m], [shift]);
            let stage = OutputStage { multiplier: &mult, shift: &sh, offset, min: lo.min(hi), max: lo.max(hi) };
            prop_assert_eq!(Requant::new(&stage, 0).value(acc), output_stage(acc, m, shift, offset, lo, hi));
        }
    }

    /// One lane of the AVX2 form's draw: accumulator, multiplier, shift.
    #[cfg(target_arch = "x86_64")]
    fn lane() -> impl Strategy<Value = (i32, i32, i32)> {
        (
            prop_oneof![
                any::<i32>(),
                Just(i32::MIN),
                Just(i32::MAX),
                -70000i32..70000,
                -64i32..64
            ],
            prop_oneof![
                any::<i32>(),
                Just(i32::MIN),
                Just(i32::MAX),
                Just(1 << 30),
                (1i32 << 30)..i32::MAX
            ],
            prop_oneof![-31i32..=31, Just(0), Just(-1), Just(-31), Just(31)],
        )
    }

    #[cfg(target_arch = "x86_64")]
    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20000))]

        /// The AVX2 output stage equals `OutputStage::apply` lane by lane,
        /// per channel and per tensor: any multiplier (`i32::MIN`, so the
        /// high multiply saturates, included), shifts -31..=31 (0 and the
        /// extremes drawn often), small accumulators with multiplier 2^30
        /// (exact halves of both signs), int8 clamps and offsets.
        #[test]
        fn avx2_output_stage_equals_output_stage(
            lanes in prop::array::uniform8(lane()),
            per_tensor in any::<bool>(),
            offset in prop_oneof![-300i32..300, Just(0)],
            (lo, hi) in prop_oneof![Just((-128i32, 127i32)), (-128i32..=127, -128i32..=127)],
        ) {
            use core::arch::x86_64::{__m256i, _mm256_loadu_si256, _mm256_storeu_si256};
            if !std::is_x86_feature_detected!("avx2") {
                return Ok(());
            }
            let (lo, hi) = (lo.min(hi), lo.max(hi));
            let n = if per_tensor { 1 } else { 8 };
            let mult: std::vec::Vec<i32> = lanes.iter().map(|l| l.1).take(n).collect();
            let sh: std::vec::Vec<i32> = lanes.iter().map(|l| l.2).take(n).collect();
            let stage = OutputStage { multiplier: &mult, shift: &sh, offset, min: lo, max: hi };
            let acc = lanes.map(|l| l.0);
            let q = super::super::output_x86::OutputLanes::new(&stage).unwrap();
            let mut got = [0i32; 8];
            // SAFETY: AVX2 was detected just above; `acc` and `got` hold 8
            // lanes each (unaligned loads and stores).
            #[allow(unsafe_code)]
            unsafe {
                let r = q.apply(&q.lanes([0, 1, 2, 3, 4, 5, 6, 7]), _mm256_loadu_si256(acc.as_ptr().cast()));
                _mm256_storeu_si256(got.as_mut_ptr().cast::<__m256i>(), r);
            }
            for j in 0..8 {
                let k = if per_tensor { 0 } else { j };
                prop_assert_eq!(got[j], i32::from(stage.apply(acc[j], k)), "lane {}", j);
            }
        }
    }

    #[test]
    fn ordinary_layers_take_the_short_requantization() {
        let (mult, sh) = ([1_300_000_000], [-9]);
        let stage = OutputStage {
            multiplier: &mult,
            shift: &sh,
            offset: -128,
            min: -128,
            max: 127,
        };
        assert!(Requant::new(&stage, 0).short);
        let sh = [0];
        let stage = OutputStage { shift: &sh, ..stage };
        assert!(!Requant::new(&stage, 0).short);
    }
}
