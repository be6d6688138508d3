#!/usr/bin/env python3
"""Golden inputs/outputs for quantmcu's bit-exactness tests, made with
tflite-micro's reference interpreter (the `tflite-micro` PyPI package).

    .venv-tools/bin/python tools/goldens/make_goldens.py --assets .assets --out goldens

Per model, writes <out>/<model>/:
  pixels.npy             uint8 [N,H,W,3], the exact pixels fed (after any resize)
  outputs.npy            [N, ...] model output, in the output dtype
  manifest.json          model, sha256, input transform, images, versions, command
  tflm_allocations.txt   tflite-micro RecordingMicroAllocator report (1 invoke)
  tensors/tNNN.npy       (resnet8_cifar10 only) every op-produced tensor of
                         subgraph 0 plus the model input, stacked [K, ...]

Assets come from scripts/fetch-assets.sh (models/ and foolbox/).
"""

import argparse
import hashlib
import json
import os
import re
import shlex
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from tflite_micro.python.tflite_micro import _version as tflm_version
from tflite_micro.python.tflite_micro import runtime
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema_fb

REPO_ROOT = Path(__file__).resolve().parents[2]

# Budget for the whole goldens tree (3 MiB); intermediates get what the pixels,
# outputs and text files leave. Computed from array sizes, not from what is on
# disk, so the result does not depend on earlier runs.
SIZE_BUDGET = 3 * 1024 * 1024
TEXT_SLACK = 32 * 1024  # manifest.json, tflm_allocations.txt, README.md
NPY_HEADER = 128

MODELS = {
    "resnet8_cifar10": {
        "file": "resnet8_cifar10.tflite",
        "images": "cifar10",
        "size": None,  # 32x32 already
        "input_transform": "int8 = pixel - 128",
        "intermediates": True,
    },
    "vww_mobilenetv1": {
        "file": "vww_mobilenetv1.tflite",
        "images": "imagenet",
        "size": (96, 96),
        "input_transform": "float32 = pixel",
        "intermediates": False,
    },
}


