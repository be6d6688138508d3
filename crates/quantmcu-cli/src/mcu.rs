//! `quantmcu mcu-run`: exports a plan, builds `firmware/` for the Cortex-M4F,
//! runs it under QEMU (mps2-an386, `-icount shift=0`) and checks that the
//! outputs on the target equal the host runtime's byte for byte; reports
//! SysTick ticks and instructions per inference, flash and RAM.
//!
//! Instructions: with `-icount shift=0` QEMU advances its virtual clock by
//! 1 ns per executed instruction, and SysTick on the processor clock (25 MHz
//! on mps2-an386) ticks every 40 ns, i.e. every 40 instructions. The firmware
//! measures a loop of known length (2,000,000 instructions) at every boot and
//! the ratio it reports converts ticks to instructions.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, bail, Context, Result};
use quantmcu::export::FirmwareExport;

use crate::export::{prepare, ExportArgs};

const TARGET: &str = "thumbv7em-none-eabihf";
/// The QEMU command line (before `-kernel ELF`).
const QEMU: [&str; 10] = [
    "-machine",
    "mps2-an386",
    "-cpu",
    "cortex-m4",
    "-nographic",
    "-semihosting-config",
    "enable=on,target=native",
    "-icount",
    "shift=0",
    "-no-reboot",
];

/// The firmware project and the sources it builds from, as compiled into this
/// binary: (path relative to the source tree, contents).
const FIRMWARE_FILES: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/firmware_files.rs"));

/// Where the firmware is written out and built: `firmware/` under the asset
/// cache directory (see `quantmcu::assets::dir`).
struct Paths {
    /// `src`: the embedded sources, laid out as in the source tree.
    src: PathBuf,
    /// `src/firmware`: the firmware project.
    firmware: PathBuf,
    /// Exports, the cargo target dir and the build lock.
    work: PathBuf,
}

impl Paths {
    fn new() -> Result<Self> {
        let work = quantmcu::assets::dir()?.join("firmware");
        let work = std::path::absolute(&work).unwrap_or(work);
        let src = work.join("src");
        Ok(Paths {
            firmware: src.join("firmware"),
            src,
            work,
        })
    }

    /// Writes the embedded firmware sources under `src` (files that already
    /// hold the same bytes are left alone, so cargo's incremental build keeps
    /// working) and deletes files there that this binary does not carry.
    /// Called with the build lock held.
    fn write_sources(&self) -> Result<()> {
        for (rel, bytes) in FIRMWARE_FILES {
            quantmcu::assets::write_if_changed(&self.src.join(rel), bytes)?;
        }
        let mut stale = Vec::new();
        list_files(&self.src, &mut stale).with_context(|| format!("listing {}", self.src.display()))?;
        for path in stale {
            let rel = path.strip_prefix(&self.src).unwrap_or(&path);
            if !FIRMWARE_FILES.iter().any(|(f, _)| Path::new(f) == rel) {
                std::fs::remove_file(&path).with_context(|| format!("removing the stale {}", path.display()))?;
            }
        }
        Ok(())
    }
}

/// Every file under `dir`, recursively.
fn list_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            list_files(&e.path(), out)?;
        } else {
            out.push(e.path());
        }
    }
    Ok(())
}

/// What the firmware printed.
#[derive(Debug, Default)]
struct Report {
    calib_instructions: u64,
    calib_ticks: u64,
    inferences: Vec<Inference>,
    stack_peak: Option<u64>,
    /// `kernel-bench` lines.
    kernels: Vec<KernelLine>,
    /// `op-ticks` lines: op index, ticks.
    ops: Vec<(usize, u64)>,
    end: Option<String>,
}

/// One `kernel-bench` line: the dispatching kernel (their DSP forms where
/// they exist) and the portable one on the same data.
#[derive(Debug)]
struct KernelLine {
    name: String,
    macs: u64,
    ticks: u64,
    portable_ticks: u64,
    /// Both wrote the same bytes on the target.
    equal: bool,
}

#[derive(Debug)]
struct Inference {
    ticks: u64,
    output: Vec<u8>,
    widths: Vec<u8>,
}

