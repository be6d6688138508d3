#!/usr/bin/env python3
"""Golden outputs of the project's reference model (models/fmnist_mobilenetv2_int8.tflite)
from tflite-micro's reference interpreter, on the first N Fashion-MNIST test images.

    .venv-tools/bin/python tools/goldens/make_fmnist_goldens.py [--count 1000]

Preprocessing is the model's own (tools/train/README.md): 28x28 -> 64x64 bilinear
with half-pixel centers in exact integers, round half up, int8 = u - 128.
Writes goldens/fmnist_mobilenetv2/{outputs.npy, labels.npy, manifest.json}:
outputs int8 [N, 10] in t10k order, labels uint8 [N].
"""

import argparse
import gzip
import hashlib
import json
import shlex
import sys
from pathlib import Path

import numpy as np
from tflite_micro.python.tflite_micro import _version as tflm_version
from tflite_micro.python.tflite_micro import runtime

REPO = Path(__file__).resolve().parents[2]


def idx(path):
    data = gzip.open(path).read() if str(path).endswith(".gz") else Path(path).read_bytes()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def resize_28_to_64(p):
    """The exact integer form of tf.image.resize(bilinear, half-pixel) + round half up."""
    d = np.arange(64)
    s32 = ((2 * d + 1) * 16 * 28 - 16 * 64) // 64
    lo = np.floor_divide(s32, 32)
    w1 = s32 - 32 * lo
    i0, i1 = np.clip(lo, 0, 27), np.clip(lo + 1, 0, 27)
    p = p.astype(np.int64)
    h = p[:, :, i0] * (32 - w1) + p[:, :, i1] * w1
    v = h[:, i0, :] * (32 - w1)[None, :, None] + h[:, i1, :] * w1[None, :, None]
    return ((v + 512) >> 10).astype(np.uint8)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--data", default=str(REPO / ".assets" / "fashion-mnist"))
    ap.add_argument("--model", default=str(REPO / "models" / "fmnist_mobilenetv2_int8.tflite"))
    ap.add_argument("--out", default=str(REPO / "goldens" / "fmnist_mobilenetv2"))
    args = ap.parse_args()
    images = idx(Path(args.data) / "t10k-images-idx3-ubyte.gz")[: args.count]
    labels = idx(Path(args.data) / "t10k-labels-idx1-ubyte.gz")[: args.count]
    x = (resize_28_to_64(images).astype(np.int16) - 128).astype(np.int8)[..., None]
    model = Path(args.model).read_bytes()
    ip = runtime.Interpreter.from_bytes(model)
    outs = []
    for i in range(len(x)):
        ip.set_input(x[i:i + 1], 0)
        ip.invoke()
        outs.append(np.array(ip.get_output(0))[0])
    outs = np.stack(outs).astype(np.int8)
    top1 = float((outs.argmax(1) == labels).mean())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "outputs.npy", outs)
    np.save(out / "labels.npy", labels.astype(np.uint8))
    manifest = {
        "model": "models/fmnist_mobilenetv2_int8.tflite",
        "model_sha256": hashlib.sha256(model).hexdigest(),
        "images": int(len(x)),
        "data": "Fashion-MNIST t10k, first images in file order",
        "preprocessing": "28x28 -> 64x64 bilinear (half-pixel centers, exact integers), round half up, int8 = u - 128",
        "tflite_micro_top1": top1,
        "tflite_micro_version": tflm_version.__version__,
        "command": ".venv-tools/bin/python tools/goldens/make_fmnist_goldens.py "
        + " ".join(shlex.quote(a) for a in sys.argv[1:]),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"{len(x)} images, tflite-micro top-1 {top1:.4f}, wrote {out}")


if __name__ == "__main__":
    main()
