//! The C ABI from C: `tests/abi_test.c` includes `include/quantmcu.h`, links
//! the host `libquantmcu_c.a` built for this test run and checks, for real
//! plans of the reference model (layer int8, patch int8, mixed precision),
//! every output byte and width against the host runtime
//! ([`FirmwareExport`]), plus every error code; `tests/export_test.c` runs
//! the same cases from the C export ([`FirmwareExport::write_c`]). Also: the header declares
//! exactly the functions the library exports, and its enum values are the
//! library's [`STATUSES`] codes.

use std::path::{Path, PathBuf};
use std::process::Command;

use quantmcu::export::FirmwareExport;
use quantmcu::mixed::{build, calibrate_int8, MixedConfig, Rule, Scope};
use quantmcu::patch::arena::InputMode;
use quantmcu::patch::{split_points, PlanRunner, Tiling};
use quantmcu::tensor::TensorData;
use quantmcu::{assets, input, tflite, Graph, ReferenceExecutor};
use quantmcu_c::c_abi::STATUSES;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The host static library, built once per test run with the cargo that
/// runs the tests (`cargo test` builds the crate's rlib only) into its own
/// target directory beside this one's, so it never waits on this build's lock.
fn staticlib() -> PathBuf {
    static LIB: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    LIB.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        // target/<profile>/deps/<test> -> target/
        let target = exe.ancestors().nth(3).unwrap().join("quantmcu-c-host");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-q", "--lib", "--manifest-path"])
            .arg(crate_dir().join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target)
            .status()
            .expect("running cargo to build the static library");
        assert!(status.success(), "cargo build of the quantmcu-c static library failed");
        let lib = target.join("debug").join("libquantmcu_c.a");
        assert!(lib.is_file(), "{} not built", lib.display());
        lib
    })
    .clone()
}

fn header() -> String {
    std::fs::read_to_string(crate_dir().join("include/quantmcu.h")).unwrap()
}

/// Deterministic model inputs from a pixel pattern.
fn inputs(graph: &Graph, n: usize) -> Vec<Vec<TensorData>> {
    let len = graph.tensors[graph.inputs[0]].elements();
    (0..n)
        .map(|k| {
            let px: Vec<u8> = (0..len).map(|i| ((i * 31 + k * 97) % 251) as u8).collect();
            vec![input::pixels_to_input(graph, &px).unwrap()]
        })
        .collect()
}

/// Compiles `tests/{name}.c` (plus `extra` sources, `-I include`) against
/// the header and the host library into `out/{name}`.
fn compile(out: &Path, name: &str, include: Option<&Path>, extra: &[PathBuf]) -> PathBuf {
    let exe = out.join(name);
    let status = Command::new("cc")
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-O1", "-I"])
        .arg(crate_dir().join("include"))
        .args(include.map(|d| format!("-I{}", d.display())))
        .arg(crate_dir().join(format!("tests/{name}.c")))
        .args(extra)
        .arg(staticlib())
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&exe)
        .status()
        .expect("the host C compiler `cc`");
    assert!(status.success(), "{name}.c does not compile against quantmcu.h");
    exe
}

#[test]
fn c_program_runs_reference_model_plans_bit_exact() {
    let tmp = std::env::temp_dir().join(format!("quantmcu-c-abi-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let exe = compile(&tmp, "abi_test", None, &[]);
    let path = assets::repo_root().join("models/fmnist_mobilenetv2_int8.tflite");
    let graph = tflite::load(&path).unwrap();
    let interp = ReferenceExecutor::new(&graph).unwrap();
    let stages = split_points(&graph);
    let tp = stages[stages.len() / 2..]
        .iter()
        .find_map(|s| Tiling::new(&graph, s, [2, 2]))
        .expect("a tile plan");
    let mode = InputMode::Streamed;
    let xs = inputs(&graph, 3);
    let hists = calibrate_int8(&interp, &tp, mode, Scope::All, true, &xs, &|| ()).unwrap();
    let cfg = MixedConfig {
        bits: vec![4],
        outlier_quantile: 1e-3,
        rule: Rule::Map,
        scope: Scope::All,
        layer_in_place: true,
        per_channel: true,
        clip: false,
        bias_correction: false,
        numerics: quantmcu::mixed::Numerics::default(),
    };
    let mixed = build(&graph, &tp, &hists, &cfg).unwrap();
    let runners = [
        ("layer", PlanRunner::new(&interp, None).unwrap(), None),
        ("patch", PlanRunner::new(&interp, Some((&tp, mode))).unwrap(), Some(&tp)),
        (
            "mixed",
            PlanRunner::with_mixed(&interp, Some((&tp, mode)), Some(&mixed)).unwrap(),
            Some(&tp),
        ),
    ];
    for (name, runner, tiles) in &runners {
        let export = FirmwareExport::new(&graph, runner, *tiles, &xs).unwrap();
        if *name == "mixed" {
            assert!(export.stats_len > 0, "the mixed plan records widths");
        }
        let dir = tmp.join(name);
        export.write(&dir).unwrap();
        let run = Command::new(&exe).arg(&dir).output().unwrap();
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(run.status.success(), "{name}: {stdout}");
        assert_eq!(stdout.trim(), "ok 3 inputs", "{name}");
        // The C export of the same plan runs the same cases from flash arrays.
        export.write_c(&dir).unwrap();
        let c_exe = compile(&dir, "export_test", Some(&dir), &[dir.join("quantmcu_plan.c")]);
        let run = Command::new(&c_exe).output().unwrap();
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(run.status.success(), "{name} export: {stdout}");
        assert_eq!(stdout.trim(), "ok 3", "{name} export");
    }
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn header_declares_what_the_library_exports() {
    let h = header();
    let mut declared: Vec<String> = h
        .lines()
        .filter_map(|l| {
            let before = &l[..l.find('(')?];
            let name = before.rsplit([' ', '*']).next()?;
            (l.starts_with("qmcu_status ") || l.starts_with("const char *")).then(|| name.to_string())
        })
        .collect();
    declared.sort();
    let nm = Command::new("nm")
        .arg("--defined-only")
        .arg(staticlib())
        .output()
        .expect("binutils `nm`");
    let mut exported: Vec<String> = String::from_utf8_lossy(&nm.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().collect::<Vec<_>>().get(2).map(|s| s.to_string()))
        .filter(|s| s.starts_with("qmcu_"))
        .collect();
    exported.sort();
    exported.dedup();
    assert!(!declared.is_empty());
    assert_eq!(declared, exported);
}

#[test]
fn header_enum_matches_the_library_codes() {
    let h = header();
    let mut declared = Vec::new();
    for l in h.lines() {
        let l = l.trim();
        if let Some((name, rest)) = l.split_once(" = ") {
            if name.starts_with("QMCU_") {
                let value: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
                declared.push((name.to_string(), value.parse::<i32>().unwrap()));
            }
        }
    }
    let library: Vec<(String, i32)> = STATUSES
        .iter()
        .map(|(code, name, _)| (name.trim_end_matches('\0').to_string(), *code as i32))
        .collect();
    assert_eq!(declared, library);
    assert!(STATUSES.iter().enumerate().all(|(i, s)| s.0 as usize == i));
}
