#!/usr/bin/env python3
"""Train, quantize (full int8) and evaluate quantmcu's reference model.

A MobileNetV2-style CNN (inverted residual blocks, ReLU6, linear bottlenecks,
residual ADDs) for Fashion-MNIST, upscaled to 64x64x1 so that the first stages
hold most of the activation memory -- the case patch-based inference is for.

Outputs (default into <repo>/models/):
  fmnist_mobilenetv2_int8.tflite   full-integer model, int8 input and output
  fmnist_mobilenetv2_int8.json     metrics, preprocessing spec, quant params, ...

Run with the venv created by tools/train/setup-venv.sh:
  .venv-train/bin/python tools/train/train_fmnist_mobilenetv2.py

Preprocessing (also written to the JSON, the Rust side reimplements it):
  28x28 uint8 image p --(bilinear x64/28, half-pixel centers, no antialias,
  exactly tf.image.resize(method="bilinear", antialias=False))--> float v that
  is always a multiple of 1/1024 --(round half up)--> uint8 u (64x64);
  float model input = u / 255; int8 model input = u - 128
  (input scale 1/255, zero point -128, checked after conversion).
"""

import argparse
import gzip
import hashlib
import json
import os
import platform
import sys
import time

SEED = 20240613
IMG = 64
SRC = 28
NUM_CLASSES = 10
VAL_SIZE = 5000
REP_SIZE = 500
ALLOWED_OPS = {
    "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "AVERAGE_POOL_2D",
    "MAX_POOL_2D", "RESHAPE", "SOFTMAX", "PAD", "MEAN", "CONCATENATION",
    "QUANTIZE", "DEQUANTIZE",
}
DATA_DIR = "/usr/share/datasets/fashion-mnist"
CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
               "Shirt", "Sneaker", "Bag", "Ankle boot"]

# MobileNetV2-style layout for 64x64x1 inputs (about 0.5x the MobileNetV2
# channel plan 16-24-32-64, expansion t <= 6). The stride-2 stem and the first
# blocks run at 32x32 / 16x16 and hold most of the activation memory; the
# network then drops to 8x8 and 4x4 maps with more channels but far fewer bytes.
# Each row: (expansion t, output channels c, repeats n, first stride s).
STEM_CHANNELS = 16
STEM_STRIDE = 2
BLOCKS = [
    (1, 12, 1, 1),   # 32x32: dw + project (t=1, as MobileNetV2's first block)
    (6, 16, 2, 2),   # 32x32 expand (72 ch) -> 16x16, then one residual block
    (6, 24, 2, 2),   # 16x16 expand -> 8x8, then one residual block
    (4, 32, 3, 1),   # 8x8, two residual blocks
    (4, 56, 2, 2),   # 8x8 expand -> 4x4, then one residual block
]
HEAD_CHANNELS = 160


def log(*a):
    print(*a, flush=True)


# ----------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------

def read_idx(path):
    import numpy as np
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    ndim = magic & 0xFF
    assert magic >> 8 == 0x08, f"{path}: not an unsigned-byte IDX file"
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    return arr.reshape(dims)