/// Section sizes of the firmware ELF.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ElfSizes {
    /// Allocated sections with contents: vectors, code, constants, `.data`
    /// initializers (what `size` reports as text + data).
    pub flash: u64,
    /// Writable allocated sections: `.data`, `.bss`, `.uninit` (data + bss).
    pub ram: u64,
}

/// CMSIS-NN v7 int8 (GCC 12 -O3, Cortex-M4 with DSP) executed instructions
/// per MAC on the kernel benchmark's shapes, measured the same way (on the
/// same emulated core, SysTick ticks x 40).
const CMSIS_NN: [(&str, f64); 6] = [
    ("conv1x1_24x24x32_32", 2.69),
    ("conv1x1_12x12x64_64", 2.08),
    ("conv1x1_6x6x128_128", 1.83),
    ("dw3x3_s1_24x24x32", 8.9),
    ("dw3x3_s2_48x48x16", 9.3),
    ("conv3x3_s2_96x96x3_8", 6.15),
];

/// Options of `quantmcu mcu-run`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub export: ExportArgs,
    /// Seconds QEMU may run before the run fails (at least 1).
    #[arg(long, default_value_t = 300, value_parser = crate::args::parse_count, allow_negative_numbers = true)]
    pub timeout: usize,
    /// Also report single kernels' instructions per MAC (firmware feature
    /// kernel-bench; text only) on six shapes: 1x1 convolutions 24x24x32->32,
    /// 12x12x64->64 and 6x6x128->128, 3x3 depthwise at stride 1 on 24x24x32
    /// and stride 2 on 48x48x16, and VWW's first 3x3 stride-2 convolution
    /// (96x96x3->8), next to CMSIS-NN v7's counts on the same emulated core.
    #[arg(long)]
    pub kernels: bool,
    /// Also report instructions per plan op, from one extra inference with
    /// SysTick read around every op (firmware feature op-ticks; text only).
    #[arg(long)]
    pub per_op: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Run the C example (firmware/c: the C ABI library libquantmcu_c.a, the
    /// `export --c` files, arm-none-eabi-gcc) instead of the Rust firmware.
    #[arg(long, conflicts_with_all = ["kernels", "per_op"])]
    pub c: bool,
}

/// Runs `mcu-run`.
pub fn mcu_run(opts: &Args) -> Result<()> {
    let (json, timeout) = (opts.json, Duration::from_secs(opts.timeout as u64));
    preflight()?;
    let paths = Paths::new()?;
    let prepared = prepare(&opts.export)?;
    let e = &prepared.export;
    let dir = paths.work.join("exports").join(format!("{:016x}", content_hash(e)));
    e.write(&dir)
        .with_context(|| format!("writing the firmware export to {}", dir.display()))?;
    let features: Vec<&str> = [(opts.kernels, "kernel-bench"), (opts.per_op, "op-ticks")]
        .into_iter()
        .filter_map(|(on, f)| on.then_some(f))
        .collect();
    let elf = if opts.c {
        e.write_c(&dir)
            .with_context(|| format!("writing the C export to {}", dir.display()))?;
        build_c(&paths, &dir)?
    } else {
        build(&paths, &dir, &features)?
    };
    let out = run_qemu(&elf, timeout)?;
    let report = parse(&out).with_context(|| format!("firmware output:\n{}", tail(&out, 30)))?;
    let sizes = elf_sizes(&std::fs::read(&elf).with_context(|| format!("reading {}", elf.display()))?)
        .with_context(|| format!("{}: not a 32-bit little-endian ELF", elf.display()))?;
    let check = compare(e, &report).and_then(|()| kernels_agree(&report));
    let per_tick = instructions_per_tick(&report)?;
    let n = report.inferences.len() as u64;
    let mean_ticks = report.inferences.iter().map(|i| i.ticks).sum::<u64>() as f64 / n.max(1) as f64;
    let instructions = (mean_ticks * per_tick as f64).round() as u64;
    if json {
        // Keys in this order (serde_json would sort them).
        let kernels = if opts.kernels {
            format!(",\"kernels\":{}", kernels_json(&report, per_tick))
        } else {
            String::new()
        };
        println!(
            "{{\"bit_exact\":{},\"inferences\":{n},\"systick_per_inference\":{},\
             \"instructions_per_inference\":{instructions},\"flash_bytes\":{},\"ram_bytes\":{}{kernels}}}",
            check.is_ok(),
            mean_ticks.round() as u64,
            sizes.flash,
            sizes.ram
        );
    } else {
        print_table(e, &prepared.schedule, &report, &sizes, per_tick, &elf);
        if opts.per_op {
            print_ops(e, &report, per_tick);
        }
        if opts.kernels {
            print_kernels(&report, per_tick);
        }
    }
    check
}