def sha256_file(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def list_images(foolbox_dir, prefix):
    pat = re.compile(rf"^{re.escape(prefix)}_(\d+)_(\d+)\.(png|jpg)$")
    found = []
    for p in Path(foolbox_dir).iterdir():
        m = pat.match(p.name)
        if m:
            found.append((int(m.group(1)), int(m.group(2)), p))
    found.sort()
    if len(found) != 20 or [i for i, _, _ in found] != list(range(20)):
        sys.exit(f"make_goldens: expected {prefix}_00..19 in {foolbox_dir}, found {len(found)}")
    return found


def load_pixels(path, size):
    im = Image.open(path).convert("RGB")
    if size is not None:
        im = im.resize(size, Image.BILINEAR)
    return np.asarray(im, dtype=np.uint8)


def to_input(pixels, dtype):
    if dtype == np.int8:
        return (pixels.astype(np.int16) - 128).astype(np.int8)
    if dtype == np.float32:
        return pixels.astype(np.float32)
    raise ValueError(f"unsupported input dtype {dtype}")


def quant_dict(details):
    q = details["quantization_parameters"]
    return {
        "dtype": np.dtype(details["dtype"]).name,
        "shape": [int(s) for s in details["shape"]],
        "scale": [float(s) for s in q["scales"]],
        "zero_point": [int(z) for z in q["zero_points"]],
    }


def tensor_quant_dict(ten):
    q = ten.quantization
    return {
        "tensor": None,
        "dtype": np.dtype(TFL_DTYPES[ten.type]).name,
        "shape": [int(s) for s in ten.shape],
        "scale": [float(s) for s in (q.scale if q is not None and q.scale is not None else [])],
        "zero_point": [int(z) for z in (q.zeroPoint if q is not None and q.zeroPoint is not None else [])],
    }


def model_io(model_bytes, in_det, out_det):
    """Input/output quantization; for a float-I/O model also the int8 body's
    (output of a leading QUANTIZE, input of a trailing DEQUANTIZE)."""
    io = {"input": quant_dict(in_det), "output": quant_dict(out_det)}
    mo = runtime.convert_bytearray_to_object(bytearray(model_bytes))
    sg = mo.subgraphs[0]
    code = lambda op: runtime.get_builtin_code_from_operator_code(mo.operatorCodes[op.opcodeIndex])
    first, last = sg.operators[0], sg.operators[-1]
    if code(first) == schema_fb.BuiltinOperator.QUANTIZE and int(first.inputs[0]) == int(sg.inputs[0]):
        t = int(first.outputs[0])
        io["body_input"] = dict(tensor_quant_dict(sg.tensors[t]), tensor=t)
    if code(last) == schema_fb.BuiltinOperator.DEQUANTIZE and int(last.outputs[0]) == int(sg.outputs[0]):
        t = int(last.inputs[0])
        io["body_output"] = dict(tensor_quant_dict(sg.tensors[t]), tensor=t)
    return io


def capture_stderr(fn):
    """Run fn() and return what the C++ side wrote to file descriptor 2."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            fn()
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        return tmp.read().decode("utf-8", "replace")


def op_produced_tensors(model_bytes):
    """Model input(s) + every tensor an operator of subgraph 0 writes, sorted."""
    mo = runtime.convert_bytearray_to_object(bytearray(model_bytes))
    sg = mo.subgraphs[0]
    idx = {int(t) for t in sg.inputs}
    for op in sg.operators:
        idx.update(int(t) for t in op.outputs if t >= 0)
    return sorted(idx), sg


def make_model(name, spec, assets, out, command, budget_left):
    model_path = Path(assets) / "models" / spec["file"]
    model_bytes = model_path.read_bytes()
    model_sha = hashlib.sha256(model_bytes).hexdigest()
    imgs = list_images(Path(assets) / "foolbox", spec["images"])

    ip = runtime.Interpreter.from_bytes(model_bytes)
    in_det = ip.get_input_details(0)
    out_det = ip.get_output_details(0)
    in_dtype = np.dtype(in_det["dtype"]).type
    out_dtype = np.dtype(out_det["dtype"])

    pixels = np.stack([load_pixels(p, spec["size"]) for _, _, p in imgs])
    expect_hw = tuple(int(s) for s in in_det["shape"][1:3])
    assert pixels.shape[1:3] == expect_hw, (pixels.shape, expect_hw)

    # Layer outputs with the default (allocation-recording) interpreter.
    outputs = []
    alloc_text = None
    for i in range(len(imgs)):
        ip.set_input(to_input(pixels[i : i + 1], in_dtype), 0)
        ip.invoke()
        outputs.append(np.array(ip.get_output(0), copy=True)[0])
        if i == 0:
            alloc_text = capture_stderr(ip.print_allocations)
    outputs = np.stack(outputs).astype(out_dtype, copy=False)

    d = Path(out) / name
    d.mkdir(parents=True, exist_ok=True)
    np.save(d / "pixels.npy", pixels)
    np.save(d / "outputs.npy", outputs)
    (d / "tflm_allocations.txt").write_text(
        f"# tflite-micro {tflm_version.__version__}, {spec['file']}, "
        f"RecordingMicroAllocator after 1 invoke (print_allocations)\n" + alloc_text
    )

    intermediates = None
    tdir = d / "tensors"
    if tdir.exists():
        for f in tdir.glob("t*.npy"):
            f.unlink()
    if spec["intermediates"]:
        intermediates = dump_intermediates(model_bytes, pixels, in_dtype, outputs, tdir, budget_left(d))

    manifest = {
        "model": spec["file"],
        "model_sha256": model_sha,
        "input_transform": spec["input_transform"],
        "images": [{"file": p.name, "label": label} for _, label, p in imgs],
        "tflite_micro_version": tflm_version.__version__,
        "command": command,
        "intermediates": intermediates,
        "model_io": model_io(model_bytes, in_det, out_det),
    }
    (d / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")

    line = f"{name}: {len(imgs)} images, input {in_det['shape'].tolist()} {np.dtype(in_dtype).name}, output {list(outputs.shape)} {outputs.dtype}"
    if name == "resnet8_cifar10":
        pred = outputs.argmax(axis=1)
        labels = np.array([label for _, label, _ in imgs])
        line += f", argmax==label {int((pred == labels).sum())}/{len(imgs)}"
    print(line)
    if intermediates:
        print(f"{name}: intermediates for {len(intermediates['images'])} images x {len(intermediates['tensors'])} tensors")


def get_tensor(ip, t):
    """GetTensor of the kPreserveAllTensors interpreter, as an array."""
    d = ip.GetTensor(t, 0)
    arr = np.array(d["tensor_data"], copy=True)
    assert arr.dtype == np.dtype(d["dtype"]) and list(arr.shape) == list(d["shape"]), (t, d)
    return arr


def all_outputs_model(model_bytes, tensors, sg_inputs):
    """The same model with subgraph 0's outputs list set to `tensors` (minus the
    model inputs), re-serialized through the schema's object API."""
    import flatbuffers
    mo = runtime.convert_bytearray_to_object(bytearray(model_bytes))
    outs = [t for t in tensors if t not in sg_inputs]
    mo.subgraphs[0].outputs = np.array(outs, dtype=np.int32)
    b = flatbuffers.Builder(len(model_bytes) + 4096)
    b.Finish(mo.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output()), outs


