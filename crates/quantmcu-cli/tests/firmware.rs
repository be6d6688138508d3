//! Plans on a Cortex-M4F under QEMU (`quantmcu mcu-run`): the firmware's
//! outputs equal the host runtime's byte for byte for layer-by-layer int8, a
//! patch plan and a 4-bit mixed plan of VWW, and the instruction counts are
//! plausible; the C example matches them. Needs `scripts/setup-firmware.sh`
//! (thumbv7em target, QEMU, arm-none-eabi-gcc):
//! without them these tests fail, they never skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use quantmcu::assets;

fn quantmcu(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_quantmcu"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "quantmcu failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn vww() -> String {
    assets::model("vww_mobilenetv1.tflite")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string()
}

fn foolbox() -> PathBuf {
    assets::ensure("foolbox").unwrap().join("foolbox")
}

/// Test inputs: 2 ImageNet images (96x96 after resizing).
const LIMIT: &str = "2";

/// `quantmcu plan VWW --sram 22118 --input streamed [extra] -o DIR/NAME`.
fn vww_plan(dir: &Path, name: &str, extra: &[&str]) -> String {
    let path = dir.join(name);
    let p = path.to_str().unwrap();
    let model = vww();
    let mut args = vec!["plan", &model, "--sram", "22118", "--input", "streamed", "-o", p];
    args.extend_from_slice(extra);
    ok(&quantmcu(&args));
    p.to_string()
}

/// Runs `mcu-run --json` and checks the report; returns it.
fn mcu_run(plan: Option<&str>, min_ram: u64) -> serde_json::Value {
    mcu_run_with(plan, min_ram, &[])
}

/// [`mcu_run`] with `extra` options (`--c`).
fn mcu_run_with(plan: Option<&str>, min_ram: u64, extra: &[&str]) -> serde_json::Value {
    let (model, images) = (vww(), foolbox());
    let mut args = vec![
        "mcu-run",
        &model,
        "--inputs",
        images.to_str().unwrap(),
        "--set",
        "imagenet",
        "--limit",
        LIMIT,
        "--json",
    ];
    if let Some(p) = plan {
        args.extend_from_slice(&["--plan", p]);
    }
    args.extend_from_slice(extra);
    let out = quantmcu(&args);
    let text = ok(&out);
    let j: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    let keys: Vec<&str> = j.as_object().unwrap().keys().map(String::as_str).collect();
    let mut want = [
        "bit_exact",
        "inferences",
        "systick_per_inference",
        "instructions_per_inference",
        "flash_bytes",
        "ram_bytes",
    ];
    want.sort_unstable();
    let mut got = keys.clone();
    got.sort_unstable();
    assert_eq!(got, want, "{text}");
    assert_eq!(j["bit_exact"], true, "{text}");
    assert_eq!(j["inferences"], 2, "{text}");
    let ticks = j["systick_per_inference"].as_u64().unwrap();
    let instr = j["instructions_per_inference"].as_u64().unwrap();
    // 40 instructions per SysTick tick (25 MHz, 1 ns per instruction).
    assert!(instr.abs_diff(40 * ticks) <= 40, "{text}");
    // VWW executes 7.5-8.6 M MACs: between 1 and 50 instructions per MAC.
    assert!((7_000_000..450_000_000).contains(&instr), "{text}");
    // The plan (~250 KB of weights) and the inputs are in flash; the arena
    // and scratch in RAM, with little else.
    let (flash, ram) = (j["flash_bytes"].as_u64().unwrap(), j["ram_bytes"].as_u64().unwrap());
    assert!(flash > 245_000 && flash < 1_000_000, "{text}");
    assert!(ram >= min_ram && ram < min_ram + 4096, "{text}");
    j
}

/// The C example (`mcu-run --c`: firmware/c through libquantmcu_c.a) is
/// bit-exact on a patch plan and within 3 % of the Rust firmware's
/// instructions on the same plan.
#[test]
fn c_example_is_bit_exact_and_as_fast_as_the_rust_firmware() {
    let dir = tempfile::tempdir().unwrap();
    let plan = vww_plan(dir.path(), "patch.plan", &[]);
    let c = mcu_run_with(Some(&plan), 21_928, &["--c"]);
    let rust = mcu_run(Some(&plan), 21_928);
    let (c, rust) = (
        c["instructions_per_inference"].as_u64().unwrap() as f64,
        rust["instructions_per_inference"].as_u64().unwrap() as f64,
    );
    assert!((c / rust - 1.0).abs() < 0.03, "C {c} vs Rust {rust} instructions");
}

#[test]
fn layer_int8_is_bit_exact_on_cortex_m4() {
    let j = mcu_run(None, 55_296);
    // The text report and the export verb agree with it.
    let dir = tempfile::tempdir().unwrap();
    let fw = dir.path().join("fw");
    let model = vww();
    let out = ok(&quantmcu(&[
        "export",
        &model,
        "--firmware",
        fw.to_str().unwrap(),
        "--limit",
        "2",
    ]));
    assert!(out.contains("arena 55296 B"), "{out}");
    let consts = std::fs::read_to_string(fw.join("consts.rs")).unwrap();
    assert!(consts.contains("pub const ARENA_BYTES: usize = 55296;"), "{consts}");
    assert!(consts.contains("pub const N_INPUTS: usize = 2;"), "{consts}");
    assert_eq!(std::fs::metadata(fw.join("inputs.bin")).unwrap().len(), 2 * 96 * 96 * 3);
    assert_eq!(std::fs::metadata(fw.join("expected.bin")).unwrap().len(), 2 * 2);
    assert_eq!(std::fs::read(fw.join("plan.qmcu")).unwrap()[..4], *b"QMCU");
    assert!(j["ram_bytes"].as_u64().unwrap() >= 55_296);
}

#[test]
fn patch_int8_is_bit_exact_on_cortex_m4() {
    let dir = tempfile::tempdir().unwrap();
    let plan = vww_plan(dir.path(), "patch.plan", &[]);
    mcu_run(Some(&plan), 21_928);
}

#[test]
fn mixed_4bit_is_bit_exact_on_cortex_m4() {
    let dir = tempfile::tempdir().unwrap();
    let images = foolbox();
    let calib = [
        "--calib",
        images.to_str().unwrap(),
        "--calib-set",
        "imagenet",
        "--clean-bits",
        "4",
    ];
    let plan = vww_plan(dir.path(), "mixed.plan", &calib);
    mcu_run(Some(&plan), 21_928);
}

/// One build with both profiling features: single kernels (whose DSP and
/// portable forms must agree on the target, or `mcu-run` fails) and
/// instructions per plan op, which must account for the inference.
#[test]
fn kernel_bench_and_per_op_profile() {
    let model = vww();
    let text = ok(&quantmcu(&["mcu-run", &model, "--limit", "1", "--kernels", "--per-op"]));
    for name in ["conv1x1_24x24x32_32", "dw3x3_s1_24x24x32", "conv1x1_24x24x32_32_a4"] {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no {name} line in\n{text}"));
        let per_mac: f64 = line.split_whitespace().nth(3).unwrap().parse().unwrap();
        assert!((0.5..100.0).contains(&per_mac), "{line}");
    }
    let field = |prefix: &str, n: usize| -> u64 {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .unwrap_or_else(|| panic!("no '{prefix}' line in\n{text}"));
        line.split_whitespace().nth(n).unwrap().parse().unwrap()
    };
    let (inference, ops) = (field("mean", 2), field("all ops", 2));
    // The profiled run reads the clock around each op: the ops' sum is most
    // of the inference (the rest is input loads and tile stores).
    assert!(
        ops <= inference + inference / 20 && ops >= inference * 8 / 10,
        "ops {ops} vs inference {inference}"
    );
    assert!(text.lines().any(|l| l.contains(" conv 1x1 ")), "{text}");
    assert!(text.lines().any(|l| l.contains(" depthwise ")), "{text}");
}

#[test]
fn missing_qemu_fails_with_the_install_command() {
    let empty = tempfile::tempdir().unwrap();
    let model = vww();
    let out = Command::new(env!("CARGO_BIN_EXE_quantmcu"))
        .args(["mcu-run", &model, "--limit", "1"])
        .env("PATH", empty.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("qemu-system-arm not found") && err.contains("apt-get install qemu-system-arm"),
        "{err}"
    );
}