/// Instructions per SysTick tick from the firmware's calibration loop: a
/// whole number (40 on mps2-an386 with `-icount shift=0`); the loop's
/// measurement may be one tick off.
fn instructions_per_tick(r: &Report) -> Result<u64> {
    let ratio = r.calib_instructions as f64 / r.calib_ticks.max(1) as f64;
    let whole = ratio.round();
    if r.calib_ticks < 1000 || (ratio - whole).abs() > 0.01 * whole {
        bail!(
            "SysTick does not count executed instructions: a {}-instruction loop took {} ticks \
             (QEMU must run with -icount shift=0)",
            r.calib_instructions,
            r.calib_ticks
        );
    }
    Ok(whole as u64)
}

/// How to install QEMU's Arm system emulator.
const INSTALL_QEMU: &str =
    "apt-get install qemu-system-arm (Debian/Ubuntu, as root; QEMU >= 6.0 with machine mps2-an386)";

/// Fails, naming what is missing and the command that installs it, when QEMU,
/// cargo or the Rust target is missing.
fn preflight() -> Result<()> {
    match Command::new("qemu-system-arm").arg("--version").output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => bail!(
            "qemu-system-arm --version failed ({}): {}; install a working one with: {INSTALL_QEMU}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => bail!("qemu-system-arm not found ({e}); install it with: {INSTALL_QEMU}"),
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    if let Err(e) = Command::new(&cargo).arg("--version").output() {
        bail!(
            "{} not found ({e}): the firmware builds with Rust's cargo; install Rust with rustup, then: rustup target add {TARGET}",
            cargo.to_string_lossy()
        );
    }
    // With rustup, check the target of the toolchain the firmware builds with.
    if let Ok(o) = Command::new("rustup").args(["target", "list", "--installed"]).output() {
        if o.status.success() && !String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == TARGET) {
            bail!("the Rust target {TARGET} is not installed; install it with: rustup target add {TARGET}");
        }
    }
    Ok(())
}

/// FNV-1a over what the firmware includes: equal exports share a directory
/// (and a firmware build).
fn content_hash(e: &FirmwareExport) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |len: usize, bytes: &mut dyn Iterator<Item = u8>| {
        for b in (len as u64).to_le_bytes().into_iter().chain(bytes) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(e.plan.len(), &mut e.plan.iter().copied());
    let consts = e.consts_rs();
    eat(consts.len(), &mut consts.bytes());
    for c in &e.cases {
        eat(c.input.len(), &mut c.input.iter().map(|&v| v as u8));
        eat(c.expected.len(), &mut c.expected.iter().map(|&v| v as u8));
        eat(c.widths.len(), &mut c.widths.iter().copied());
    }
    h
}

/// Holds the firmware work directory's `build.lock` while it lives: one firmware build (and
/// copy of its ELF) at a time, across processes.
struct BuildLock(PathBuf);

impl BuildLock {
    fn acquire(path: PathBuf, wait: Duration) -> Result<Self> {
        let start = Instant::now();
        loop {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    use std::io::Write;
                    let _ = writeln!(f, "{}", std::process::id());
                    return Ok(BuildLock(path));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    if lock_is_stale(&path) {
                        let _ = std::fs::remove_file(&path);
                        continue;
                    }
                    if start.elapsed() > wait {
                        bail!(
                            "{} is held by another firmware build for over {} s (delete it if no build runs)",
                            path.display(),
                            wait.as_secs()
                        );
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
            }
        }
    }
}

