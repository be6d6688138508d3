#!/usr/bin/env python3
"""Operator zoo: tiny full-integer int8 .tflite models made with TensorFlow's
converter, plus tflite-micro (reference kernels) goldens for every tensor an
operator writes. Each model exercises operators and options of quantmcu's
supported set (see goldens/zoo/README.md) that the two public models do not.

Two stages, each in the environment that has what it needs (run from the repo
root; both are deterministic):

    # 1. build + convert (tensorflow-cpu 2.15.1, tools/train/requirements.txt)
    .venv-train/bin/python tools/goldens/make_op_zoo.py convert --out goldens/zoo
    # 2. goldens with tflite-micro, cross-check with LiteRT BUILTIN_REF
    #    (tools/requirements.txt)
    .venv-tools/bin/python tools/goldens/make_op_zoo.py goldens --out goldens/zoo

`convert` writes <out>/<name>.tflite for every model and <out>/index.json; it
fails if a converted model holds an operator outside the supported set, or lacks
an operator/option the model is meant to cover (`expect` in SPECS). What the
converter cannot produce is listed in NOT_PRODUCED (and the README).

`goldens` writes, per model, <out>/<name>/:
  inputs.npy (or inputs_0.npy, inputs_1.npy, ... for several inputs)
                    [K, ...input shape without batch...] in the input dtype, K = 3
                    (a spec's "k" overrides it: 1 for the 180x180 model)
  tensors/tNNN.npy  tensor NNN of subgraph 0, stacked [K, ...shape without batch...],
                    for the model input(s) and every tensor an operator writes
  manifest.json     model, ops, inputs, tensors, versions, command, op details
and <out>/README.md. It cross-checks tflite-micro against itself (GetTensor vs
get_output, an all-outputs copy of the model) and compares every tensor with
LiteRT's reference kernels (BUILTIN_REF) where LiteRT is installed.
"""

import argparse
import hashlib
import json
import os
import shlex
import sys
import zlib
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]

K = 3  # inputs per model, unless its spec sets "k"
N_CALIB = 48  # representative samples per model
MODEL_MAX_BYTES = 100 * 1024  # per model: .tflite + its goldens directory, unless its spec sets "max_bytes"
ZOO_MAX_BYTES = 2 * 1024 * 1024
# tflite-micro arena for every interpreter: far above any zoo model's needs (the
# 180x180 model keeps ~120 KB of tensors alive under kPreserveAllTensors), where
# the runtime's default (10x the model size) is too small for that model.
TFLM_ARENA_BYTES = 1 << 20

SUPPORTED_OPS = [
    "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "AVERAGE_POOL_2D",
    "MAX_POOL_2D", "RESHAPE", "SOFTMAX", "PAD", "MEAN", "CONCATENATION",
    "QUANTIZE", "DEQUANTIZE",
]

# TensorType enum of the TFLite schema -> numpy dtype
TFL_DTYPES = {0: np.float32, 2: np.int32, 3: np.uint8, 4: np.int64, 7: np.int16, 9: np.int8}


def model_seed(name):
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


# ---------------------------------------------------------------------------
# Model specs. Each builder gets the Keras namespace and returns a Model whose
# inputs have a fixed batch size of 1. `inputs` lists (keras name, shape without
# batch, calibration low, calibration high). `io` is the converter's
# inference_input_type / inference_output_type. `expect` lists checks on the
# converted graph (see check_expect); `covers` is the README text.
# ---------------------------------------------------------------------------


def b_conv_kernels(tf, L):
    x = L.Input((11, 10, 3), batch_size=1, name="x")
    y = L.Conv2D(6, 7, padding="same", name="k7_same_none")(x)
    # 11x10 -> 6x5: pad H 2/2, W 1/2 (asymmetric)
    y = L.Conv2D(8, 5, strides=2, padding="same", activation=tf.nn.relu6, name="k5_s2_same_relu6")(y)
    # 6x5 -> 3x3: pad H 0/1, W 1/1
    y = L.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="k3_s2_same_relu")(y)
    y = L.Conv2D(5, 1, padding="valid", use_bias=False, name="k1_valid_nobias")(y)
    return tf.keras.Model(x, y)


def b_conv_valid_dilated(tf, L):
    x = L.Input((12, 13, 4), batch_size=1, name="x")
    a = L.Conv2D(8, 3, dilation_rate=2, padding="same", activation="relu", name="k3_d2_same_relu")(x)
    # effective kernel 5x3, VALID: 12x13 -> 8x11
    b = L.Conv2D(4, 3, dilation_rate=(2, 1), padding="valid", use_bias=False, name="k3_d2x1_valid_nobias")(a)
    # 5x3 kernel, stride (2,3), VALID: 12x13 -> 4x4
    c = L.Conv2D(6, (5, 3), strides=(2, 3), padding="valid", activation=tf.nn.relu6, name="k5x3_s2x3_valid_relu6")(x)
    # stride 3 SAME: 12x13 -> 4x5, pad H 1/1 (k5: 9+5-12=2), W 2/2 (12+5-13=4)
    d = L.Conv2D(3, 5, strides=3, padding="same", name="k5_s3_same_none")(x)
    return tf.keras.Model(x, [b, c, d])


def b_conv_grouped(tf, L):
    x = L.Input((7, 7, 8), batch_size=1, name="x")
    y = L.Conv2D(8, 3, groups=2, padding="same", activation="relu", name="g2_k3_same_relu")(x)
    y = L.Conv2D(12, 1, groups=4, padding="valid", name="g4_k1_valid_none")(y)
    return tf.keras.Model(x, y)


def b_depthwise(tf, L):
    x = L.Input((10, 9, 4), batch_size=1, name="x")
    a = L.DepthwiseConv2D(3, padding="same", activation=tf.nn.relu6, name="dw_m1_k3_same_relu6")(x)
    # 10x9 -> 5x5: pad H 0/1, W 1/1
    b = L.DepthwiseConv2D(3, strides=2, depth_multiplier=2, padding="same", activation="relu",
                          name="dw_m2_k3_s2_same_relu")(a)
    c = L.DepthwiseConv2D(3, dilation_rate=2, padding="same", name="dw_m1_k3_d2_same_none")(b)
    d = L.DepthwiseConv2D(5, depth_multiplier=2, padding="valid", use_bias=False, name="dw_m2_k5_valid_nobias")(x)
    return tf.keras.Model(x, [c, d])


def b_dense(tf, L):
    x = L.Input((4, 4, 3), batch_size=1, name="x")
    y = L.Flatten(name="flatten")(x)
    y = L.Dense(16, activation="relu", name="fc_relu")(y)
    y = L.Dense(12, activation=tf.nn.relu6, use_bias=False, name="fc_nobias_relu6")(y)
    y = L.Dense(10, name="fc_none")(y)
    y = L.Softmax(name="softmax")(y)
    return tf.keras.Model(x, y)


def b_dense_3d(tf, L):
    x = L.Input((5, 12), batch_size=1, name="x")
    y = L.Dense(8, activation=tf.nn.relu6, name="fc3d_relu6")(x)
    y = L.Dense(6, use_bias=False, name="fc3d_nobias")(y)
    y = L.Reshape((30,), name="reshape")(y)
    y = L.Dense(4, name="fc_none")(y)
    return tf.keras.Model(x, y)


def b_add_broadcast(tf, L):
    a = L.Input((6, 5, 8), batch_size=1, name="a")
    b = L.Input((1, 1, 8), batch_size=1, name="b")
    c = L.Input((6, 5, 1), batch_size=1, name="c")
    s1 = tf.nn.relu(b + a)  # [1,1,1,C] + [1,H,W,C], scales ~64x apart, fused RELU
    s2 = s1 + c  # [1,H,W,C] + [1,H,W,1]
    bias = np.linspace(-0.75, 0.5, 8, dtype=np.float32).reshape(1, 1, 1, 8)
    s3 = tf.nn.relu6(a + tf.constant(bias))  # constant [1,1,1,C] operand, fused RELU6
    s4 = s2 + s3  # same shape, different scales
    return tf.keras.Model([a, b, c], [s4])