def dump_intermediates(model_bytes, pixels, in_dtype, ref_outputs, tdir, budget):
    """Every op-produced tensor (plus the input) via tflite-micro's
    kPreserveAllTensors config and GetTensor(); cross-checked, for every image,
    against a copy of the model whose subgraph outputs list names all of them."""
    tensors, sg = op_produced_tensors(model_bytes)
    per_image = 0
    for t in tensors:
        ten = sg.tensors[t]
        shape = [int(s) for s in ten.shape]
        per_image += int(np.prod(shape[1:])) * np.dtype(TFL_DTYPES[ten.type]).itemsize
    k = min(len(pixels), max(0, (budget - NPY_HEADER * len(tensors)) // per_image))
    if k == 0:
        return None

    ip = runtime.Interpreter.from_bytes(
        model_bytes, intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
    sg_inputs = [int(t) for t in sg.inputs]
    out_tensor = int(sg.outputs[0])
    rewritten, rw_outs = all_outputs_model(model_bytes, tensors, sg_inputs)
    ip_rw = runtime.Interpreter.from_bytes(rewritten)
    stacks = {t: [] for t in tensors}
    for i in range(len(pixels)):
        x = to_input(pixels[i : i + 1], in_dtype)
        ip.set_input(x, 0)
        ip.invoke()
        ip_rw.set_input(x, 0)
        ip_rw.invoke()
        out = np.array(ip.get_output(0), copy=True)[0]
        # The preserving interpreter must give the same model output ...
        if not np.array_equal(out, ref_outputs[i]):
            sys.exit(f"make_goldens: image {i}: kPreserveAllTensors output differs")
        if not np.array_equal(get_tensor(ip, out_tensor), out[None]):
            sys.exit(f"make_goldens: image {i}: GetTensor(output) != get_output(0)")
        if not np.array_equal(get_tensor(ip, sg_inputs[0]), x):
            sys.exit(f"make_goldens: image {i}: GetTensor(input) != fed input")
        # ... and the rewritten model the same tensors as GetTensor.
        for j, t in enumerate(rw_outs):
            if not np.array_equal(ip_rw.get_output(j), get_tensor(ip, t)):
                sys.exit(f"make_goldens: image {i}: tensor {t}: rewritten model != GetTensor")
        if i < k:
            for t in tensors:
                stacks[t].append(get_tensor(ip, t)[0])
    tdir.mkdir(parents=True, exist_ok=True)
    for t in tensors:
        np.save(tdir / f"t{t:03d}.npy", np.stack(stacks[t]))
    return {"images": list(range(k)), "tensors": tensors}


# TensorType enum of the TFLite schema -> numpy dtype (the ones these models use)
TFL_DTYPES = {0: np.float32, 2: np.int32, 3: np.uint8, 4: np.int64, 7: np.int16, 9: np.int8}


def tree_size(path):
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--assets", default=str(REPO_ROOT / ".assets"), help="asset cache (scripts/fetch-assets.sh)")
    ap.add_argument("--out", default=str(REPO_ROOT / "goldens"), help="output directory")
    ap.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    args = ap.parse_args()

    py = sys.executable
    try:
        py = os.path.relpath(py)
    except ValueError:
        pass
    command = shlex.join([py] + sys.argv)

    out = Path(args.out)
    # Intermediates go last, into what the rest of the tree leaves of the budget.
    order = sorted(args.models, key=lambda m: MODELS[m]["intermediates"])

    arrays = 0  # pixels.npy + outputs.npy of every model
    for spec in MODELS.values():
        ip = runtime.Interpreter.from_file(str(Path(args.assets) / "models" / spec["file"]))
        h, w = (int(v) for v in ip.get_input_details(0)["shape"][1:3])
        arrays += 20 * h * w * 3 + NPY_HEADER  # uint8 pixels
        od = ip.get_output_details(0)
        arrays += 20 * int(np.prod(od["shape"][1:])) * np.dtype(od["dtype"]).itemsize + NPY_HEADER

    def budget_left(_model_dir):
        return SIZE_BUDGET - arrays - TEXT_SLACK

    for name in order:
        make_model(name, MODELS[name], args.assets, out, command, budget_left)
    print(f"goldens tree: {tree_size(out)} bytes in {out}")


if __name__ == "__main__":
    main()