def sha16(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()[:16]


def resize_taps(n_out=IMG, n_in=SRC):
    """Integer taps of TF's half-pixel bilinear resize for one axis.

    src = (o + 0.5) * n_in / n_out - 0.5; with 28 -> 64 the fraction is an exact
    multiple of 1/32. Returns (i0, i1, w1) with weight w1/32 on i1 and
    (32 - w1)/32 on i0; indices are clamped to the image as TF does.
    """
    import numpy as np
    assert (n_in * 32) % n_out == 0 or True
    o = np.arange(n_out)
    # src * 32 * n_out = (2o + 1) * 16 * n_in - 16 * n_out; exact in integers.
    num = (2 * o + 1) * 16 * n_in - 16 * n_out     # src = num / (32 * n_out)
    assert np.all(num % n_out == 0), "fraction is not a multiple of 1/32"
    s32 = num // n_out                              # src * 32, integer
    lo = np.floor_divide(s32, 32)
    w1 = s32 - 32 * lo
    i0 = np.clip(lo, 0, n_in - 1)
    i1 = np.clip(lo + 1, 0, n_in - 1)
    return i0, i1, w1


def upscale_u8(images):
    """(N,28,28) uint8 -> (N,64,64) uint8, integer-exact TF bilinear + round half up."""
    import numpy as np
    i0, i1, w1 = resize_taps()
    p = images.astype(np.int32)
    # horizontal: units of 1/32
    h = p[:, :, i0] * (32 - w1)[None, None, :] + p[:, :, i1] * w1[None, None, :]
    # vertical: units of 1/1024
    v = h[:, i0, :] * (32 - w1)[None, :, None] + h[:, i1, :] * w1[None, :, None]
    return ((v + 512) >> 10).astype(np.uint8)


def upscale_tf(images):
    import numpy as np
    import tensorflow as tf
    out = []
    for s in range(0, len(images), 5000):
        x = tf.convert_to_tensor(images[s:s + 5000, :, :, None], tf.float32)
        r = tf.image.resize(x, [IMG, IMG], method="bilinear", antialias=False)
        out.append(tf.floor(r + 0.5).numpy().astype(np.uint8)[..., 0])
    return np.concatenate(out)


def load_data():
    import numpy as np
    files = {
        "train_images": "train-images-idx3-ubyte.gz",
        "train_labels": "train-labels-idx1-ubyte.gz",
        "test_images": "t10k-images-idx3-ubyte.gz",
        "test_labels": "t10k-labels-idx1-ubyte.gz",
    }
    d = {k: read_idx(os.path.join(DATA_DIR, v)) for k, v in files.items()}
    shas = {v: sha16(os.path.join(DATA_DIR, v)) for v in files.values()}
    assert d["train_images"].shape == (60000, 28, 28)
    assert d["test_images"].shape == (10000, 28, 28)
    return d, shas


def augment(x_u8, rng, max_shift=4):
    """Random horizontal flip (p=0.5) and random shift in [-4, 4] px (zero fill)."""
    import numpy as np
    n = len(x_u8)
    out = np.empty_like(x_u8)
    flip = rng.random(n) < 0.5
    dy = rng.integers(-max_shift, max_shift + 1, n)
    dx = rng.integers(-max_shift, max_shift + 1, n)
    pad = np.pad(x_u8, ((0, 0), (max_shift, max_shift), (max_shift, max_shift)))
    for i in range(n):
        img = pad[i, max_shift + dy[i]: max_shift + dy[i] + IMG,
                  max_shift + dx[i]: max_shift + dx[i] + IMG]
        out[i] = img[:, ::-1] if flip[i] else img
    return out


# ----------------------------------------------------------------------------
# model
# ----------------------------------------------------------------------------

def build_model(weight_decay):
    import tensorflow as tf
    L = tf.keras.layers
    reg = tf.keras.regularizers.l2(weight_decay) if weight_decay > 0 else None

    def conv_bn(x, c, k, s, name, act=True):
        x = L.Conv2D(c, k, strides=s, padding="same", use_bias=False,
                     kernel_regularizer=reg, name=name)(x)
        x = L.BatchNormalization(momentum=0.99, epsilon=1e-3, name=name + "_bn")(x)
        if act:
            x = L.ReLU(6.0, name=name + "_relu6")(x)
        return x

    def dw_bn(x, s, name):
        x = L.DepthwiseConv2D(3, strides=s, padding="same", use_bias=False,
                              name=name)(x)
        x = L.BatchNormalization(momentum=0.99, epsilon=1e-3, name=name + "_bn")(x)
        return L.ReLU(6.0, name=name + "_relu6")(x)

    inp = L.Input((IMG, IMG, 1), name="image")  # pixel / 255 in [0, 1]
    x = conv_bn(inp, STEM_CHANNELS, 3, STEM_STRIDE, "stem")
    cin = STEM_CHANNELS
    bi = 0
    for t, c, n, s in BLOCKS:
        for r in range(n):
            stride = s if r == 0 else 1
            name = f"b{bi}"
            y = x
            if t != 1:
                y = conv_bn(y, cin * t, 1, 1, name + "_expand")
            y = dw_bn(y, stride, name + "_dw")
            y = conv_bn(y, c, 1, 1, name + "_project", act=False)
            if stride == 1 and cin == c:
                y = L.Add(name=name + "_add")([x, y])
            x = y
            cin = c
            bi += 1
    x = conv_bn(x, HEAD_CHANNELS, 1, 1, "head")
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = L.Dropout(0.1, name="dropout")(x)
    x = L.Dense(NUM_CLASSES, kernel_regularizer=reg, name="logits")(x)
    out = L.Softmax(name="softmax")(x)
    return tf.keras.Model(inp, out, name="fmnist_mobilenetv2")


# ----------------------------------------------------------------------------
# tflite graph analysis
# ----------------------------------------------------------------------------

def analyze_tflite(path):
    """Ops, MACs and per-layer int8 activation bytes (inputs + outputs) of a .tflite."""
    import numpy as np
    import tensorflow as tf
    interp = tf.lite.Interpreter(
        model_path=path,
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interp.allocate_tensors()
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    ops = interp._get_ops_details()
    graph_inputs = {d["index"] for d in interp.get_input_details()}
    produced = set()
    for op in ops:
        produced.update(int(i) for i in op["outputs"])
    act = graph_inputs | produced

    def nbytes(i):
        t = tensors[i]
        return int(np.prod(t["shape"])) * np.dtype(t["dtype"]).itemsize

    layers = []
    for op in ops:
        name = op["op_name"]
        ins = [int(i) for i in op["inputs"] if int(i) >= 0 and int(i) in act]
        outs = [int(i) for i in op["outputs"]]
        out_shape = [int(v) for v in tensors[outs[0]]["shape"]]
        in_shape = [int(v) for v in tensors[ins[0]]["shape"]] if ins else []
        macs = 0
        if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            w = tensors[int(op["inputs"][1])]["shape"]  # conv: [O,kh,kw,I]; dw: [1,kh,kw,O]
            oh, ow, oc = out_shape[1], out_shape[2], out_shape[3]
            if name == "CONV_2D":
                macs = oh * ow * oc * int(w[1]) * int(w[2]) * int(w[3])
            else:
                macs = oh * ow * oc * int(w[1]) * int(w[2])
        elif name == "FULLY_CONNECTED":
            w = tensors[int(op["inputs"][1])]["shape"]
            macs = int(w[0]) * int(w[1])
        in_b = sum(nbytes(i) for i in ins)
        out_b = sum(nbytes(i) for i in outs)
        layers.append({
            "index": int(op["index"]), "op": name,
            "input_shape": in_shape, "output_shape": out_shape,
            "macs": int(macs), "input_bytes": int(in_b), "output_bytes": int(out_b),
            "in_plus_out_bytes": int(in_b + out_b),
        })
    return interp, layers


def stage_summary(layers):
    """Peak (input+output) int8 bytes per stage = spatial size of the op's input."""
    stages = {}
    for l in layers:
        if l["op"] in ("QUANTIZE", "DEQUANTIZE"):
            continue
        shp = l["input_shape"]
        res = shp[1] if len(shp) == 4 else 1
        key = f"{res}x{res}"
        s = stages.setdefault(key, {"resolution": res, "peak_bytes": 0, "macs": 0,
                                    "ops": 0, "peak_op_index": None})
        s["macs"] += l["macs"]
        s["ops"] += 1
        if l["in_plus_out_bytes"] > s["peak_bytes"]:
            s["peak_bytes"] = l["in_plus_out_bytes"]
            s["peak_op_index"] = l["index"]
    return dict(sorted(stages.items(), key=lambda kv: -kv[1]["resolution"]))


# ----------------------------------------------------------------------------
# evaluation
# ----------------------------------------------------------------------------

def eval_tflite(path, x_u8, resolver=None):
    import numpy as np
    import tensorflow as tf
    kw = {}
    R = tf.lite.experimental.OpResolverType
    if resolver == "ref":
        kw["experimental_op_resolver_type"] = R.BUILTIN_REF
    elif resolver == "builtin":
        kw["experimental_op_resolver_type"] = R.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interp = tf.lite.Interpreter(model_path=path, num_threads=1, **kw)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]
    preds = np.empty(len(x_u8), np.int64)
    outs = np.empty((len(x_u8), NUM_CLASSES), np.int8)
    for i in range(len(x_u8)):
        q = (x_u8[i].astype(np.int16) - 128).astype(np.int8)
        interp.set_tensor(inp["index"], q[None, :, :, None])
        interp.invoke()
        o = interp.get_tensor(out["index"])[0]
        outs[i] = o
        preds[i] = int(np.argmax(o))
    return preds, outs


def eval_micro(path, x_u8):
    import numpy as np
    from tflite_micro import runtime
    interp = runtime.Interpreter.from_file(path)
    preds = np.empty(len(x_u8), np.int64)
    outs = np.empty((len(x_u8), NUM_CLASSES), np.int8)
    for i in range(len(x_u8)):
        q = (x_u8[i].astype(np.int16) - 128).astype(np.int8)
        interp.set_input(q[None, :, :, None], 0)
        interp.invoke()
        o = interp.get_output(0)[0]
        outs[i] = o
        preds[i] = int(np.argmax(o))
    return preds, outs


# ----------------------------------------------------------------------------
# main
# ----------------------------------------------------------------------------

def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.abspath(os.path.join(here, "..", ".."))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (AdamW)")
    ap.add_argument("--weight-decay", type=float, default=5e-4,
                    help="decoupled weight decay (AdamW, multiplied by the lr schedule)")
    ap.add_argument("--label-smoothing", type=float, default=0.05)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out-dir", default=os.path.join(root, "models"))
    ap.add_argument("--name", default="fmnist_mobilenetv2_int8")
    ap.add_argument("--micro-images", type=int, default=10000,
                    help="test images run through tflite-micro (first N)")
    ap.add_argument("--train-subset", type=int, default=0,
                    help="use only the first N training images (smoke tests)")
    ap.add_argument("--keras-model", default=os.path.join(
        os.environ.get("TMPDIR", "/tmp"), "quantmcu-fmnist", "float_model.h5"),
        help="where the trained float Keras model is saved (not committed)")
    ap.add_argument("--skip-train", action="store_true",
                    help="load --keras-model instead of training (re-run conversion/eval)")
    ap.add_argument("--bench-steps", type=int, default=0,
                    help="only time N training steps and exit")
    args = ap.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf

    tf.keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    log(f"tensorflow {tf.__version__}, numpy {np.__version__}, python {platform.python_version()}")

    # ---------------- data ----------------
    t0 = time.time()
    d, shas = load_data()
    x_train_all = upscale_u8(d["train_images"])
    x_test = upscale_u8(d["test_images"])
    # The integer resize must equal TF's resize on every image (the spec).
    assert np.array_equal(x_test, upscale_tf(d["test_images"])), "resize mismatch (test)"
    assert np.array_equal(x_train_all, upscale_tf(d["train_images"])), "resize mismatch (train)"
    y_train_all = d["train_labels"].astype(np.int64)
    y_test = d["test_labels"].astype(np.int64)
    log(f"data ready in {time.time() - t0:.1f}s; integer resize == tf.image.resize on all 70k images")

    # Fixed split: a permutation of the 60k training indices with SEED; the
    # first 5000 are validation, the other 55000 train. Representative set for
    # int8 calibration: the first 500 of the training part (no augmentation).
    perm = np.random.default_rng(SEED).permutation(60000)
    val_idx = np.sort(perm[:VAL_SIZE])
    tr_idx = np.sort(perm[VAL_SIZE:])
    if args.train_subset:
        tr_idx = tr_idx[: args.train_subset]
    rep_idx = np.sort(perm[VAL_SIZE:VAL_SIZE + REP_SIZE])
    x_tr, y_tr = x_train_all[tr_idx], y_train_all[tr_idx]
    x_val, y_val = x_train_all[val_idx], y_train_all[val_idx]
    split_sha = hashlib.sha256(val_idx.astype("<i4").tobytes()).hexdigest()[:16]

    # ---------------- model ----------------
    model = build_model(0.0)
    n_params = int(model.count_params())
    n_trainable = int(sum(int(np.prod(w.shape)) for w in model.trainable_weights))
    log(f"model: {n_params} params ({n_trainable} trainable)")

    steps_per_epoch = int(np.ceil(len(x_tr) / args.batch_size))
    total_steps = steps_per_epoch * args.epochs
    warmup = steps_per_epoch // 2
    lr = tf.keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=args.lr / 20, decay_steps=total_steps - warmup,
        alpha=0.0, warmup_target=args.lr, warmup_steps=warmup)
    opt = tf.keras.optimizers.AdamW(learning_rate=lr, weight_decay=args.weight_decay)
    model.compile(optimizer=opt,
                  loss=tf.keras.losses.CategoricalCrossentropy(label_smoothing=args.label_smoothing),
                  metrics=["accuracy"], steps_per_execution=8)

    def ds(x_u8, y, shuffle_seed=None):
        x = tf.data.Dataset.from_tensor_slices((x_u8[..., None], tf.one_hot(y, NUM_CLASSES)))
        if shuffle_seed is not None:
            x = x.shuffle(len(x_u8), seed=shuffle_seed, reshuffle_each_iteration=False)
        x = x.batch(args.batch_size).map(
            lambda a, b: (tf.cast(a, tf.float32) / 255.0, b),
            num_parallel_calls=1, deterministic=True)
        return x.prefetch(2)

    val_ds = ds(x_val, y_val)

    if args.bench_steps:
        xb = ds(x_tr[: args.batch_size * (args.bench_steps + 2)], y_tr[: args.batch_size * (args.bench_steps + 2)])
        it = iter(xb)
        b = next(it)
        model.train_on_batch(*b)
        t1 = time.time()
        for _ in range(args.bench_steps):
            model.train_on_batch(*next(it))
        dt = (time.time() - t1) / args.bench_steps
        log(f"bench: {dt * 1000:.0f} ms/step, {dt * steps_per_epoch / 60:.1f} min/epoch "
            f"({steps_per_epoch} steps)")
        return

    # ---------------- train ----------------
    aug_rng = np.random.default_rng(SEED + 1)
    history = []
    t_train = time.time()
    prev = None
    if args.skip_train:
        model.load_weights(args.keras_model)
        prev_json = os.path.join(args.out_dir, args.name + ".json")
        if os.path.exists(prev_json):
            with open(prev_json) as f:
                prev = json.load(f)["training"]
    for ep in range(0 if args.skip_train else args.epochs):
        te = time.time()
        x_aug = augment(x_tr, aug_rng)
        h = model.fit(ds(x_aug, y_tr, shuffle_seed=SEED + 100 + ep), epochs=ep + 1,
                      initial_epoch=ep, validation_data=val_ds, verbose=2)
        rec = {k: float(v[-1]) for k, v in h.history.items()}
        rec["epoch"] = ep + 1
        rec["seconds"] = round(time.time() - te, 1)
        history.append(rec)
        log(f"epoch {ep + 1}/{args.epochs}: {rec}")
    train_seconds = time.time() - t_train
    if prev is not None:
        train_seconds, history = prev["train_seconds"], prev["history"]
    else:
        os.makedirs(os.path.dirname(args.keras_model), exist_ok=True)
        model.save_weights(args.keras_model)
    log(f"training took {train_seconds / 60:.1f} min")

    test_ds = ds(x_test, y_test)
    float_probs = model.predict(test_ds, verbose=0)
    float_acc = float(np.mean(np.argmax(float_probs, 1) == y_test))
    float_val_acc = float(np.mean(np.argmax(model.predict(val_ds, verbose=0), 1) == y_val))
    log(f"float test accuracy {float_acc:.4f}, val {float_val_acc:.4f}")

    # ---------------- int8 conversion ----------------
    rep = x_train_all[rep_idx]

    def rep_data():
        for i in range(len(rep)):
            yield [rep[i][None, :, :, None].astype(np.float32) / 255.0]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep_data
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    tfl = conv.convert()
    os.makedirs(args.out_dir, exist_ok=True)
    tfl_path = os.path.join(args.out_dir, args.name + ".tflite")
    with open(tfl_path, "wb") as f:
        f.write(tfl)
    log(f"wrote {tfl_path} ({len(tfl)} bytes)")

    interp, layers = analyze_tflite(tfl_path)
    op_set = sorted({l["op"] for l in layers})
    bad = sorted(set(op_set) - ALLOWED_OPS)
    if bad:
        raise SystemExit(f"FATAL: converted model contains unsupported ops: {bad}")
    op_counts = {}
    for l in layers:
        op_counts[l["op"]] = op_counts.get(l["op"], 0) + 1
    inp = interp.get_input_details()[0]
    outp = interp.get_output_details()[0]
    in_scale, in_zp = (float(v) for v in inp["quantization"])
    out_scale, out_zp = (float(v) for v in outp["quantization"])
    log(f"ops: {op_counts}")
    log(f"input  {inp['dtype'].__name__} {list(inp['shape'])} scale={in_scale!r} zero_point={int(in_zp)}")
    log(f"output {outp['dtype'].__name__} {list(outp['shape'])} scale={out_scale!r} zero_point={int(out_zp)}")
    if inp["dtype"] != np.int8 or outp["dtype"] != np.int8:
        raise SystemExit("FATAL: model I/O is not int8")
    if int(in_zp) != -128 or abs(in_scale - 1.0 / 255.0) > 1e-9:
        raise SystemExit(f"FATAL: input quantization is not (1/255, -128): {in_scale}, {in_zp}")
    total_macs = sum(l["macs"] for l in layers)

    log("\nper-layer int8 activation bytes (non-constant inputs + outputs):")
    log(f"{'#':>3} {'op':<18} {'input':<16} {'output':<16} {'MACs':>9} {'in+out B':>9}")
    for l in layers:
        log(f"{l['index']:>3} {l['op']:<18} {str(l['input_shape'][1:]):<16} "
            f"{str(l['output_shape'][1:]):<16} {l['macs']:>9} {l['in_plus_out_bytes']:>9}")
    stages = stage_summary(layers)
    log("\nper-stage peak (by input resolution):")
    for k, s in stages.items():
        log(f"  {k:>6}: peak {s['peak_bytes']:>7} B  MACs {s['macs']:>9}  ops {s['ops']}")
    early = max(s["peak_bytes"] for s in stages.values() if s["resolution"] >= 32)
    late = max(s["peak_bytes"] for s in stages.values() if s["resolution"] <= 8)
    ratio = early / late
    log(f"peak early (>=32x32) {early} B / peak late (<=8x8) {late} B = {ratio:.2f}x")
    log(f"total MACs {total_macs}, layer-based peak {max(l['in_plus_out_bytes'] for l in layers)} B")
    if ratio < 4:
        raise SystemExit(f"FATAL: early/late peak ratio {ratio:.2f} < 4")

    # ---------------- int8 evaluation ----------------
    t1 = time.time()
    q_preds, q_outs = eval_tflite(tfl_path, x_test)
    tfl_seconds = time.time() - t1
    int8_acc = float(np.mean(q_preds == y_test))
    log(f"int8 TFLite (default, XNNPACK) test accuracy {int8_acc:.4f} ({tfl_seconds:.0f}s)")
    t1 = time.time()
    b_preds, b_outs = eval_tflite(tfl_path, x_test, resolver="builtin")
    builtin_acc = float(np.mean(b_preds == y_test))
    log(f"int8 TFLite BUILTIN_WITHOUT_DEFAULT_DELEGATES accuracy {builtin_acc:.4f} ({time.time() - t1:.0f}s)")
    t1 = time.time()
    r_preds, r_outs = eval_tflite(tfl_path, x_test, resolver="ref")
    ref_acc = float(np.mean(r_preds == y_test))
    log(f"int8 TFLite BUILTIN_REF accuracy {ref_acc:.4f} ({time.time() - t1:.0f}s)")

    n_micro = min(args.micro_images, len(x_test))
    micro = None
    if n_micro > 0:
        t1 = time.time()
        m_preds, m_outs = eval_micro(tfl_path, x_test[:n_micro])
        micro_seconds = time.time() - t1
        micro = {
            "images": n_micro,
            "accuracy": float(np.mean(m_preds == y_test[:n_micro])),
            "tflite_accuracy_same_images": float(np.mean(q_preds[:n_micro] == y_test[:n_micro])),
            "prediction_differs_from_tflite": int(np.sum(m_preds != q_preds[:n_micro])),
            "output_bytes_differ_from_tflite": int(np.sum(np.any(m_outs != q_outs[:n_micro], 1))),
            "prediction_differs_from_tflite_builtin": int(np.sum(m_preds != b_preds[:n_micro])),
            "output_bytes_differ_from_tflite_builtin": int(np.sum(np.any(m_outs != b_outs[:n_micro], 1))),
            "prediction_differs_from_tflite_builtin_ref": int(np.sum(m_preds != r_preds[:n_micro])),
            "output_bytes_differ_from_tflite_builtin_ref": int(np.sum(np.any(m_outs != r_outs[:n_micro], 1))),
            "seconds": round(micro_seconds, 1),
        }
        log(f"tflite-micro: {micro}")

    # ---------------- report ----------------
    per_class = {CLASS_NAMES[c]: float(np.mean(q_preds[y_test == c] == c)) for c in range(NUM_CLASSES)}
    report = {
        "model": os.path.relpath(tfl_path, root),
        "model_bytes": len(tfl),
        "model_sha256": hashlib.sha256(tfl).hexdigest(),
        "dataset": {
            "name": "Fashion-MNIST",
            "source": "Debian package dataset-fashion-mnist, " + DATA_DIR,
            "files_sha256_16": shas,
            "split": (f"np.random.default_rng({SEED}).permutation(60000): first {VAL_SIZE} "
                      f"indices = validation, remaining {60000 - VAL_SIZE} = training; "
                      "test = the 10000 t10k images"),
            "validation_indices_sha256_16": split_sha,
            "train_images": int(len(tr_idx)),
            "validation_images": VAL_SIZE,
            "test_images": int(len(x_test)),
            "representative_dataset": (f"training images perm[{VAL_SIZE}:{VAL_SIZE + REP_SIZE}] "
                                       f"sorted ({REP_SIZE} images, no augmentation)"),
        },
        "preprocessing": {
            "summary": ("uint8 28x28 -> bilinear resize to 64x64 (tf.image.resize, method=bilinear, "
                        "antialias=False, i.e. half_pixel_centers=True, align_corners=False) -> round "
                        "half up to uint8 u -> int8 input q = u - 128 (float model input = u / 255)"),
            "resize": {
                "op": "tf.image.resize(x, [64, 64], method='bilinear', antialias=False)",
                "half_pixel_centers": True, "align_corners": False, "antialias": False,
                "source_coordinate": "src = (dst + 0.5) * 28 / 64 - 0.5 (= (dst + 0.5) * 7/16 - 0.5)",
                "integer_form": ("per axis: s32 = ((2*dst + 1) * 16 * 28 - 16 * 64) / 64 (exact integer "
                                 "= 32*src); lo = floor(s32 / 32); w1 = s32 - 32*lo (0..31); "
                                 "i0 = clamp(lo, 0, 27); i1 = clamp(lo + 1, 0, 27); "
                                 "h[y][x] = p[y][i0(x)]*(32 - w1(x)) + p[y][i1(x)]*w1(x); "
                                 "v[y][x] = h[i0(y)][x]*(32 - w1(y)) + h[i1(y)][x]*w1(y) "
                                 "(= 1024 * TF's float result, exactly); u = (v + 512) >> 10"),
                "rounding": "round half up: u = floor(resized + 0.5), resized in [0, 255]",
                "verified": "integer form == floor(tf.image.resize(...) + 0.5) on all 70000 images",
            },
            "float_model_input": "u / 255.0 (float32, NHWC 1x64x64x1)",
            "int8_model_input": "q = u - 128 (int8, NHWC 1x64x64x1)",
            "augmentation_training_only": ("on the 64x64 uint8 image: horizontal flip with p=0.5, "
                                           "shift by dy, dx uniform in [-4, 4] px, zero fill"),
        },
        "input_quantization": {"dtype": "int8", "shape": [int(v) for v in inp["shape"]],
                               "scale": in_scale, "zero_point": int(in_zp)},
        "output_quantization": {"dtype": "int8", "shape": [int(v) for v in outp["shape"]],
                                "scale": out_scale, "zero_point": int(out_zp),
                                "meaning": "softmax probabilities, prob = scale * (q - zero_point)"},
        "classes": CLASS_NAMES,
        "accuracy": {
            "float_test": float_acc,
            "float_validation": float_val_acc,
            "int8_tflite_test": int8_acc,
            "int8_tflite_builtin_test": builtin_acc,
            "int8_tflite_builtin_ref_test": ref_acc,
            "tflite_resolvers": ("int8_tflite_test: tf.lite.Interpreter defaults (XNNPACK delegate); "
                                 "builtin: BUILTIN_WITHOUT_DEFAULT_DELEGATES; builtin_ref: BUILTIN_REF "
                                 "(reference kernels)"),
            "int8_tflite_test_per_class": per_class,
            "int8_tflite_micro": micro,
            "test_images": int(len(x_test)),
        },
        "architecture": {
            "family": "MobileNetV2-style (inverted residuals, linear bottlenecks, ReLU6)",
            "input": [IMG, IMG, 1],
            "stem": {"conv3x3_stride": STEM_STRIDE, "channels": STEM_CHANNELS},
            "blocks_t_c_n_s": [list(b) for b in BLOCKS],
            "head_1x1_channels": HEAD_CHANNELS,
            "classifier": "GlobalAveragePooling (MEAN) -> Dense 10 -> Softmax",
            "width_multiplier_vs_mobilenetv2": "about 0.5 (channels 16-12-16-24-32-56, head 160)",
        },
        "ops": op_counts,
        "macs": int(total_macs),
        "parameters": n_params,
        "parameters_trainable": n_trainable,
        "activation_memory_int8": {
            "definition": ("per op: bytes of its non-constant int8 inputs + outputs; stage = "
                           "spatial size of the op's input"),
            "layer_based_peak_bytes": int(max(l["in_plus_out_bytes"] for l in layers)),
            "stages": stages,
            "early_peak_bytes_ge_32x32": int(early),
            "late_peak_bytes_le_8x8": int(late),
            "early_over_late": round(ratio, 3),
            "layers": layers,
        },
        "training": {
            "seed": SEED,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "optimizer": f"AdamW(weight_decay={args.weight_decay})",
            "lr_schedule": (f"linear warmup {args.lr / 20:g} -> {args.lr:g} over {warmup} steps, "
                            f"cosine decay to 0 over {total_steps - warmup} steps"),
            "loss": f"categorical cross-entropy, label_smoothing={args.label_smoothing}",
            "train_seconds": round(train_seconds, 1),
            "threads": args.threads,
            "determinism": ("tf.keras.utils.set_random_seed(SEED); "
                            "tf.config.experimental.enable_op_determinism(); "
                            "numpy Generator(SEED + 1) for augmentation; "
                            "tf.data shuffle seed SEED + 100 + epoch"),
            "history": history,
        },
        "conversion": ("TFLiteConverter.from_keras_model; optimizations=[DEFAULT]; "
                       "supported_ops=[TFLITE_BUILTINS_INT8]; inference_input_type=int8; "
                       "inference_output_type=int8; representative_dataset above"),
        "command": "python " + " ".join([os.path.relpath(os.path.abspath(__file__), root)] + sys.argv[1:]),
        "versions": {"tensorflow": tf.__version__, "numpy": np.__version__,
                     "python": platform.python_version(),
                     "tflite_micro": _version("tflite-micro")},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "tflite_int8_test_predictions": "".join(str(int(p)) for p in q_preds),
    }
    json_path = os.path.join(args.out_dir, args.name + ".json")
    with open(json_path, "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    log(f"wrote {json_path}")
    if int8_acc < 0.90:
        raise SystemExit(f"FATAL: int8 accuracy {int8_acc:.4f} < 0.90")


def _version(dist):
    try:
        from importlib.metadata import version
        return version(dist)
    except Exception:  # noqa: BLE001
        return None


if __name__ == "__main__":
    main()