def b_pool(tf, L):
    x = L.Input((9, 10, 6), batch_size=1, name="x")
    # 9x10 -> 5x5, pad H 1/1, W 0/1
    p1 = L.MaxPool2D(3, 2, padding="same", name="max_k3_s2_same")(x)
    p2 = L.AveragePooling2D(3, 2, padding="same", name="avg_k3_s2_same")(x)
    # 9x10 -> 3x4, pad H 0/1 (6+4-9=1), W 1/2 (9+4-10=3)
    p3 = L.AveragePooling2D(4, 3, padding="same", name="avg_k4_s3_same")(x)
    p4 = L.MaxPool2D((2, 4), (1, 3), padding="same", name="max_k2x4_s1x3_same")(x)
    # VALID, stride != kernel
    p5 = L.MaxPool2D(2, 3, padding="valid", name="max_k2_s3_valid")(x)
    p6 = L.AveragePooling2D((3, 2), (2, 1), padding="valid", name="avg_k3x2_s2x1_valid")(x)
    return tf.keras.Model(x, [p1, p2, p3, p4, p5, p6])


def b_pad_concat(tf, L):
    x = L.Input((6, 7, 4), batch_size=1, name="x")
    y = L.Input((6, 7, 3), batch_size=1, name="y")
    p = L.ZeroPadding2D(((1, 2), (0, 3)), name="pad_asym")(x)  # 6x7 -> 9x10
    p = L.Conv2D(4, 3, strides=2, padding="valid", activation="relu", name="conv_after_pad")(p)  # 4x4
    z = L.Conv2D(5, 1, name="conv1x1")(x)
    c1 = L.Concatenate(axis=-1, name="concat_channels")([x, y, z])  # 3 inputs, different scales
    w = L.Conv2D(4, 3, padding="same", name="conv3x3")(y)
    c2 = L.Concatenate(axis=1, name="concat_height")([x, w])  # [1,12,7,4]
    return tf.keras.Model([x, y], [p, c1, c2])


def b_mean(tf, L):
    x = L.Input((6, 5, 8), batch_size=1, name="x")
    m1 = L.GlobalAveragePooling2D(keepdims=True, name="gap_keepdims")(x)  # [1,1,1,8]
    h = L.Conv2D(8, 3, padding="same", activation="relu", name="conv")(x)
    m2 = L.GlobalAveragePooling2D(name="gap")(h)  # [1,8]
    m3 = tf.reduce_mean(x, axis=1)  # [1,5,8]
    m4 = tf.reduce_mean(x, axis=[1, 2, 3])  # [1]
    m5 = tf.reduce_mean(x, axis=-1, keepdims=True)  # [1,6,5,1]
    # mean over two identical halves: output range == input range, so the
    # calibrated output quantization equals the input's
    xx = L.Concatenate(axis=1, name="concat_self")([x, x])  # [1,12,5,8]
    m6 = tf.reduce_mean(tf.reshape(xx, (1, 2, 30, 8)), axis=1)  # [1,30,8]
    return tf.keras.Model(x, [m1, m2, m3, m4, m5, m6])


def b_softmax(tf, L):
    x = L.Input((4, 10), batch_size=1, name="x")
    s1 = L.Softmax(axis=-1, name="softmax_3d")(x)
    # tf.nn.softmax(x * beta) is not fused into SOFTMAX's beta by the converter
    # (it keeps a MUL), so every SOFTMAX here has beta 1.
    r = L.Reshape((2, 2, 10), name="reshape_4d")(x)
    s2 = L.Softmax(axis=-1, name="softmax_4d")(r)
    return tf.keras.Model(x, [s1, s2])


def b_mixed_float_in(tf, L):
    """float input -> int8 output; a small CNN through most operators."""
    x = L.Input((15, 15, 2), batch_size=1, name="x")
    y = L.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="conv_k3_s2")(x)  # 8x8
    y = L.DepthwiseConv2D(3, padding="same", activation=tf.nn.relu6, name="dw")(y)
    y = L.ZeroPadding2D(((0, 1), (1, 0)), name="pad")(y)  # 9x9
    y = L.AveragePooling2D(3, 2, padding="valid", name="avg")(y)  # 4x4
    y = L.Conv2D(12, 1, name="pw")(y)
    y = L.GlobalAveragePooling2D(name="gap")(y)
    y = L.Dense(5, name="fc")(y)
    y = L.Softmax(name="softmax")(y)
    return tf.keras.Model(x, y)


def b_depthwise_mult8_180(tf, L):
    """A 1-channel 180x180 image front end: the depthwise filter has input depth 1
    and depth multiplier 8, the first activations (88x88x8) are the largest
    tensor of the zoo, and the MEAN reads its 42x42x16 input as one flat window
    of 28,224 values (more than 16,384)."""
    x = L.Input((180, 180, 1), batch_size=1, name="x")
    y = L.DepthwiseConv2D(5, strides=2, depth_multiplier=8, padding="valid", activation="relu",
                          name="dw_m8_k5_s2_valid_relu")(x)  # 88x88x8
    y = L.AveragePooling2D(2, 2, padding="valid", name="avg_k2_s2")(y)  # 44x44x8
    y = L.Conv2D(16, 3, strides=1, padding="valid", activation="relu", name="conv_k3_s1_valid")(y)  # 42x42x16
    y = L.GlobalAveragePooling2D(name="gap")(y)  # MEAN over 28,224 values -> [1,16]
    y = L.Dense(10, name="fc")(y)
    return tf.keras.Model(x, y)


def b_unaligned_zero_points(tf, L):
    x = L.Input((6, 6, 3), batch_size=1, name="x")
    y = L.Conv2D(4, 3, padding="same", activation="relu", name="conv_k3")(x)
    y = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", name="dw_m2")(y)
    y = L.Flatten(name="flatten")(y)
    y = L.Dense(5, name="fc")(y)
    return tf.keras.Model(x, y)


def b_conv_optional_bias(tf, L):
    x = L.Input((8, 7, 4), batch_size=1, name="x")
    y = L.Conv2D(6, 3, strides=2, padding="same", activation="relu", use_bias=False, name="conv_k3_s2")(x)
    y = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", activation=tf.nn.relu6, use_bias=False,
                          name="dw_m2")(y)
    y = L.Conv2D(5, 1, use_bias=False, name="conv_k1")(y)
    return tf.keras.Model(x, y)