/// A lock whose process is gone (Linux: no `/proc/PID`), or older than an
/// hour.
fn lock_is_stale(path: &Path) -> bool {
    let pid = std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok());
    if let Some(pid) = pid {
        if Path::new("/proc/self").exists() && !Path::new(&format!("/proc/{pid}")).exists() {
            return true;
        }
    }
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age > Duration::from_secs(3600))
}

impl Drop for BuildLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The cargo running this build (else `cargo` on PATH) and a command for a
/// Cortex-M build with it: the firmware's own build scripts pass the linker
/// script, so flags and targets meant for the host are removed; no stdin.
fn target_cargo() -> (std::ffi::OsString, Command) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(&cargo);
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
    ] {
        cmd.env_remove(var);
    }
    cmd.stdin(Stdio::null());
    (cargo, cmd)
}

/// Builds the firmware for the export in `dir` with the firmware's cargo
/// `features`; returns the ELF (copied into `dir`).
fn build(paths: &Paths, dir: &Path, features: &[&str]) -> Result<PathBuf> {
    std::fs::create_dir_all(&paths.work).with_context(|| format!("creating {}", paths.work.display()))?;
    let _lock = BuildLock::acquire(paths.work.join("build.lock"), Duration::from_secs(1800))?;
    paths.write_sources()?;
    let target_dir = paths.work.join("cargo");
    let (cargo, mut cmd) = target_cargo();
    cmd.args(["build", "--release", "--target", TARGET, "--target-dir"])
        .arg(&target_dir);
    if !features.is_empty() {
        cmd.args(["--features", &features.join(",")]);
    }
    let out = cmd
        .current_dir(&paths.firmware)
        .env("QUANTMCU_FIRMWARE_DIR", dir)
        .output()
        .with_context(|| format!("running {} build", cargo.to_string_lossy()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let hint = if err.contains("can't find crate for `core`") || err.contains("target may not be installed") {
            format!("\nthe Rust target {TARGET} is missing; install it with: rustup target add {TARGET}")
        } else {
            String::new()
        };
        bail!(
            "building the firmware failed ({}; in {}):\n{}{hint}",
            out.status,
            paths.firmware.display(),
            tail(&err, 40)
        );
    }
    let built = target_dir.join(TARGET).join("release").join("quantmcu-firmware");
    let elf = dir.join(features.iter().fold("firmware".to_string(), |n, f| n + "-" + f) + ".elf");
    std::fs::copy(&built, &elf).with_context(|| format!("copying {} to {}", built.display(), elf.display()))?;
    Ok(elf)
}

/// Builds the C example for the export in `dir`: `libquantmcu_c.a` (release,
/// fat LTO and one codegen unit, as the Rust firmware's profile), then
/// `make` in `firmware/c`. Returns the ELF.
fn build_c(paths: &Paths, dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(&paths.work).with_context(|| format!("creating {}", paths.work.display()))?;
    let _lock = BuildLock::acquire(paths.work.join("build.lock"), Duration::from_secs(1800))?;
    paths.write_sources()?;
    let target_dir = paths.work.join("cargo");
    let lib = target_dir.join(TARGET).join("release").join("libquantmcu_c.a");
    let (cargo, mut cmd) = target_cargo();
    let out = cmd
        .args([
            "build",
            "--release",
            "-p",
            "quantmcu-c",
            "--features",
            "dsp",
            "--target",
            TARGET,
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(&paths.src)
        .env("CARGO_PROFILE_RELEASE_LTO", "fat")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1")
        .output()
        .with_context(|| format!("running {} build", cargo.to_string_lossy()))?;
    if !out.status.success() {
        bail!(
            "building libquantmcu_c.a failed ({}):\n{}",
            out.status,
            tail(&String::from_utf8_lossy(&out.stderr), 40)
        );
    }
    let build = dir.join("c-build");
    let out = Command::new("make")
        .arg("-C")
        .arg(paths.firmware.join("c"))
        .arg(format!("EXPORT_DIR={}", dir.display()))
        .arg(format!("BUILD={}", build.display()))
        .arg(format!("QUANTMCU_LIB={}", lib.display()))
        .stdin(Stdio::null())
        .output()
        .context("running make (the C example needs make and arm-none-eabi-gcc: scripts/setup-firmware.sh)")?;
    if !out.status.success() {
        bail!(
            "building the C example failed ({}):\n{}{}",
            out.status,
            tail(&String::from_utf8_lossy(&out.stdout), 20),
            tail(&String::from_utf8_lossy(&out.stderr), 40)
        );
    }
    Ok(build.join("quantmcu-c.elf"))
}

/// Runs the firmware under QEMU; returns its output (stdout then stderr).
fn run_qemu(elf: &Path, timeout: Duration) -> Result<String> {
    let mut child = Command::new("qemu-system-arm")
        .args(QEMU)
        .arg("-kernel")
        .arg(elf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting qemu-system-arm")?;
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut s);
            }
            s
        })
    };
    let stdout = drain(child.stdout.take().map(|r| Box::new(r) as Box<dyn Read + Send>));
    let stderr = drain(child.stderr.take().map(|r| Box::new(r) as Box<dyn Read + Send>));
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break Some(s);
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut text = String::from_utf8_lossy(&stdout.join().unwrap_or_default()).into_owned();
    let err = String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned();
    if !err.trim().is_empty() {
        text.push_str(&err);
    }
    match status {
        None => bail!(
            "the firmware did not finish within {} s under QEMU; its output:\n{}",
            timeout.as_secs(),
            tail(&text, 30)
        ),
        Some(s) if !s.success() && !text.contains("\nend ") => bail!(
            "QEMU exited with {s} before the firmware finished; its output:\n{}",
            tail(&text, 30)
        ),
        Some(_) => Ok(text),
    }
}

