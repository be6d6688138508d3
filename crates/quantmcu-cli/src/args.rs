//! Option groups several verbs share, the enums of their values and the
//! parsers that check numeric flags.

use clap::{ArgAction, Args};

/// The patch schedule's search space and SRAM budget (`plan`, `compile`).
#[derive(Args, Clone)]
pub struct ScheduleArgs {
    /// SRAM budget: bytes, or with a unit (e.g. 64KiB, 128KB, 1MiB).
    #[arg(long, value_parser = parse_bytes)]
    pub sram: usize,
    /// How the int8 input is held during the patch stage.
    #[arg(long, value_enum, default_value_t = Input::Resident)]
    pub input: Input,
    /// Only consider the patch stage that ends with this op index.
    #[arg(long)]
    pub split: Option<usize>,
    /// Only consider this grid, rows x columns (e.g. 3x3).
    #[arg(long, value_parser = parse_grid)]
    pub grid: Option<[usize; 2]>,
}

/// How the low-bit formats of a mixed plan are derived (`plan --calib`,
/// `compile`): the same flags and defaults for both; they need `--calib`.
#[derive(Args, Clone)]
pub struct Levers {
    /// How a tile picks widths: each map on its own, or the sticky branch
    /// rule (from a tile's first outlier map on, 8 bits).
    #[arg(long, value_enum, default_value_t = Vdpc::Map, requires = "calib")]
    pub vdpc: Vdpc,
    /// Turn off per-channel clean ranges where a map feeds only (depthwise)
    /// convolutions (on by default).
    #[arg(long = "no-per-channel", action = ArgAction::SetFalse, requires = "calib")]
    pub per_channel: bool,
    /// Turn off MSE-optimal clipping: codes then cover the whole clean range
    /// (clipping is on by default).
    #[arg(long = "no-clip", action = ArgAction::SetFalse, requires = "calib")]
    pub clip: bool,
    /// Turn off folding each low-bit map's mean quantization error into its
    /// readers' biases (on by default).
    #[arg(long = "no-bias-correction", action = ArgAction::SetFalse, requires = "calib")]
    pub bias_correction: bool,
    /// How a clean map gets its codes: the producer writes int8 and a
    /// clean tile's map is recoded (no op runs twice), or the producer
    /// writes codes directly and an outlier reruns it at 8 bits.
    #[arg(long, value_enum, default_value_t = NumericsArg::Int8First, requires = "calib")]
    pub numerics: NumericsArg,
}

/// Values of `--numerics`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NumericsArg {
    Int8First,
    Direct,
}

impl From<NumericsArg> for quantmcu::mixed::Numerics {
    fn from(n: NumericsArg) -> Self {
        match n {
            NumericsArg::Int8First => Self::Int8First,
            NumericsArg::Direct => Self::Direct,
        }
    }
}

impl Default for Levers {
    fn default() -> Self {
        Levers {
            vdpc: Vdpc::Map,
            per_channel: true,
            clip: true,
            bias_correction: true,
            numerics: NumericsArg::Int8First,
        }
    }
}

/// Input accounting of a patch schedule.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Input {
    /// The whole int8 input sits in SRAM.
    Resident,
    /// Each tile reads its input window from the sensor or flash.
    Streamed,
}

impl From<Input> for quantmcu::patch::arena::InputMode {
    fn from(i: Input) -> Self {
        match i {
            Input::Resident => Self::Resident,
            Input::Streamed => Self::Streamed,
        }
    }
}

/// Where mixed precision applies.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum MixedScope {
    /// The patch stage only.
    Patch,
    /// The patch stage and the layer-by-layer stage.
    All,
}

impl From<MixedScope> for quantmcu::mixed::Scope {
    fn from(v: MixedScope) -> Self {
        match v {
            MixedScope::Patch => Self::Patch,
            MixedScope::All => Self::All,
        }
    }
}

/// How the bit-width search scores its moves.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Score {
    /// The paper's S = (1 - lambda) Phi - lambda Omega, while S > 0.
    Paper,
    /// Each move's plan run on the calibration images: the most BitOPs
    /// saved per unit of output KL divergence, above --min-agreement.
    Measured,
}

impl From<Score> for quantmcu::mixed::search::Score {
    fn from(v: Score) -> Self {
        match v {
            Score::Paper => Self::Paper,
            Score::Measured => Self::Measured,
        }
    }
}

/// VDPC rule of a mixed plan.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Vdpc {
    /// Each (tile, feature map) decides on its own.
    Map,
    /// From a tile's first outlier map on, 8 bits.
    Branch,
}

impl From<Vdpc> for quantmcu::mixed::Rule {
    fn from(v: Vdpc) -> Self {
        match v {
            Vdpc::Map => Self::Map,
            Vdpc::Branch => Self::Branch,
        }
    }
}

