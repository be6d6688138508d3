//! Runs an exported quantmcu plan on a Cortex-M4F and reports over
//! semihosting: each inference's outputs (hex), the width each tile stored
//! each mixed map at, and its SysTick count.
//!
//! The plan, test inputs, expected outputs and sizes come from the directory
//! `quantmcu export MODEL [--plan PLAN] --firmware DIR` writes; build with
//! `QUANTMCU_FIRMWARE_DIR=DIR cargo build --release` (see README.md).
//!
//! Output lines (parsed by `quantmcu mcu-run`):
//!
//! ```text
//! quantmcu-firmware arena=A scratch=S inputs=N input_len=I output_len=O stats=T
//! calibration instructions=K ticks=C
//! parse ticks=C
//! inference I ticks=C match=0|1 out=HEX widths=HEX
//! stack_peak=B
//! op I ticks=T                         (feature `op-ticks` only: one profiled run of input 0)
//! kernel name=NAME macs=M ticks=C portable_ticks=P equal=0|1   (feature `kernel-bench` only)
//! end ok|mismatch|error
//! ```
#![no_std]
#![no_main]

use core::fmt::Write;
use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use cortex_m_rt::{entry, exception, ExceptionFrame};
use cortex_m_semihosting::{debug, hio};
use quantmcu_rt::interpreter::run_with_stats;
use quantmcu_rt::plan::Plan;
use static_cell::ConstStaticCell;

#[cfg(feature = "kernel-bench")]
mod bench;
#[cfg(feature = "op-ticks")]
mod op_ticks;

/// Sizes of the exported plan: `ARENA_BYTES`, `SCRATCH_WORDS`, `N_INPUTS`,
/// `INPUT_LEN`, `OUTPUT_LEN`, `STATS_LEN`.
#[allow(dead_code)]
mod consts {
    include!(concat!(env!("QUANTMCU_EXPORT_DIR"), "/consts.rs"));
}
use consts::*;

/// Bytes with the alignment of a word (the plan is read in place as words).
#[repr(C, align(4))]
struct Aligned<T: ?Sized>(T);

static PLAN: &Aligned<[u8]> = &Aligned(*include_bytes!(concat!(env!("QUANTMCU_EXPORT_DIR"), "/plan.qmcu")));
static INPUTS: &[u8] = include_bytes!(concat!(env!("QUANTMCU_EXPORT_DIR"), "/inputs.bin"));
static EXPECTED: &[u8] = include_bytes!(concat!(env!("QUANTMCU_EXPORT_DIR"), "/expected.bin"));
const _: () = assert!(INPUTS.len() == N_INPUTS * INPUT_LEN && EXPECTED.len() == N_INPUTS * OUTPUT_LEN);

/// The plan's arena (its peak SRAM) and the kernels' scratch, in `.bss`.
static ARENA: ConstStaticCell<[i8; ARENA_BYTES]> = ConstStaticCell::new([0; ARENA_BYTES]);
static SCRATCH: ConstStaticCell<[i32; SCRATCH_WORDS]> = ConstStaticCell::new([0; SCRATCH_WORDS]);

/// SysTick reload: the full 24 bits; the exception counts the wraps.
const RELOAD: u32 = 0x00ff_ffff;
static WRAPS: AtomicU32 = AtomicU32::new(0);

#[exception]
fn SysTick() {
    WRAPS.fetch_add(1, Ordering::Relaxed);
}

/// SysTick ticks since it was started (processor clock).
fn now() -> u64 {
    loop {
        let w = WRAPS.load(Ordering::SeqCst);
        let v = SYST::get_current();
        if WRAPS.load(Ordering::SeqCst) == w {
            return u64::from(w) * (u64::from(RELOAD) + 1) + u64::from(RELOAD - v);
        }
    }
}

/// Executes exactly `2 * n` instructions (`n >= 1`): the known loop that
/// calibrates ticks against instructions.
#[inline(never)]
fn spin(n: u32) {
    // SAFETY: a register-only countdown loop.
    unsafe {
        core::arch::asm!(
            "1:",
            "subs {0}, {0}, #1",
            "bne 1b",
            inout(reg) n => _,
            options(nomem, nostack),
        );
    }
}

/// A line buffer over the host's stdout (one semihosting call per flush).
struct Out {
    host: hio::HostStream,
    buf: [u8; 256],
    len: usize,
}

impl Out {
    fn flush(&mut self) {
        let _ = self.host.write_all(&self.buf[..self.len]);
        self.len = 0;
    }
    fn hex(&mut self, bytes: impl IntoIterator<Item = u8>) {
        for b in bytes {
            let _ = write!(self, "{b:02x}");
        }
    }
}