/// The last `n` lines of `s`.
fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|t| t.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
}

fn num(line: &str, key: &str) -> Result<u64> {
    field(line, key)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow!("no {key}= number in firmware line '{line}'"))
}

fn hex(s: &str) -> Result<Vec<u8>> {
    let pairs = s.as_bytes().chunks_exact(2);
    if !pairs.remainder().is_empty() {
        bail!("odd-length hex '{s}'");
    }
    pairs
        .map(|p| {
            std::str::from_utf8(p)
                .ok()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(|| anyhow!("bad hex '{s}'"))
        })
        .collect()
}

/// Parses the firmware's lines (see `firmware/src/main.rs`).
fn parse(text: &str) -> Result<Report> {
    let mut r = Report::default();
    for line in text.lines().map(str::trim) {
        if line.starts_with("calibration ") {
            r.calib_instructions = num(line, "instructions")?;
            r.calib_ticks = num(line, "ticks")?;
        } else if line.starts_with("inference ") {
            // The runtime's error sentence runs to the end of the line.
            if let Some((_, e)) = line.split_once(" error=") {
                bail!("the plan failed on the target: {e}");
            }
            r.inferences.push(Inference {
                ticks: num(line, "ticks")?,
                output: hex(field(line, "out").unwrap_or(""))?,
                widths: hex(field(line, "widths").unwrap_or(""))?,
            });
        } else if let Some(rest) = line.strip_prefix("op ") {
            let index = rest.split_whitespace().next().unwrap_or("");
            let index = index.parse().with_context(|| format!("bad op line '{line}'"))?;
            r.ops.push((index, num(line, "ticks")?));
        } else if line.starts_with("kernel ") {
            r.kernels.push(KernelLine {
                name: field(line, "name").unwrap_or("?").to_string(),
                macs: num(line, "macs")?,
                ticks: num(line, "ticks")?,
                portable_ticks: num(line, "portable_ticks")?,
                equal: num(line, "equal")? == 1,
            });
        } else if line.starts_with("stack_peak=") {
            r.stack_peak = Some(num(line, "stack_peak")?);
        } else if let Some(s) = line.strip_prefix("end ") {
            r.end = Some(s.to_string());
        } else if line.starts_with("parse error") || line.starts_with("panic") || line.starts_with("hardfault") {
            bail!("the firmware failed: {line}");
        }
    }
    match r.end.as_deref() {
        None => bail!("the firmware output has no 'end' line"),
        Some("error") => bail!("the firmware reported an error"),
        _ => Ok(r),
    }
}