/// Parses `65536`, `64KiB`, `64KB`, `64k`, `1MiB`, `1MB` (K = 1024, KB = 1000).
pub fn parse_bytes(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: usize = num
        .parse()
        .map_err(|_| format!("'{s}' is not a byte count (e.g. 65536, 64KiB, 128KB)"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1024,
        "kb" => 1000,
        "m" | "mib" => 1 << 20,
        "mb" => 1_000_000,
        u => return Err(format!("unknown unit '{u}' in '{s}' (use B, KiB, KB, MiB, MB)")),
    };
    n.checked_mul(mult).ok_or_else(|| format!("'{s}' is too large"))
}

/// Parses `PxQ` (rows x columns), each in 1..=8.
pub fn parse_grid(s: &str) -> Result<[usize; 2], String> {
    let bad = || format!("'{s}' is not a grid like 3x3 (rows x columns, each 1..=8)");
    let (p, q) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    let (p, q): (usize, usize) = (
        p.trim().parse().map_err(|_| bad())?,
        q.trim().parse().map_err(|_| bad())?,
    );
    if !(1..=8).contains(&p) || !(1..=8).contains(&q) {
        return Err(bad());
    }
    Ok([p, q])
}

/// Parses a count of at least 1 (images, inputs, seconds).
pub fn parse_count(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("'{s}' is not a whole number of at least 1")),
    }
}

/// Parses a finite number above 0 (a duration in seconds, a BitOPs target).
pub fn parse_positive(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(format!("'{s}' is not a finite number above 0")),
    }
}

/// Parses `--max-flash-ratio`: 0 (no limit) or a finite number >= 1.
pub fn parse_flash_ratio(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x == 0.0 || (x.is_finite() && x >= 1.0) => Ok(x),
        _ => Err(format!(
            "'{s}' is neither 0 (no limit) nor a finite ratio of at least 1"
        )),
    }
}

/// Parses a number in [0, 1] (a VDQS lambda).
pub fn parse_unit(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err(format!("'{s}' is not a number in [0, 1]")),
    }
}

/// Parses a number in [0, 1) (a fraction of values left outside a range).
pub fn parse_quantile(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if (0.0..1.0).contains(&x) => Ok(x),
        _ => Err(format!("'{s}' is not a number in [0, 1)")),
    }
}

/// Parses an agreement floor: a fraction in [0, 1] (`0.98`) or a percentage
/// in [0, 100] with its sign (`98%`, `97.5 %`).
pub fn parse_agreement(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let (num, scale) = match t.strip_suffix('%') {
        Some(p) => (p.trim(), 100.0),
        None => (t, 1.0),
    };
    match num.parse::<f64>() {
        Ok(x) if (0.0..=scale).contains(&x) => Ok(x / scale),
        Ok(x) if scale == 1.0 && (1.0..=100.0).contains(&x) => Err(format!(
            "'{s}' is above 1: write a fraction (0.98) or a percentage with its sign (98%)"
        )),
        _ => Err(format!(
            "'{s}' is not an agreement: a fraction in [0, 1] (0.98) or a percentage in [0, 100] (98%)"
        )),
    }
}

/// Parses a KL divergence in nats: a finite number >= 0 (0 = no ceiling).
pub fn parse_kl(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(format!(
            "'{s}' is not a KL divergence: a finite number of nats >= 0 (0 = no ceiling)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_flags_reject_what_they_cannot_use() {
        for bad in ["inf", "nan", "0", "-1", "", "soon"] {
            assert!(parse_positive(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_positive("0.5"), Ok(0.5));
        for bad in ["0", "-1", "1.5", "x"] {
            assert!(parse_count(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_count("7"), Ok(7));
        for bad in ["-0.1", "1.01", "nan", "inf"] {
            assert!(parse_unit(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_unit("1"), Ok(1.0));
        assert!(parse_quantile("1").is_err() && parse_quantile("nan").is_err());
        assert_eq!(parse_quantile("0"), Ok(0.0));
        assert_eq!(parse_bytes("64KiB"), Ok(65536));
        assert_eq!(parse_grid("3x2"), Ok([3, 2]));
        assert!(parse_grid("9x9").is_err());
        assert_eq!(parse_agreement("0.98"), Ok(0.98));
        assert_eq!(parse_agreement("98%"), Ok(0.98));
        assert_eq!(parse_agreement(" 97.5 % "), Ok(0.975));
        assert_eq!(parse_agreement("1"), Ok(1.0));
        assert_eq!(parse_agreement("0%"), Ok(0.0));
        for bad in ["98", "1.5", "-0.1", "101%", "nan", "nan%", "%", "", "high"] {
            assert!(parse_agreement(bad).is_err(), "{bad}");
        }
        assert!(parse_agreement("98").unwrap_err().contains("98%"));
        assert_eq!(parse_kl("0.02"), Ok(0.02));
        for bad in ["-0.1", "inf", "nan", "x"] {
            assert!(parse_kl(bad).is_err(), "{bad}");
        }
    }
}