impl Write for Out {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for &b in s.as_bytes() {
            if self.len == self.buf.len() {
                self.flush();
            }
            self.buf[self.len] = b;
            self.len += 1;
            if b == b'\n' {
                self.flush();
            }
        }
        Ok(())
    }
}

/// Finishes: reports `status` on the last line and exits QEMU with it.
fn finish(out: &mut Out, status: &str) -> ! {
    let _ = writeln!(out, "end {status}");
    out.flush();
    debug::exit(if status == "ok" {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::wfi();
    }
}

/// Deepest stack use so far: the painted words (`paint-stack`) overwritten
/// below the initial stack pointer.
fn stack_peak() -> usize {
    extern "C" {
        static _stack_start: u32;
        static _stack_end: u32;
    }
    // SAFETY: reads words of the stack region the runtime painted at reset;
    // everything below the current stack pointer is unused.
    unsafe {
        let top = core::ptr::addr_of!(_stack_start) as usize;
        let mut p: *const u32 = core::ptr::addr_of!(_stack_end);
        while (p as usize) < top && core::ptr::read_volatile(p) == cortex_m_rt::STACK_PAINT_VALUE {
            p = p.add(1);
        }
        top - p as usize
    }
}

#[entry]
fn main() -> ! {
    let mut out = Out {
        host: hio::hstdout().unwrap_or_else(|_| loop {
            cortex_m::asm::wfi();
        }),
        buf: [0; 256],
        len: 0,
    };
    let mut core = cortex_m::Peripherals::take().expect("first take");
    core.SYST.set_clock_source(SystClkSource::Core);
    core.SYST.set_reload(RELOAD);
    core.SYST.clear_current();
    core.SYST.enable_interrupt();
    core.SYST.enable_counter();

    let _ = writeln!(
        out,
        "quantmcu-firmware arena={ARENA_BYTES} scratch={SCRATCH_WORDS} inputs={N_INPUTS} \
         input_len={INPUT_LEN} output_len={OUTPUT_LEN} stats={STATS_LEN}"
    );
    const SPIN: u32 = 1_000_000;
    let (t0, t1) = (now(), now());
    spin(SPIN);
    let t2 = now();
    let _ = writeln!(
        out,
        "calibration instructions={} ticks={}",
        2 * SPIN,
        (t2 - t1) - (t1 - t0)
    );

    let t0 = now();
    let plan = Plan::parse(&PLAN.0);
    let t1 = now();
    let plan = match plan {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(out, "parse error={e}");
            finish(&mut out, "error");
        }
    };
    let _ = writeln!(out, "parse ticks={}", t1 - t0);

    let arena = ARENA.take();
    let scratch = SCRATCH.take();
    let inputs: &[i8] = bytemuck::cast_slice(INPUTS);
    let mut all_match = true;
    for i in 0..N_INPUTS {
        let mut output = [0i8; OUTPUT_LEN];
        let mut stats = [0u8; STATS_LEN];
        let input = &inputs[i * INPUT_LEN..(i + 1) * INPUT_LEN];
        let t0 = now();
        let result = run_with_stats(&plan, arena, scratch, input, &mut output, &mut stats);
        let t1 = now();
        if let Err(e) = result {
            let _ = writeln!(out, "inference {i} error={e}");
            finish(&mut out, "error");
        }
        let matches = bytemuck::cast_slice::<i8, u8>(&output) == &EXPECTED[i * OUTPUT_LEN..(i + 1) * OUTPUT_LEN];
        all_match &= matches;
        let _ = write!(out, "inference {i} ticks={} match={} out=", t1 - t0, u8::from(matches));
        out.hex(output.iter().map(|&v| v as u8));
        let _ = write!(out, " widths=");
        out.hex(stats);
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "stack_peak={}", stack_peak());
    #[cfg(feature = "op-ticks")]
    {
        let mut ticks = op_ticks::OpTicks::new(now);
        let (mut output, mut stats) = ([0i8; OUTPUT_LEN], [0u8; STATS_LEN]);
        let input = &inputs[..INPUT_LEN];
        let profiled =
            quantmcu_rt::interpreter::run_observed(&plan, arena, scratch, input, &mut output, &mut stats, &mut ticks);
        if profiled.is_ok() {
            ticks.print(&mut out, plan.n_ops());
        }
    }
    #[cfg(feature = "kernel-bench")]
    bench::run(&mut out, now);
    finish(&mut out, if all_match { "ok" } else { "mismatch" })
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    cortex_m_semihosting::hprintln!("hardfault pc={:#010x}", frame.pc());
    cortex_m_semihosting::hprintln!("end error");
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    cortex_m_semihosting::hprintln!("panic: {}", info);
    cortex_m_semihosting::hprintln!("end error");
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}