/// Ok when every inference ran and its output (and mixed-map widths) equal
/// the host runtime's.
fn compare(e: &FirmwareExport, r: &Report) -> Result<()> {
    if r.inferences.len() != e.cases.len() {
        bail!(
            "the firmware reported {} inferences, the export has {}",
            r.inferences.len(),
            e.cases.len()
        );
    }
    for (i, (c, got)) in e.cases.iter().zip(&r.inferences).enumerate() {
        let want: Vec<u8> = c.expected.iter().map(|&v| v as u8).collect();
        if got.output != want {
            let at = got.output.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(0);
            bail!(
                "input {i}: the output on the target differs from the host runtime's (first at byte {at} of {}: \
                 target {:?}, host {:?})",
                want.len(),
                got.output.get(at),
                want.get(at)
            );
        }
        if got.widths != c.widths {
            bail!("input {i}: the widths the target stored its mixed maps at differ from the host runtime's");
        }
    }
    if r.end.as_deref() != Some("ok") {
        bail!("the firmware's own comparison with expected.bin failed");
    }
    Ok(())
}

/// Reads the section headers of a 32-bit little-endian ELF.
pub fn elf_sizes(elf: &[u8]) -> Option<ElfSizes> {
    const SHF_WRITE: u32 = 1;
    const SHF_ALLOC: u32 = 2;
    const SHT_NOBITS: u32 = 8;
    let u16_at = |o: usize| Some(u16::from_le_bytes(elf.get(o..o + 2)?.try_into().ok()?));
    let u32_at = |o: usize| Some(u32::from_le_bytes(elf.get(o..o + 4)?.try_into().ok()?));
    // Magic, ELFCLASS32, ELFDATA2LSB.
    if elf.get(..6)? != b"\x7fELF\x01\x01" {
        return None;
    }
    let shoff = u32_at(0x20)? as usize;
    let shentsize = usize::from(u16_at(0x2e)?);
    let shnum = usize::from(u16_at(0x30)?);
    if shentsize < 40 {
        return None;
    }
    let mut s = ElfSizes::default();
    for i in 0..shnum {
        let h = shoff.checked_add(i.checked_mul(shentsize)?)?;
        let (kind, flags, size) = (u32_at(h + 4)?, u32_at(h + 8)?, u64::from(u32_at(h + 20)?));
        if flags & SHF_ALLOC == 0 {
            continue;
        }
        if kind != SHT_NOBITS {
            s.flash += size;
        }
        if flags & SHF_WRITE != 0 {
            s.ram += size;
        }
    }
    Some(s)
}

fn print_table(e: &FirmwareExport, schedule: &str, r: &Report, sizes: &ElfSizes, per_tick: u64, elf: &Path) {
    let per_tick = per_tick as f64;
    println!(
        "{}: {schedule}; {} inferences on a Cortex-M4F (QEMU mps2-an386, -icount shift=0)",
        e.model,
        r.inferences.len()
    );
    println!(
        "{:>5}  {:>10}  {:>13}  {:>9}  {:>14}  {:>9}",
        "input", "SysTick", "instructions", "instr/MAC", "low-bit maps", "bit-exact"
    );
    let mut ticks = Vec::new();
    for (i, (inf, c)) in r.inferences.iter().zip(&e.cases).enumerate() {
        let instr = inf.ticks as f64 * per_tick;
        let low = inf.widths.iter().filter(|&&w| w > 0 && w < 8).count();
        let used = inf.widths.iter().filter(|&&w| w > 0).count();
        let exact = inf.output.iter().map(|&v| v as i8).eq(c.expected.iter().copied()) && inf.widths == c.widths;
        println!(
            "{i:>5}  {:>10}  {:>13.0}  {:>9.3}  {:>14}  {:>9}",
            inf.ticks,
            instr,
            instr / e.macs.max(1) as f64,
            if e.stats_len == 0 {
                "-".to_string()
            } else {
                format!("{low}/{used}")
            },
            if exact { "yes" } else { "NO" }
        );
        ticks.push(inf.ticks);
    }
    let mean = ticks.iter().sum::<u64>() as f64 / ticks.len().max(1) as f64;
    println!(
        "{:>5}  {:>10.0}  {:>13.0}  {:>9.3}   ({} MACs per inference)",
        "mean",
        mean,
        mean * per_tick,
        mean * per_tick / e.macs.max(1) as f64,
        e.macs
    );
    println!(
        "calibration: a {}-instruction loop took {} SysTick ticks ({per_tick} instructions per tick)",
        r.calib_instructions, r.calib_ticks
    );
    let test_data = (e.cases.len() * (e.input_len + e.output_len)) as u64;
    let plan = e.plan_bytes as u64;
    println!(
        "flash: {} B (ELF text+data) = plan {plan} B + test inputs/outputs {test_data} B + code and constants {} B",
        sizes.flash,
        sizes.flash.saturating_sub(plan + test_data)
    );
    let scratch = 4 * e.scratch_words as u64;
    println!(
        "RAM:   {} B (ELF data+bss) = arena {} B + scratch {scratch} B + other {} B; stack peak {}",
        sizes.ram,
        e.arena_bytes,
        sizes.ram.saturating_sub(e.arena_bytes as u64 + scratch),
        r.stack_peak.map_or("-".to_string(), |b| format!("{b} B"))
    );
    println!("firmware: {}", elf.display());
}