SPECS = [
    {
        "name": "conv_kernels",
        "build": b_conv_kernels,
        "inputs": [("x", (11, 10, 3), -1.0, 1.0)],
        "io": ("int8", "int8"),
        "expect": {"ops": ["CONV_2D"] * 4, "summary": ["k7x7 s1x1 SAME", "k5x5 s2x2 SAME RELU6", "k3x3 s2x2 SAME RELU", "k1x1 s1x1 VALID"]},
        "covers": "CONV_2D kernels 7/5/3/1; SAME stride 1 (k7, NONE); SAME stride 2 on 11x10 with "
                  "asymmetric W padding 1/2 (k5, RELU6) and H padding 0/1 (k3, RELU); VALID 1x1 use_bias=False "
                  "(the converter writes an all-zero bias; NONE); int8 I/O.",
    },
    {
        "name": "conv_valid_dilated",
        "build": b_conv_valid_dilated,
        "inputs": [("x", (12, 13, 4), -3.0, 2.0)],
        "io": ("float32", "float32"),
        "expect": {"ops": ["QUANTIZE"] + ["CONV_2D"] * 4 + ["DEQUANTIZE"] * 3,
                   "summary": ["d2x2 SAME RELU", "d2x1 VALID", "k5x3 s2x3 VALID RELU6", "QUANTIZE float32->int8"]},
        "covers": "CONV_2D dilation 2x2 SAME (RELU), dilation 2x1 VALID use_bias=False (zero bias), non-square 5x3 kernel "
                  "with stride 2x3 VALID (RELU6), stride 3 SAME k5 (NONE); float I/O (QUANTIZE float->int8, "
                  "3 outputs through DEQUANTIZE).",
    },
    {
        "name": "conv_grouped",
        "build": b_conv_grouped,
        "inputs": [("x", (7, 7, 8), -1.0, 1.0)],
        "io": ("int8", "int8"),
        "expect": {"ops": ["CONV_2D"] * 2, "summary": ["groups2 RELU", "groups4"]},
        "covers": "grouped CONV_2D (filter input depth < input depth): groups 2 k3 SAME RELU, groups 4 k1 "
                  "VALID NONE; int8 I/O.",
    },
    {
        "name": "depthwise",
        "build": b_depthwise,
        "inputs": [("x", (10, 9, 4), -2.0, 2.0)],
        "io": ("float32", "float32"),
        "expect": {"ops": ["QUANTIZE"] + ["DEPTHWISE_CONV_2D"] * 4 + ["DEQUANTIZE"] * 2,
                   "summary": ["s1x1 SAME mult1 RELU6", "s2x2 SAME mult2 RELU", "d2x2 SAME mult1", "VALID mult2"]},
        "covers": "DEPTHWISE_CONV_2D depth_multiplier 1 (k3 SAME RELU6), depth_multiplier 2 stride 2 SAME on "
                  "10x9 with H padding 0/1 (RELU), dilation 2 SAME (NONE), depth_multiplier 2 k5 VALID "
                  "use_bias=False (zero bias); float I/O, two outputs.",
    },
    {
        "name": "dense",
        "build": b_dense,
        "inputs": [("x", (4, 4, 3), 0.0, 4.0)],
        "io": ("int8", "int8"),
        "expect": {"ops": ["RESHAPE", "FULLY_CONNECTED", "FULLY_CONNECTED", "FULLY_CONNECTED", "SOFTMAX"],
                   "summary": ["FULLY_CONNECTED RELU", "FULLY_CONNECTED no bias RELU6"]},
        "covers": "RESHAPE (flatten) then FULLY_CONNECTED with bias + RELU, without bias + RELU6, with bias "
                  "NONE; SOFTMAX; int8 I/O, input range 0..4.",
    },
    {
        "name": "dense_3d",
        "build": b_dense_3d,
        "inputs": [("x", (5, 12), -1.5, 1.5)],
        "io": ("float32", "float32"),
        "expect": {"ops": ["QUANTIZE", "FULLY_CONNECTED", "FULLY_CONNECTED", "RESHAPE", "FULLY_CONNECTED", "DEQUANTIZE"],
                   "summary": ["keep_num_dims RELU6", "no bias : [1, 5, 8] -> [5, 6]"]},
        "covers": "FULLY_CONNECTED on a 3-D [1,5,12] input with keep_num_dims (bias, RELU6) -> [1,5,8]; "
                  "FULLY_CONNECTED without bias and without keep_num_dims on [1,5,8] -> [5,6]; RESHAPE [5,6] -> "
                  "[1,30]; FULLY_CONNECTED; float I/O.",
    },
    {
        "name": "add_broadcast",
        "build": b_add_broadcast,
        "inputs": [("a", (6, 5, 8), -1.0, 1.0), ("b", (1, 1, 8), -64.0, 64.0), ("c", (6, 5, 1), 0.0, 3.0)],
        "io": ("int8", "int8"),
        "expect": {"ops": ["ADD"] * 4, "summary": ["ADD RELU : [1, 1, 1, 8] + [1, 6, 5, 8]", "+ [1, 6, 5, 1]", "ADD RELU6"]},
        "covers": "ADD broadcasting [1,1,1,C] (first operand) + [1,H,W,C] with input scales ~64x apart and "
                  "fused RELU; [1,H,W,C] + [1,H,W,1]; + constant [1,1,1,C] with fused RELU6; same-shape ADD of "
                  "different scales; three int8 inputs.",
    },
    {
        "name": "pool",
        "build": b_pool,
        "inputs": [("x", (9, 10, 6), -1.0, 3.0)],
        "io": ("float32", "int8"),
        "expect": {"ops": ["QUANTIZE"] + ["AVERAGE_POOL_2D"] * 3 + ["MAX_POOL_2D"] * 3,
                   "summary": ["AVERAGE_POOL_2D k3x3 s2x2 SAME", "MAX_POOL_2D k3x3 s2x2 SAME", "k4x4 s3x3 SAME",
                               "k2x4 s1x3 SAME", "k2x2 s3x3 VALID", "k3x2 s2x1 VALID"]},
        "covers": "MAX_POOL_2D / AVERAGE_POOL_2D k3 s2 SAME on 9x10 (windows over the border, padding H 1/1 "
                  "W 0/1), AVERAGE_POOL_2D k4 s3 SAME (H 0/1, W 1/2), MAX_POOL_2D 2x4 stride 1x3 SAME, "
                  "MAX_POOL_2D k2 s3 VALID, AVERAGE_POOL_2D 3x2 stride 2x1 VALID; float input, int8 outputs.",
    },
    {
        "name": "pad_concat",
        "build": b_pad_concat,
        "inputs": [("x", (6, 7, 4), -2.0, 2.0), ("y", (6, 7, 3), -20.0, 20.0)],
        "io": ("int8", "int8"),
        "expect": {"ops": ["QUANTIZE", "CONV_2D", "PAD", "CONV_2D", "CONCATENATION", "CONV_2D", "CONCATENATION"],
                   "summary": ["QUANTIZE int8->int8", "axis 3 3 inputs", "axis 1 2 inputs"]},
        "covers": "PAD with asymmetric ZeroPadding2D ((1,2),(0,3)) and a non-zero zero point, then CONV_2D "
                  "VALID stride 2; CONCATENATION along channels of three tensors whose calibrated ranges "
                  "differ (the converter gives all of them the output's scale and inserts an int8->int8 "
                  "QUANTIZE to requantize the input x, which other ops read at its own scale); "
                  "CONCATENATION along height; two int8 inputs (model input 0 is y, 1 is x).",
    },
    {
        "name": "mean",
        "build": b_mean,
        "inputs": [("x", (6, 5, 8), -3.0, 5.0)],
        "io": ("int8", "int8"),
        "expect": {"ops": ["CONCATENATION", "RESHAPE", "CONV_2D"] + ["MEAN"] * 6,
                   "summary": ["keep_dims in/out quant differ : [1, 6, 5, 8] -> [1, 1, 1, 8]", "quant equal",
                               "-> [1, 5, 8]", "-> [1]", "-> [1, 6, 5, 1]", "no keep_dims in/out quant differ : [1, 6, 5, 8] -> [1, 8]"]},
        "covers": "MEAN over [1,2] keep_dims (GlobalAveragePooling2D keepdims) and without keep_dims after "
                  "CONV_2D RELU; MEAN over axis 1 only; over [1,2,3]; over the channel axis with keep_dims; "
                  "MEAN whose input and output quantization are equal (over two identical halves); "
                  "CONCATENATION along height; RESHAPE.",
    },
    {
        "name": "softmax",
        "build": b_softmax,
        "inputs": [("x", (4, 10), -6.0, 6.0)],
        "io": ("int8", "int8"),
        "expect": {"ops": ["SOFTMAX", "RESHAPE", "SOFTMAX"]},
        "covers": "SOFTMAX (beta 1) over the last axis of a 3-D [1,4,10] and, after RESHAPE, a 4-D "
                  "[1,2,2,10] tensor, input range -6..6; int8 I/O.",
    },
    {
        "name": "conv_optional_bias",
        "build": b_conv_optional_bias,
        "inputs": [("x", (8, 7, 4), -1.0, 1.0)],
        "io": ("int8", "int8"),
        "expect": {"ops": ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D"], "summary": ["SAME no bias RELU", "VALID no bias"]},
        # The converter gives a use_bias=False CONV_2D / DEPTHWISE_CONV_2D an
        # all-zero int32 bias tensor; this model is then edited so that its
        # CONV_2D ops have no bias input at all (index -1), as the schema allows.
        "patch": "drop_zero_bias",
        "covers": "CONV_2D without a bias input (optional input index -1, made by editing the converted "
                  "flatbuffer: the converter itself gives a use_bias=False conv an all-zero int32 bias): "
                  "CONV_2D k3 s2 SAME on 8x7 (RELU) and 1x1 (NONE); between them a use_bias=False "
                  "DEPTHWISE_CONV_2D depth_multiplier 2 (RELU6) with the converter's all-zero bias; int8 I/O.",
    },
    {
        "name": "mixed_float_in",
        "build": b_mixed_float_in,
        "inputs": [("x", (15, 15, 2), 0.0, 1.0)],
        "io": ("float32", "int8"),
        "expect": {"ops": ["QUANTIZE", "CONV_2D", "DEPTHWISE_CONV_2D", "PAD", "AVERAGE_POOL_2D", "CONV_2D", "MEAN",
                           "FULLY_CONNECTED", "SOFTMAX"]},
        "covers": "end-to-end small CNN, float input / int8 output: QUANTIZE, CONV_2D stride 2 SAME on 15x15, "
                  "DEPTHWISE_CONV_2D RELU6, PAD ((0,1),(1,0)), AVERAGE_POOL_2D VALID, CONV_2D 1x1, MEAN, "
                  "FULLY_CONNECTED, SOFTMAX.",
    },
    {
        "name": "depthwise_mult8_180",
        "build": b_depthwise_mult8_180,
        "inputs": [("x", (180, 180, 1), 0.0, 1.0)],
        "io": ("int8", "int8"),
        "expect": {"ops": ["DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "CONV_2D", "MEAN", "FULLY_CONNECTED"],
                   "summary": ["DEPTHWISE_CONV_2D k5x5 s2x2 VALID mult8 RELU : [1, 180, 180, 1] -> [1, 88, 88, 8]",
                               "AVERAGE_POOL_2D k2x2 s2x2 VALID : [1, 88, 88, 8] -> [1, 44, 44, 8]",
                               "CONV_2D k3x3 s1x1 VALID RELU : [1, 44, 44, 8] -> [1, 42, 42, 16]"]},
        # One input: the model input and the activations (88x88x8, 44x44x8,
        # 42x42x16) are ~135 KiB per input.
        "k": 1,
        "max_bytes": 192 * 1024,
        "covers": "1-channel 180x180 int8 input: DEPTHWISE_CONV_2D with input depth 1 and depth_multiplier 8 "
                  "(k5 stride 2 VALID, RELU) -> 88x88x8, AVERAGE_POOL_2D 2x2 VALID, CONV_2D k3 stride 1 VALID "
                  "(RELU) -> 42x42x16, MEAN (GlobalAveragePooling2D) over one flat window of 28,224 values, "
                  "FULLY_CONNECTED; int8 I/O; one input (K = 1).",
    },
    {
        "name": "unaligned_zero_points",
        "build": b_unaligned_zero_points,
        "inputs": [("x", (6, 6, 3), -1.0, 1.0)],
        "io": ("int8", "int8"),
        "expect": {"ops": ["CONV_2D", "DEPTHWISE_CONV_2D", "RESHAPE", "FULLY_CONNECTED"],
                   "summary": ["CONV_2D k3x3 s1x1 SAME RELU", "DEPTHWISE_CONV_2D k3x3 s1x1 SAME mult2"]},
        # Re-serialized so that every int64 vector (the zero points) starts 4
        # bytes past an 8-byte boundary of the file.
        "patch": "misalign_int64",
        "covers": "every int64 `zero_point` vector (per tensor, and per channel for the CONV_2D (4) and "
                  "DEPTHWISE_CONV_2D (8) filters and biases) starts 4 bytes past an 8-byte boundary of the file "
                  "(re-serialized after conversion; the vector's length prefix stays 4-byte aligned, which "
                  "is all the flatbuffers C++ verifier checks of a vector): CONV_2D k3 SAME RELU, "
                  "DEPTHWISE_CONV_2D depth_multiplier 2, RESHAPE, FULLY_CONNECTED; int8 I/O.",
    },
]


# ---------------------------------------------------------------------------
# flatbuffer helpers (tflite-micro's schema module; works in both venvs)
# ---------------------------------------------------------------------------


def _schema():
    from tflite_micro.python.tflite_micro import runtime
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema_fb
    return runtime, schema_fb


def op_names():
    _, schema_fb = _schema()
    return {v: k for k, v in vars(schema_fb.BuiltinOperator).items() if not k.startswith("_")}


def _options_dict(opts):
    if opts is None:
        return {}
    out = {}
    for k, v in sorted(vars(opts).items()):
        if isinstance(v, (bool, int, float, np.integer, np.floating)):
            out[k] = v.item() if hasattr(v, "item") else v
    return out


def graph_info(model_bytes):
    """Ops (in order) with inputs/outputs/options, and tensors, of subgraph 0."""
    runtime, schema_fb = _schema()
    names = op_names()
    mo = runtime.convert_bytearray_to_object(bytearray(model_bytes))
    if len(mo.subgraphs) != 1:
        raise ValueError(f"{len(mo.subgraphs)} subgraphs")
    sg = mo.subgraphs[0]

    def tinfo(t):
        ten = sg.tensors[t]
        const = bool(mo.buffers[ten.buffer].data is not None and len(mo.buffers[ten.buffer].data) > 0)
        q = ten.quantization
        scale = [] if q is None or q.scale is None else [float(s) for s in q.scale]
        zp = [] if q is None or q.zeroPoint is None else [int(z) for z in q.zeroPoint]
        return {
            "tensor": t,
            "dtype": np.dtype(TFL_DTYPES[ten.type]).name,
            "shape": [int(s) for s in ten.shape] if ten.shape is not None else [],
            "scale": scale if len(scale) <= 1 else f"per-channel ({len(scale)})",
            "zero_point": zp[:1] if len(set(zp)) <= 1 else zp,
            "const": const,
            "all_zero": bool(const and not np.any(np.asarray(mo.buffers[ten.buffer].data))),
        }

    ops = []
    for op in sg.operators:
        code = runtime.get_builtin_code_from_operator_code(mo.operatorCodes[op.opcodeIndex])
        ops.append({
            "op": names.get(code, f"BUILTIN_{code}"),
            "inputs": [tinfo(int(t)) if t >= 0 else None for t in op.inputs],
            "outputs": [tinfo(int(t)) for t in op.outputs],
            "options": _options_dict(op.builtinOptions),
        })
    return {
        "ops": ops,
        "inputs": [int(t) for t in sg.inputs],
        "shapes": {i: [int(v) for v in ten.shape] for i, ten in enumerate(sg.tensors)},
        "input_names": [sg.tensors[int(t)].name.decode() for t in sg.inputs],
        "outputs": [int(t) for t in sg.outputs],
        "n_tensors": len(sg.tensors),
        "sg": sg,
    }


def op_produced_tensors(info):
    idx = set(info["inputs"])
    for op in info["ops"]:
        idx.update(o["tensor"] for o in op["outputs"])
    return sorted(idx)


def op_summary(op):
    """One-line description of an op for the README."""
    o = op["options"]
    name = op["op"]
    bits = []
    ins = [i for i in op["inputs"] if i is not None]
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        f = op["inputs"][1]["shape"]
        kh, kw = (f[1], f[2])
        bits.append(f"k{kh}x{kw}")
        bits.append(f"s{o.get('strideH')}x{o.get('strideW')}")
        if o.get("dilationHFactor", 1) != 1 or o.get("dilationWFactor", 1) != 1:
            bits.append(f"d{o.get('dilationHFactor')}x{o.get('dilationWFactor')}")
        bits.append(["SAME", "VALID"][o.get("padding", 0)])
        if name == "DEPTHWISE_CONV_2D":
            bits.append(f"mult{o.get('depthMultiplier')}")
        elif f[3] != op["inputs"][0]["shape"][3]:
            bits.append(f"groups{op['inputs'][0]['shape'][3] // f[3]}")
        if len(op["inputs"]) < 3 or op["inputs"][2] is None:
            bits.append("no bias")
        elif op["inputs"][2]["all_zero"]:
            bits.append("zero bias")
    elif name in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        bits.append(f"k{o.get('filterHeight')}x{o.get('filterWidth')}")
        bits.append(f"s{o.get('strideH')}x{o.get('strideW')}")
        bits.append(["SAME", "VALID"][o.get("padding", 0)])
    elif name == "FULLY_CONNECTED":
        if len(op["inputs"]) < 3 or op["inputs"][2] is None:
            bits.append("no bias")
        elif op["inputs"][2]["all_zero"]:
            bits.append("zero bias")
        if o.get("keepNumDims"):
            bits.append("keep_num_dims")
    elif name == "MEAN":
        bits.append("keep_dims" if o.get("keepDims") else "no keep_dims")
        i, out = op["inputs"][0], op["outputs"][0]
        same = i["scale"] == out["scale"] and i["zero_point"] == out["zero_point"]
        bits.append("in/out quant equal" if same else "in/out quant differ")
    elif name == "CONCATENATION":
        bits.append(f"axis {o.get('axis')}")
        bits.append(f"{len(ins)} inputs")
    elif name == "SOFTMAX":
        bits.append(f"beta {o.get('beta')}")
    elif name == "QUANTIZE":
        bits.append(f"{op['inputs'][0]['dtype']}->{op['outputs'][0]['dtype']}")
    act = o.get("fusedActivationFunction")
    if act:
        bits.append({1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6"}.get(act, f"act{act}"))
    shapes = " + ".join(str(i["shape"]) for i in ins if not i["const"]) or "-"
    return f"{name} {' '.join(bits)}".strip() + f" : {shapes} -> {op['outputs'][0]['shape']}"


# ---------------------------------------------------------------------------
# stage 1: convert
# ---------------------------------------------------------------------------


def set_weights(model, rng):
    """Seeded weights: kernels ~ N(0, 1/fan_in) with a per-output-channel gain
    spread over ~8x (so per-channel scales differ); biases ~ N(0, 0.3)."""
    for layer in model.layers:
        ws = layer.get_weights()
        if not ws:
            continue
        new = []
        for w in ws:
            if w.ndim == 1:
                new.append(rng.normal(0.0, 0.3, w.shape).astype(np.float32))
                continue
            cls = type(layer).__name__
            if cls == "DepthwiseConv2D":
                fan_in = w.shape[0] * w.shape[1]
                gain = np.exp(rng.uniform(-1.0, 1.0, (1, 1) + w.shape[2:]))
            else:
                fan_in = int(np.prod(w.shape[:-1]))
                gain = np.exp(rng.uniform(-1.0, 1.0, w.shape[-1]))
            k = rng.normal(0.0, 1.0 / np.sqrt(fan_in), w.shape) * gain
            new.append(k.astype(np.float32))
        layer.set_weights(new)


def calib_sample(rng, spec):
    """One representative sample, keyed by input name (the converted model may
    order its inputs differently from the Keras model)."""
    return {n: rng.uniform(lo, hi, (1,) + tuple(shape)).astype(np.float32) for n, shape, lo, hi in spec["inputs"]}


def convert_one(tf, spec):
    tf.keras.backend.clear_session()
    tf.keras.utils.set_random_seed(model_seed(spec["name"]))
    model = spec["build"](tf, tf.keras.layers)
    rng = np.random.default_rng(model_seed(spec["name"]))
    set_weights(model, rng)
    keras_names = [i.name.split(":")[0] for i in model.inputs]
    spec_names = [n for n, *_ in spec["inputs"]]
    assert keras_names == spec_names, (keras_names, spec_names)

    crng = np.random.default_rng(model_seed(spec["name"]) + 1)
    calib = [calib_sample(crng, spec) for _ in range(N_CALIB)]

    def rep():
        for s in calib:
            yield s

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = getattr(tf, spec["io"][0])
    conv.inference_output_type = getattr(tf, spec["io"][1])
    return conv.convert()


def serialize(mo, builder=None):
    """The model object `mo` (schema object API) as .tflite bytes, built with
    `builder` (default: the standard flatbuffers.Builder)."""
    import flatbuffers
    b = builder or flatbuffers.Builder(4096)
    b.Finish(mo.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def drop_zero_bias(model_bytes):
    """Set the bias input of CONV_2D ops whose bias is all zeros to -1 (no bias).
    Re-serialized with the schema's object API. DEPTHWISE_CONV_2D is left alone:
    tflite-micro 0.dev20261023182759 crashes (SIGSEGV while the interpreter is
    built) on a DEPTHWISE_CONV_2D without a bias input."""
    runtime, schema_fb = _schema()
    mo = runtime.convert_bytearray_to_object(bytearray(model_bytes))
    sg = mo.subgraphs[0]
    n = 0
    for op in sg.operators:
        code = runtime.get_builtin_code_from_operator_code(mo.operatorCodes[op.opcodeIndex])
        if code != schema_fb.BuiltinOperator.CONV_2D:
            continue
        if len(op.inputs) < 3 or op.inputs[2] < 0:
            continue
        data = mo.buffers[sg.tensors[op.inputs[2]].buffer].data
        if data is not None and not np.any(np.asarray(data)):
            op.inputs[2] = -1
            n += 1
    return serialize(mo), n


def int64_at_4_mod_8_builder(size):
    """A flatbuffers.Builder that starts the data of every vector of 8-byte
    elements 4 bytes past an 8-byte boundary of the finished buffer; the
    vector's 4-byte length prefix stays 4-byte aligned."""
    import flatbuffers

    class Builder(flatbuffers.Builder):
        def StartVector(self, elemSize, numElems, alignment):
            if elemSize != 8:
                return super().StartVector(elemSize, numElems, alignment)
            self.assertNotNested()
            self.nested = True
            self.vectorNumElems = numElems
            # Bytes are written back to front and the finished buffer's length
            # is a multiple of 8 (minalign), so data whose end is 4 bytes short
            # of an 8-byte boundary counted from the back starts at 4 mod 8
            # from the front.
            self.Prep(8, elemSize * numElems + 4)
            return self.Offset()

    return Builder(size)


def zero_point_positions(model_bytes):
    """File offsets of the first element of every non-empty zero_point vector."""
    _, schema_fb = _schema()
    m = schema_fb.Model.GetRootAs(model_bytes, 0)
    out = []
    for s in range(m.SubgraphsLength()):
        sg = m.Subgraphs(s)
        for t in range(sg.TensorsLength()):
            q = sg.Tensors(t).Quantization()
            if q is not None and q.ZeroPointLength() > 0:
                out.append(q._tab.Vector(q._tab.Offset(10)))  # field 3 (zero_point): vtable offset 4 + 2*3
    return out


def aligned_copy(model_bytes):
    """The model re-serialized with the standard builder (vectors aligned to their element size)."""
    runtime, _ = _schema()
    out = serialize(runtime.convert_bytearray_to_object(bytearray(model_bytes)))
    if any(p % 8 for p in zero_point_positions(out)):
        sys.exit("make_op_zoo: aligned_copy: a zero_point vector is not 8-byte aligned")
    return out


def misalign_int64(model_bytes):
    """Re-serializes the model with every int64 vector (the zero points) at 4 mod 8;
    returns the bytes and the number of such vectors. Exits if one is not."""
    runtime, _ = _schema()
    mo = runtime.convert_bytearray_to_object(bytearray(model_bytes))
    out = serialize(mo, int64_at_4_mod_8_builder(len(model_bytes) + 4096))
    return out, check_misaligned("misalign_int64", out)


def check_misaligned(name, model_bytes):
    """Exits unless the model has zero_point vectors and every one starts at 4
    mod 8; returns how many there are."""
    pos = zero_point_positions(model_bytes)
    if not pos or any(p % 8 != 4 for p in pos):
        sys.exit(f"make_op_zoo: {name}: zero_point vectors at {pos}, expected every one at 4 mod 8")
    return len(pos)


def check_graph(name, info, expect):
    ops = [o["op"] for o in info["ops"]]
    bad = sorted({o for o in ops if o not in SUPPORTED_OPS})
    if bad:
        sys.exit(f"make_op_zoo: {name}: unsupported operator(s) {bad} in {ops}")
    for o in info["ops"]:
        for t in o["inputs"] + o["outputs"]:
            if t is None:
                continue
            ok = t["dtype"] in ("int8", "int32") or (o["op"] in ("QUANTIZE", "DEQUANTIZE") and t["dtype"] == "float32")
            if o["op"] == "RESHAPE" and t["dtype"] == "int32":
                ok = True
            if not ok:
                sys.exit(f"make_op_zoo: {name}: {o['op']} uses a {t['dtype']} tensor {t['tensor']}")
    if "ops" in expect and sorted(ops) != sorted(expect["ops"]):
        sys.exit(f"make_op_zoo: {name}: ops {ops}, expected (in any order) {expect['ops']}")
    lines = [op_summary(o) for o in info["ops"]]
    for want in expect.get("summary", []):
        if not any(want in line for line in lines):
            sys.exit(f"make_op_zoo: {name}: no op matches {want!r}:\n  " + "\n  ".join(lines))


def stage_convert(args, command):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import warnings
    warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
    import tensorflow as tf
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    index = {"models": [], "tensorflow_version": tf.__version__, "convert_command": command}
    for spec in SPECS:
        if args.models and spec["name"] not in args.models:
            continue
        tfl = convert_one(tf, spec)
        if spec.get("patch") == "drop_zero_bias":
            tfl, n = drop_zero_bias(tfl)
            if n == 0:
                sys.exit(f"make_op_zoo: {spec['name']}: no all-zero bias to drop")
        elif spec.get("patch") == "misalign_int64":
            tfl, n = misalign_int64(tfl)
            print(f"{spec['name']}: {n} zero_point vectors at 4 mod 8")
        info = graph_info(tfl)
        check_graph(spec["name"], info, spec["expect"])
        if len(tfl) > spec.get("max_bytes", MODEL_MAX_BYTES):
            sys.exit(f"make_op_zoo: {spec['name']}: {len(tfl)} bytes")
        (out / f"{spec['name']}.tflite").write_bytes(tfl)
        print(f"{spec['name']}: {len(tfl)} bytes, sha256 {hashlib.sha256(tfl).hexdigest()[:16]}")
        for o in info["ops"]:
            print("   ", op_summary(o))
        index["models"].append(spec["name"])
    if not args.models:
        (out / "index.json").write_text(json.dumps(index, indent=2) + "\n")


def make_inputs(name, info, ip, k):
    """k seeded inputs per model input, in the input dtype. int8: uniform over
    -128..127 (sample 0 starts with -128, 127). float32: over the range of the
    int8 tensor the leading QUANTIZE writes: sample 0 exactly that range,
    sample 1 10% wider on both sides (saturates), sample 2 at half-LSB points
    (q + 0.5 - zero_point) * scale (rounding ties)."""
    rng = np.random.default_rng(model_seed(name) + 2)
    out = []
    for i, t in enumerate(info["inputs"]):
        d = ip.get_input_details(i)
        shape = tuple(int(s) for s in d["shape"][1:])
        dtype = np.dtype(d["dtype"])
        if dtype == np.int8:
            x = rng.integers(-128, 128, (k,) + shape, dtype=np.int16).astype(np.int8)
            flat = x[0].reshape(-1)
            flat[0], flat[-1 if flat.size > 1 else 0] = -128, 127
        elif dtype == np.float32:
            q = [o for o in info["ops"] if o["op"] == "QUANTIZE" and o["inputs"][0]["tensor"] == t]
            assert len(q) == 1, (name, t)
            scale = q[0]["outputs"][0]["scale"][0]
            zp = q[0]["outputs"][0]["zero_point"][0]
            lo, hi = (-128 - zp) * scale, (127 - zp) * scale
            w = hi - lo
            x0 = rng.uniform(lo, hi, shape)
            x1 = rng.uniform(lo - 0.1 * w, hi + 0.1 * w, shape)
            x2 = (rng.integers(-128, 127, shape) + 0.5 - zp) * scale
            x = np.stack([x0, x1, x2][:k]).astype(np.float32)
        else:
            raise ValueError(f"{name}: input dtype {dtype}")
        out.append(x)
    return out


def strip_batch(arr):
    """Drop a leading batch dim of 1; a tensor whose first dim is not 1 (e.g. the
    [5,6] output of a FULLY_CONNECTED without keep_num_dims) is kept whole."""
    return arr[0] if arr.ndim >= 1 and arr.shape[0] == 1 else arr


def get_tensor(ip, t):
    d = ip.GetTensor(t, 0)
    arr = np.array(d["tensor_data"], copy=True)
    assert arr.dtype == np.dtype(d["dtype"]) and list(arr.shape) == list(d["shape"]), (t, d)
    return arr


def all_outputs_model(model_bytes, tensors, sg_inputs):
    """The same model with subgraph 0's outputs set to `tensors` (minus the inputs)."""
    runtime, _ = _schema()
    mo = runtime.convert_bytearray_to_object(bytearray(model_bytes))
    outs = [t for t in tensors if t not in sg_inputs]
    mo.subgraphs[0].outputs = np.array(outs, dtype=np.int32)
    return serialize(mo), outs


def tflm_tensors(name, model_bytes, info, inputs, tensors, k_inputs):
    """Run k_inputs inputs through tflite-micro; return {tensor: [K, ...]} (GetTensor of
    a kPreserveAllTensors interpreter) and the outputs. Checks, per input: the
    default interpreter gives the same outputs; GetTensor(output j) ==
    get_output(j); GetTensor(input) == what was fed; a copy of the model whose
    outputs list names every tensor returns the same values via get_output."""
    runtime, _ = _schema()
    ip_def = runtime.Interpreter.from_bytes(model_bytes, arena_size=TFLM_ARENA_BYTES)
    ip = runtime.Interpreter.from_bytes(model_bytes, arena_size=TFLM_ARENA_BYTES,
                                        intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors)
    rewritten, rw_outs = all_outputs_model(model_bytes, tensors, info["inputs"])
    ip_rw = runtime.Interpreter.from_bytes(rewritten, arena_size=TFLM_ARENA_BYTES)
    stacks = {t: [] for t in tensors}
    for k in range(k_inputs):
        for i, x in enumerate(inputs):
            for interp in (ip_def, ip, ip_rw):
                interp.set_input(x[k : k + 1], i)
        for interp in (ip_def, ip, ip_rw):
            interp.invoke()
        for j, t in enumerate(info["outputs"]):
            ref = np.array(ip_def.get_output(j), copy=True)
            if not np.array_equal(np.array(ip.get_output(j)), ref):
                sys.exit(f"make_op_zoo: {name}: input {k}: output {j}: kPreserveAllTensors != default")
            if not np.array_equal(get_tensor(ip, t), ref):
                sys.exit(f"make_op_zoo: {name}: input {k}: GetTensor(output {j} = t{t}) != get_output({j})")
        for i, t in enumerate(info["inputs"]):
            if not np.array_equal(get_tensor(ip, t), inputs[i][k : k + 1]):
                sys.exit(f"make_op_zoo: {name}: input {k}: GetTensor(input t{t}) != fed input")
        for j, t in enumerate(rw_outs):
            if not np.array_equal(np.array(ip_rw.get_output(j)), get_tensor(ip, t)):
                sys.exit(f"make_op_zoo: {name}: input {k}: t{t}: all-outputs model != GetTensor")
        for t in tensors:
            stacks[t].append(strip_batch(get_tensor(ip, t)))
    return {t: np.stack(v) for t, v in stacks.items()}


def litert_check(model_bytes, info, inputs, tensors, golden, k_inputs):
    """LiteRT with its reference kernels (BUILTIN_REF), every tensor compared
    with tflite-micro's. Returns a JSON-able summary, or None if unavailable."""
    try:
        from importlib.metadata import version
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
        rt = f"ai-edge-litert {version('ai-edge-litert')}"
    except ImportError:
        try:
            import tensorflow as tf
        except ImportError:
            return None
        Interpreter, OpResolverType = tf.lite.Interpreter, tf.lite.experimental.OpResolverType
        rt = f"tensorflow {tf.__version__} tf.lite"
    try:
        ip = Interpreter(model_content=model_bytes,
                             experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                             experimental_preserve_all_tensors=True)
        ip.allocate_tensors()
    except (RuntimeError, ValueError) as e:
        return {"runtime": rt + " BUILTIN_REF", "equal": None, "error": " ".join(str(e).split())}
    in_idx = [d["index"] for d in ip.get_input_details()]
    if sorted(in_idx) != sorted(info["inputs"]):
        return {"runtime": rt, "error": "input tensors differ"}
    diffs = {}
    for k in range(k_inputs):
        for i, t in enumerate(info["inputs"]):
            ip.set_tensor(t, inputs[i][k : k + 1])
        ip.invoke()
        for t in tensors:
            a = strip_batch(np.asarray(ip.get_tensor(t)))
            g = golden[t][k]
            if a.shape != g.shape or a.dtype != g.dtype:
                diffs[t] = "shape/dtype"
            elif not np.array_equal(a, g):
                d = float(np.max(np.abs(a.astype(np.float64) - g.astype(np.float64))))
                if not isinstance(diffs.get(t), str):
                    diffs[t] = max(diffs.get(t, 0.0), d)
    return {"runtime": rt + " BUILTIN_REF", "equal": not diffs,
            "max_abs_diff": {f"t{t:03d}": v for t, v in sorted(diffs.items())}}


NOT_PRODUCED = [
    "SOFTMAX with beta != 1: the converter (TensorFlow 2.15.1) does not fold a constant multiply "
    "into SOFTMAX's beta (`tf.nn.softmax(x * 0.25)` keeps a separate MUL), so every SOFTMAX here has beta 1.",
    "DEPTHWISE_CONV_2D without a bias input: the converter always writes an all-zero int32 bias for "
    "`use_bias=False`, and tflite-micro 0.dev20261023182759 crashes (SIGSEGV while building the "
    "interpreter) when that input is removed (index -1), so `depthwise` and `conv_optional_bias` use the "
    "converter's zero bias. CONV_2D without a bias input works in tflite-micro (`conv_optional_bias`) but "
    "LiteRT rejects it; FULLY_CONNECTED without bias (`use_bias=False`) comes out of the converter with "
    "bias index -1 directly (`dense`, `dense_3d`).",
    "CONCATENATION of inputs with different quantization: the converter always gives all inputs of a "
    "CONCATENATION the output's scale and zero point, inserting an int8->int8 QUANTIZE where a tensor is "
    "also read elsewhere at another scale (`pad_concat`).",
]


def litert_summary(lite):
    if lite is None:
        return "not run"
    if lite.get("equal"):
        return f"{lite['runtime']}: identical on every stored tensor"
    if "error" in lite:
        return f"{lite['runtime']}: refuses the model ({lite['error']})"
    return f"{lite['runtime']}: DIFFERS, max abs diff per tensor {lite['max_abs_diff']}"


def write_readme(out, index, report, command):
    total_models = sum(r["size"] for r in report)
    lines = [
        "# Operator zoo goldens",
        "",
        "Tiny full-integer int8 `.tflite` models, made with TensorFlow's converter from Keras models with",
        "seeded random weights (calibrated on seeded random data), that together exercise every operator and",
        "option of quantmcu's supported set in ways the two public models (`goldens/resnet8_cifar10`,",
        "`goldens/vww_mobilenetv1`) do not; for each, tflite-micro's reference-kernel values of the model",
        "input(s) and of every tensor an operator writes, for K = 3 seeded inputs (K = 1 for",
        "`depthwise_mult8_180`, whose 180x180 input and 88x88x8 activations would otherwise dominate the zoo).",
        "",
        "Regenerate (from the repo root; both steps are deterministic):",
        "",
        "```sh",
        "tools/train/setup-venv.sh     # -> .venv-train (tensorflow-cpu 2.15.1, tools/train/requirements.txt)",
        "tools/setup-venv.sh           # -> .venv-tools (tflite-micro, ai-edge-litert, tools/requirements.txt)",
        f"{index['convert_command']}",
        f"{command}",
        "```",
        "",
        "The first command builds and converts the models (`<name>.tflite`, `index.json`) and fails if a",
        "converted model contains an operator outside quantmcu's set, or lacks an operator/option the model",
        "is meant to cover. The second writes the goldens below and this README. It checks, for every input:",
        "the kPreserveAllTensors interpreter gives the same outputs as the default one; `GetTensor` of every",
        "model output equals `get_output`; `GetTensor` of every input equals what was fed; a copy of the model",
        "whose subgraph outputs list names every stored tensor returns the same values through `get_output`.",
        "It then runs LiteRT with its reference kernels (`OpResolverType.BUILTIN_REF`) and compares every",
        "stored tensor (the `litert` entry of each `manifest.json`).",
        "",
        f"Versions: TensorFlow {index['tensorflow_version']} (conversion), tflite-micro "
        f"{report[0]['manifest']['tflite_micro_version']} (goldens).",
        "",
        "## Layout",
        "",
        "| file | content |",
        "|---|---|",
        "| `index.json` | `models` (names, in the order below), TensorFlow version, convert command |",
        "| `<name>.tflite` | the model |",
        "| `<name>/inputs.npy` | `[K, ...input shape without batch...]` in the model input's dtype, K = 3 (1 for `depthwise_mult8_180`); a model with several inputs has `inputs_0.npy`, `inputs_1.npy`, ... in the model's input order (`manifest.json` `input_files` gives tensor index and name of each) |",
        "| `<name>/tensors/tNNN.npy` | tensor NNN of subgraph 0, stacked `[K, ...shape without batch...]` in its own dtype, for the model input(s) and every tensor an operator writes; a tensor whose first dimension is not 1 (the `[5,6]` output of a FULLY_CONNECTED without keep_num_dims in `dense_3d`) is stored whole, `[K, 5, 6]` (`tensor_shapes` in `manifest.json` has the full shapes) |",
        "| `<name>/manifest.json` | `model`, `model_sha256`, `ops` (operator names in execution order), `inputs` (K), `input_files`, `output_tensors`, `tensors` (indices stored), `tensor_shapes`, `tflite_micro_version`, `command`, `convert_command`, `tensorflow_version`, `covers`, `edited_after_conversion`, `op_details` (per op: summary, builtin options, input/output tensors with dtype, shape, scale, zero point), `litert` (LiteRT BUILTIN_REF comparison) |",
        "",
        "Inputs: an int8 input is uniform over -128..127 (the first sample starts with -128 and ends with 127).",
        "A float32 input is drawn over the range of the int8 tensor its QUANTIZE writes: sample 0 uniform over",
        "exactly that range, sample 1 over a range 10% wider on both sides (saturates), sample 2 at half-LSB",
        "points `(q + 0.5 - zero_point) * scale` (rounding ties). `.npy` files are NumPy format 1.0, C order,",
        "little endian.",
        "",
        f"Size: {total_models} bytes of `.tflite` and `.npy` files in all (each model with its goldens under 100 KiB, `depthwise_mult8_180` under 192 KiB).",
        "",
        "## Models",
        "",
    ]
    for r in report:
        m, info = r["manifest"], r["info"]
        ins = ", ".join(f"{f['dtype']} {info['shapes'][f['tensor']]} (`{f['file']}`, {f['name']})" for f in m["input_files"])
        outs = ", ".join(f"t{t:03d} {np.dtype(TFL_DTYPES[info['sg'].tensors[t].type]).name} {info['shapes'][t]}"
                         for t in m["output_tensors"])
        lite_lines = [f"- LiteRT: {litert_summary(r['lite'])}"]
        if "litert_aligned_copy" in m:
            lite_lines.append("- LiteRT on a copy re-serialized with 8-byte aligned zero points: "
                              f"{litert_summary(m['litert_aligned_copy'])}")
        lines += [
            f"### {r['name']}",
            "",
            m["covers"],
            "",
            f"- Inputs: {ins}",
            f"- Outputs: {outs}",
            *lite_lines,
            f"- {r['size']} bytes of `.tflite` + `.npy` (model {(out / m['model']).stat().st_size} bytes)",
            "",
            "| # | op | output |",
            "|---|---|---|",
        ]
        for i, o in enumerate(m["op_details"]):
            lines.append(f"| {i} | {o['summary'].split(' : ')[0]} : {o['summary'].split(' : ')[1]} | t{o['outputs'][0]['tensor']:03d} |")
        lines.append("")
    lines += ["## Not produced", ""] + [f"- {t}" for t in NOT_PRODUCED] + [""]
    (out / "README.md").write_text("\n".join(lines))


def tree_size(path):
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def stage_goldens(args, command):
    from tflite_micro.python.tflite_micro import _version as tflm_version
    runtime, _ = _schema()
    out = Path(args.out)
    index = json.loads((out / "index.json").read_text())
    specs = {s["name"]: s for s in SPECS}
    report = []
    for name in index["models"]:
        if args.models and name not in args.models:
            continue
        spec = specs[name]
        model_bytes = (out / f"{name}.tflite").read_bytes()
        info = graph_info(model_bytes)
        check_graph(name, info, spec["expect"])
        tensors = op_produced_tensors(info)
        if spec.get("patch") == "misalign_int64":
            check_misaligned(name, model_bytes)
        k_inputs = spec.get("k", K)
        ip = runtime.Interpreter.from_bytes(model_bytes, arena_size=TFLM_ARENA_BYTES)
        inputs = make_inputs(name, info, ip, k_inputs)
        golden = tflm_tensors(name, model_bytes, info, inputs, tensors, k_inputs)
        lite = litert_check(model_bytes, info, inputs, tensors, golden, k_inputs)
        extra = {}
        if spec.get("patch") == "misalign_int64":
            # Tells a difference that comes from the misalignment apart from
            # one LiteRT has on the aligned model too.
            extra["litert_aligned_copy"] = litert_check(aligned_copy(model_bytes), info, inputs, tensors, golden,
                                                        k_inputs)

        d = out / name
        tdir = d / "tensors"
        for f in list(d.glob("inputs*.npy")) + list(tdir.glob("t*.npy")):
            f.unlink()
        tdir.mkdir(parents=True, exist_ok=True)
        if len(inputs) == 1:
            in_files = ["inputs.npy"]
        else:
            in_files = [f"inputs_{i}.npy" for i in range(len(inputs))]
        for f, x in zip(in_files, inputs):
            np.save(d / f, x)
        for t in tensors:
            np.save(tdir / f"t{t:03d}.npy", golden[t])

        manifest = {
            "model": f"{name}.tflite",
            "model_sha256": hashlib.sha256(model_bytes).hexdigest(),
            "ops": [o["op"] for o in info["ops"]],
            "inputs": k_inputs,
            "input_files": [
                {"file": f, "tensor": t, "name": n, "dtype": inputs[i].dtype.name}
                for i, (f, t, n) in enumerate(zip(in_files, info["inputs"], info["input_names"]))
            ],
            "output_tensors": info["outputs"],
            "tensors": tensors,
            "tensor_shapes": {f"t{t:03d}": info["shapes"][t] for t in tensors},
            "tflite_micro_version": tflm_version.__version__,
            "command": command,
            "convert_command": index["convert_command"],
            "tensorflow_version": index["tensorflow_version"],
            "covers": spec["covers"],
            "edited_after_conversion": spec.get("patch"),
            "op_details": [
                {"op": o["op"], "summary": op_summary(o), "options": o["options"],
                 "inputs": o["inputs"], "outputs": o["outputs"]}
                for o in info["ops"]
            ],
            "litert": lite,
            **extra,
        }
        (d / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        size = len(model_bytes) + tree_size(d)
        max_bytes = spec.get("max_bytes", MODEL_MAX_BYTES)
        if size > max_bytes:
            sys.exit(f"make_op_zoo: {name}: {size} bytes (> {max_bytes})")
        lite_s = "n/a" if lite is None else ("equal" if lite.get("equal") else
                                             f"REJECTS: {lite['error']}" if "error" in lite else f"DIFFERS {lite}")
        print(f"{name}: {len(info['ops'])} ops, {len(tensors)} tensors, {size} bytes, LiteRT BUILTIN_REF: {lite_s}")
        data_size = len(model_bytes) + sum(f.stat().st_size for f in d.rglob("*.npy"))
        report.append({"name": name, "size": data_size, "lite": lite, "manifest": manifest, "info": info})
    if not args.models:
        write_readme(out, index, report, command)
    total = tree_size(out)
    print(f"zoo tree: {total} bytes in {out}")
    if total > ZOO_MAX_BYTES:
        sys.exit(f"make_op_zoo: zoo is {total} bytes (> {ZOO_MAX_BYTES})")


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stage", choices=["convert", "goldens"])
    ap.add_argument("--out", default=str(REPO_ROOT / "goldens" / "zoo"))
    ap.add_argument("--models", nargs="*", default=[], help="only these (convert: not written to index.json)")
    args = ap.parse_args()
    py = sys.executable
    try:
        py = os.path.relpath(py)
    except ValueError:
        pass
    command = shlex.join([py] + sys.argv)
    if args.stage == "convert":
        stage_convert(args, command)
    else:
        stage_goldens(args, command)


if __name__ == "__main__":
    main()
