//! SysTick ticks per plan op (feature `op-ticks`): an interpreter observer
//! that reads the clock around every `Run`/`RunInPlace` step of one extra,
//! profiled inference (the timed inferences run without it).
//!
//! Line format: `op I ticks=T` for every op record `I` of the plan (ticks
//! summed over the op's steps, e.g. one per tile).

use core::fmt::Write;

use quantmcu_rt::geometry::Rect;
use quantmcu_rt::interpreter::Observer;
use static_cell::ConstStaticCell;

/// Most op records timed (later ones are not reported).
const MAX_OPS: usize = 512;

static TICKS: ConstStaticCell<[u64; MAX_OPS]> = ConstStaticCell::new([0; MAX_OPS]);

/// Ticks per op index.
pub struct OpTicks {
    now: fn() -> u64,
    start: u64,
    ticks: &'static mut [u64; MAX_OPS],
}

impl OpTicks {
    pub fn new(now: fn() -> u64) -> Self {
        OpTicks {
            now,
            start: 0,
            ticks: TICKS.take(),
        }
    }

    /// Prints the lines of the first `n_ops` ops.
    pub fn print(&self, out: &mut impl Write, n_ops: usize) {
        for (i, t) in self.ticks.iter().take(n_ops).enumerate() {
            let _ = writeln!(out, "op {i} ticks={t}");
        }
    }
}

impl Observer for OpTicks {
    fn map_written(&mut self, _: usize, _: usize, _: u32, _: &[i8], _: Rect, _: usize) {}

    fn op_started(&mut self, _: usize) {
        self.start = (self.now)();
    }

    fn op_finished(&mut self, op: usize) {
        let t = (self.now)() - self.start;
        if let Some(s) = self.ticks.get_mut(op) {
            *s += t;
        }
    }
}