/// Prints instructions per plan op (the `op-ticks` run of input 0) and per
/// kind of op.
fn print_ops(e: &FirmwareExport, r: &Report, per_tick: u64) {
    let total: u64 = r.ops.iter().map(|&(_, t)| t).sum::<u64>() * per_tick;
    let label = |i: usize| e.op_labels.get(i).map_or("?", String::as_str);
    println!();
    println!("instructions per plan op (one profiled inference of input 0; ops summed over their tiles):");
    println!("{:>4}  {:<24}  {:>12}  {:>6}", "op", "kind", "instructions", "share");
    for &(i, t) in r.ops.iter().filter(|&&(_, t)| t > 0) {
        let instr = t * per_tick;
        println!(
            "{i:>4}  {:<24}  {instr:>12}  {:>5.1}%",
            label(i),
            100.0 * instr as f64 / total.max(1) as f64
        );
    }
    let mut kinds: Vec<(&str, u64)> = Vec::new();
    for &(i, t) in &r.ops {
        match kinds.iter_mut().find(|(k, _)| *k == label(i)) {
            Some((_, s)) => *s += t * per_tick,
            None => kinds.push((label(i), t * per_tick)),
        }
    }
    kinds.sort_by_key(|k| std::cmp::Reverse(k.1));
    println!("per kind:");
    for (k, instr) in kinds.iter().filter(|(_, i)| *i > 0) {
        println!(
            "      {k:<24}  {instr:>12}  {:>5.1}%",
            100.0 * *instr as f64 / total.max(1) as f64
        );
    }
    println!("      {:<24}  {total:>12}", "all ops");
}

/// Fails when a `kernel-bench` case's DSP form wrote other bytes than its
/// portable kernel on the target.
fn kernels_agree(r: &Report) -> Result<()> {
    let differ: Vec<&str> = r.kernels.iter().filter(|k| !k.equal).map(|k| k.name.as_str()).collect();
    if !differ.is_empty() {
        bail!(
            "on the target the DSP kernels differ from the portable ones: {}",
            differ.join(", ")
        );
    }
    Ok(())
}

/// CMSIS-NN's instructions per MAC on kernel `name`'s shape, if measured.
fn cmsis_nn_per_mac(name: &str) -> Option<f64> {
    CMSIS_NN.iter().find(|(n, _)| *n == name).map(|&(_, v)| v)
}

/// The `kernel-bench` lines as a JSON array, one object per kernel:
/// `kernel`, `macs`, `instructions` and `instructions_per_mac` (the
/// firmware's kernels), `portable_instructions` and `portable_per_mac`,
/// `cmsis_nn_per_mac` (null where no anchor exists) and `equal` (same bytes).
fn kernels_json(r: &Report, per_tick: u64) -> String {
    let rows: Vec<serde_json::Value> = r
        .kernels
        .iter()
        .map(|k| {
            let macs = k.macs.max(1) as f64;
            serde_json::json!({
                "kernel": k.name,
                "macs": k.macs,
                "instructions": k.ticks * per_tick,
                "instructions_per_mac": (k.ticks * per_tick) as f64 / macs,
                "portable_instructions": k.portable_ticks * per_tick,
                "portable_per_mac": (k.portable_ticks * per_tick) as f64 / macs,
                "cmsis_nn_per_mac": cmsis_nn_per_mac(&k.name),
                "equal": k.equal,
            })
        })
        .collect();
    serde_json::Value::Array(rows).to_string()
}

