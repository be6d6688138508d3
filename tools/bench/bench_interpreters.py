#!/usr/bin/env python3
"""Single-thread throughput (images/s) of LiteRT and of tflite-micro's Python
interpreter on quantmcu's golden inputs, for comparison with quantmcu itself.

    .venv-tools/bin/python tools/bench/bench_interpreters.py [--assets .assets]
        [--goldens goldens] [--min-seconds 2] [--json]
    python3 tools/bench/bench_interpreters.py --model M.tflite [--runtimes litert tflm]
        [--min-seconds 2]

The second form (what `quantmcu bench` runs) times the given runtimes on one
model of any shape with a fixed pseudo-random input, without golden checks,
and prints JSON: {"results": [{"runtime", "images", "images_per_s"}],
"missing": [{"runtime", "module", "package"}]} (a runtime whose Python
package is not importable is listed under "missing", not timed).

LiteRT (`ai-edge-litert`) runs with its default delegate (XNNPACK) and
num_threads=1 (optionally also with its reference kernels, `litert-ref`);
tflite-micro runs its reference kernels. The "= goldens" column says whether
the runtime reproduces goldens/ (tflite-micro) bit for bit. Each (runtime, model)
pair first checks its outputs on the golden inputs, then loops over those inputs
until at least --min-seconds have passed; the time is wall clock.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

try:
    import numpy as np
except ImportError:  # the --model form reports every runtime missing
    np = None

# The checkout holding this file (`quantmcu bench` runs a copy from a
# temporary folder, where only the --model form is used).
_HERE = Path(__file__).resolve()
REPO_ROOT = _HERE.parents[2] if len(_HERE.parents) > 2 else Path.cwd()
MODELS = ["resnet8_cifar10", "vww_mobilenetv1"]


def load_inputs(goldens, name):
    d = Path(goldens) / name
    manifest = json.loads((d / "manifest.json").read_text())
    pixels = np.load(d / "pixels.npy")
    outputs = np.load(d / "outputs.npy")
    if manifest["input_transform"] == "int8 = pixel - 128":
        x = (pixels.astype(np.int16) - 128).astype(np.int8)
    elif manifest["input_transform"] == "float32 = pixel":
        x = pixels.astype(np.float32)
    else:
        sys.exit(f"unknown input transform {manifest['input_transform']!r}")
    return manifest, [x[i : i + 1] for i in range(len(x))], outputs


class Tflm:
    name = "tflite-micro (reference kernels)"

    def __init__(self, model_bytes):
        from tflite_micro.python.tflite_micro import runtime
        self.ip = runtime.Interpreter.from_bytes(model_bytes)

    def run(self, x):
        self.ip.set_input(x, 0)
        self.ip.invoke()
        return self.ip.get_output(0)


class LiteRT:
    name = "LiteRT (XNNPACK, 1 thread)"
    resolver = None  # default: builtin kernels + XNNPACK delegate

    def __init__(self, model_bytes):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
        kw = {}
        if self.resolver is not None:
            kw["experimental_op_resolver_type"] = getattr(OpResolverType, self.resolver)
        self.ip = Interpreter(model_content=model_bytes, num_threads=1, **kw)
        self.ip.allocate_tensors()
        self.inp = self.ip.get_input_details()[0]["index"]
        self.out = self.ip.get_output_details()[0]["index"]

    def run(self, x):
        self.ip.set_tensor(self.inp, x)
        self.ip.invoke()
        return self.ip.get_tensor(self.out)


class LiteRTRef(LiteRT):
    name = "LiteRT (reference kernels)"
    resolver = "BUILTIN_REF"


def bench_quantmcu(model_path, min_seconds):
    """quantmcu's reference executor through `quantmcu bench` (built with
    `cargo build --release -p quantmcu-cli`); bit-exactness with the goldens is
    what `cargo test` checks."""
    exe = REPO_ROOT / "target" / "release" / "quantmcu"
    if not exe.exists():
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "quantmcu-cli"], cwd=REPO_ROOT, check=True)
    out = subprocess.run([str(exe), "bench", str(model_path), "--seconds", str(min_seconds), "--json",
                          "--no-interpreters"],
                         check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    row = lambda name, n, ips: {"runtime": name, "images": n, "seconds": round(n / ips, 4),
                                "images_per_s": round(ips, 2), "ms_per_image": round(1000 / ips, 4),
                                "matches_goldens": True, "max_abs_diff": 0.0, "argmax_agree": "cargo test"}
    return [row("quantmcu (reference executor)", r["images"], r["images_per_second"]),
            row("quantmcu (runtime plan)", r["runtime_images"], r["runtime_images_per_second"])]


def versions():
    from tflite_micro.python.tflite_micro import _version
    try:
        from importlib.metadata import version
        litert = version("ai-edge-litert")
    except Exception:  # pragma: no cover
        litert = "?"
    return {"tflite_micro": _version.__version__, "ai_edge_litert": litert,
            "numpy": np.__version__, "python": platform.python_version()}


def loop(r, inputs, min_seconds):
    """Runs `r` over `inputs` until at least `min_seconds` have passed:
    (images, seconds)."""
    n = 0
    t0 = time.perf_counter()
    while True:
        for x in inputs:
            r.run(x)
        n += len(inputs)
        dt = time.perf_counter() - t0
        if dt >= min_seconds:
            return n, dt


def bench(runner_cls, model_bytes, inputs, golden, min_seconds):
    r = runner_cls(model_bytes)
    outs = np.stack([np.array(r.run(x))[0] for x in inputs])  # also warms up
    exact = bool(np.array_equal(outs, golden))
    max_diff = float(np.max(np.abs(outs.astype(np.float64) - golden.astype(np.float64))))
    argmax_agree = int((outs.argmax(axis=1) == golden.argmax(axis=1)).sum())
    n, dt = loop(r, inputs, min_seconds)
    return {"runtime": r.name, "images": n, "seconds": round(dt, 4),
            "images_per_s": round(n / dt, 2), "ms_per_image": round(1000 * dt / n, 4),
            "matches_goldens": exact, "max_abs_diff": max_diff,
            "argmax_agree": f"{argmax_agree}/{len(inputs)}"}


# Python module and PyPI package of each runtime of the --model form.
PACKAGES = {"litert": ("ai_edge_litert", "ai-edge-litert"), "tflm": ("tflite_micro", "tflite-micro")}


def bench_model(path, runtimes, min_seconds):
    """The --model form: each importable runtime timed on `path` with one
    fixed pseudo-random input of the model's input type and shape."""
    import importlib.util
    model_bytes = Path(path).read_bytes()
    runners = {"litert": LiteRT, "tflm": Tflm}
    results, missing = [], []
    for key in runtimes:
        module, package = PACKAGES[key]
        if np is None or importlib.util.find_spec(module) is None:
            missing.append({"runtime": runners[key].name, "module": module, "package": package})
            continue
        r = runners[key](model_bytes)
        if key == "litert":
            d = r.ip.get_input_details()[0]
        else:
            d = r.ip.get_input_details(0)
        dtype, shape = np.dtype(d["dtype"]), tuple(int(v) for v in d["shape"])
        rng = np.random.RandomState(0)
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            x = rng.randint(info.min, info.max + 1, size=shape).astype(dtype)
        else:
            x = rng.uniform(0, 255, size=shape).astype(dtype)
        r.run(x)  # warm-up
        n, dt = loop(r, [x], min_seconds)
        results.append({"runtime": r.name, "images": n, "images_per_s": round(n / dt, 2)})
    print(json.dumps({"results": results, "missing": missing}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="time LiteRT / tflite-micro on this model only (JSON, no goldens)")
    ap.add_argument("--assets", default=str(REPO_ROOT / ".assets"))
    ap.add_argument("--goldens", default=str(REPO_ROOT / "goldens"))
    ap.add_argument("--min-seconds", type=float, default=2.0)
    ap.add_argument("--models", nargs="*", default=MODELS, choices=MODELS)
    ap.add_argument("--runtimes", nargs="*", default=["quantmcu", "litert", "tflm"],
                    choices=["quantmcu", "litert", "litert-ref", "tflm"],
                    help="quantmcu: our reference executor; litert: default delegate (XNNPACK); "
                         "litert-ref: LiteRT's reference kernels")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args()
    if args.model:
        keys = [k for k in args.runtimes if k in PACKAGES] if "--runtimes" in sys.argv else list(PACKAGES)
        bench_model(args.model, keys, args.min_seconds)
        return

    runners = {"litert": LiteRT, "litert-ref": LiteRTRef, "tflm": Tflm}
    results = []
    for name in args.models:
        manifest, inputs, golden = load_inputs(args.goldens, name)
        model_bytes = (Path(args.assets) / "models" / manifest["model"]).read_bytes()
        for key in args.runtimes:
            if key == "quantmcu":
                rows = bench_quantmcu(Path(args.assets) / "models" / manifest["model"], args.min_seconds)
            else:
                rows = [bench(runners[key], model_bytes, inputs, golden, args.min_seconds)]
            for res in rows:
                res["model"] = name
                results.append(res)
                if not args.json:
                    print(f"  {name} / {res['runtime']}: {res['images_per_s']} images/s", file=sys.stderr)

    info = {"versions": versions(), "cpu": platform.processor() or platform.machine(),
            "nproc": os.cpu_count(), "min_seconds": args.min_seconds, "results": results}
    if args.json:
        print(json.dumps(info, indent=2))
        return
    hdr = f"{'model':<17} {'runtime':<34} {'images/s':>10} {'ms/image':>9} {'images':>7}  {'= goldens':<20} {'argmax':>6}"
    print(hdr)
    print("-" * len(hdr))
    for r in results:
        print(f"{r['model']:<17} {r['runtime']:<34} {r['images_per_s']:>10.1f} {r['ms_per_image']:>9.3f} "
              f"{r['images']:>7}  {('yes' if r['matches_goldens'] else 'no (max diff %.4g)' % r['max_abs_diff']):<20} {r['argmax_agree']:>6}")
    for name in args.models:
        ips = {r["runtime"]: r["images_per_s"] for r in results if r["model"] == name}
        ours, xnn = ips.get("quantmcu (runtime plan)"), ips.get(LiteRT.name)
        if ours and xnn:
            print(f"{name}: quantmcu / LiteRT-XNNPACK = {ours / xnn:.2f}")
    v = info["versions"]
    print(f"tflite-micro {v['tflite_micro']}, ai-edge-litert {v['ai_edge_litert']}, one thread each, "
          f">= {args.min_seconds} s per row")


if __name__ == "__main__":
    main()