fn print_kernels(r: &Report, per_tick: u64) {
    println!();
    println!(
        "single kernels (pseudo-random data, whole map, one call; _a4/_a2: the any-width kernels on 4-/2-bit \
         input and output codes; _a4i8: on 4-bit input codes with int8 output; recode4_*: a map's int8 values \
         into 4-bit codes, per value instead of per MAC; _in_place: the layer stage's in-place depthwise, against the portable \
         out-of-place kernel; DSP = the firmware's kernels (their DSP forms where they exist), portable = the \
         reference kernels, same output bytes):"
    );
    println!(
        "{:<28}  {:>8}  {:>12}  {:>9}  {:>14}  {:>9}",
        "kernel", "MACs", "instructions", "instr/MAC", "portable/MAC", "CMSIS-NN"
    );
    for k in &r.kernels {
        let per_mac = |ticks: u64| (ticks * per_tick) as f64 / k.macs.max(1) as f64;
        let cmsis = cmsis_nn_per_mac(&k.name).map_or("-".to_string(), |v| format!("{v:.2}"));
        println!(
            "{:<28}  {:>8}  {:>12}  {:>9.2}  {:>14.2}  {cmsis:>9}",
            k.name,
            k.macs,
            k.ticks * per_tick,
            per_mac(k.ticks),
            per_mac(k.portable_ticks)
        );
    }
    println!("(the kernel-bench build's RAM includes the benchmark's ~90 KB of buffers)");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_firmware_lines() {
        let text = "quantmcu-firmware arena=10 scratch=0 inputs=1 input_len=4 output_len=2 stats=0\n\
                    calibration instructions=2000000 ticks=50000\n\
                    parse ticks=12\n\
                    inference 0 ticks=345 match=1 out=ff01 widths=\n\
                    stack_peak=512\n\
                    end ok\n";
        let r = parse(text).unwrap();
        assert_eq!((r.calib_instructions, r.calib_ticks), (2_000_000, 50_000));
        assert_eq!(r.inferences.len(), 1);
        assert_eq!(r.inferences[0].ticks, 345);
        assert_eq!(r.inferences[0].output, vec![0xff, 0x01]);
        assert_eq!(r.stack_peak, Some(512));
        let e = parse("inference 0 error=the arena has 10 bytes, the plan needs 20\nend error\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "the plan failed on the target: the arena has 10 bytes, the plan needs 20"
        );
        assert!(parse("calibration instructions=1 ticks=1\n").is_err());
    }

    #[test]
    fn kernel_lines_become_json() {
        let text = "calibration instructions=2000000 ticks=50000\n\
                    kernel name=conv1x1_24x24x32_32 macs=1000 ticks=30 portable_ticks=100 equal=1\n\
                    kernel name=dw3x3_s1_24x24x32_a4 macs=10 ticks=2 portable_ticks=5 equal=0\n\
                    end ok\n";
        let r = parse(text).unwrap();
        let v: serde_json::Value = serde_json::from_str(&kernels_json(&r, 40)).unwrap();
        let k = v.as_array().unwrap();
        assert_eq!(k.len(), 2);
        assert_eq!(k[0]["kernel"], "conv1x1_24x24x32_32");
        assert_eq!(k[0]["instructions"], 1200);
        assert_eq!(k[0]["instructions_per_mac"], 1.2);
        assert_eq!(k[0]["portable_per_mac"], 4.0);
        assert_eq!(k[0]["cmsis_nn_per_mac"], 2.69);
        assert_eq!(k[0]["equal"], true);
        assert!(k[1]["cmsis_nn_per_mac"].is_null());
        assert_eq!(k[1]["equal"], false);
    }

    #[test]
    fn rejects_non_elf() {
        assert_eq!(elf_sizes(b"not an elf at all"), None);
        assert_eq!(elf_sizes(b""), None);
    }
}
