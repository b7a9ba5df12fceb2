#!/usr/bin/env bash
# GPU benchmarks, one script, under 8 minutes on one GPU (prepared and tested on the CPU with
# GPU_SH_TINY=1):
#   1. the fast CIFAR-10 recipe (configs/fast_cifar10.yaml) on CIFAR-10 (JPEG): airbench's
#      protocol, training time with the data on the device, warm-up excluded, mean of RUNS runs;
#      target: 91% in at most 3 s of training;
#   2. resnet50 training at 224x224, bf16, channels-last, batch 256, synthetic data: plain loop
#      and Model.fit(auto); target: at least 3,000 images/s.
#
#   bash benchmarks/gpu.sh                        # needs a CUDA torch in $PYTHON (default python3)
#   CIFAR_JPEG=path/to/cifar10-jpeg.tar.gz bash benchmarks/gpu.sh
#   GPU_SH_TINY=1 CIFAR_ROOT=/tmp/cifar-tiny bash benchmarks/gpu.sh   # CPU smoke test
#
# Results: one JSON line per part on stdout, and benchmarks/results/gpu-<date>.json (or $OUT/).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
export PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}"
RUNS=${RUNS:-5}
TINY=${GPU_SH_TINY:-0}
DEST=${OUT:-benchmarks/results}
mkdir -p "$DEST"
RESULT="$DEST/gpu-$(date +%Y-%m-%d).json"

"$PYTHON" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")'
DEVICE_ARGS=()
if [ "$TINY" = 1 ]; then DEVICE_ARGS=(--device cpu); fi

ROOT=${CIFAR_ROOT:-}
TMP=""
if [ -z "$ROOT" ]; then
  ARCHIVE=${CIFAR_JPEG:-}
  for candidate in "$ARCHIVE" shared/data/cifar10-jpeg.tar.gz ../shared/data/cifar10-jpeg.tar.gz; do
    if [ -n "$candidate" ] && [ -f "$candidate" ]; then ARCHIVE=$candidate; break; fi
  done
  if [ -z "$ARCHIVE" ] || [ ! -f "$ARCHIVE" ]; then
    echo "no CIFAR-10 (JPEG): set CIFAR_JPEG=archive or CIFAR_ROOT=extracted tree" >&2
    exit 2
  fi
  TMP=$(mktemp -d)
  trap 'rm -rf "$TMP"' EXIT
  tar -xzf "$ARCHIVE" -C "$TMP"
  ROOT=$TMP
fi
export RESVISION_CACHE=${RESVISION_CACHE:-$(mktemp -d)}

if [ "$TINY" = 1 ]; then
  RECIPE_ARGS=(--runs 1 --epochs 1 "${DEVICE_ARGS[@]}")
  TP_ARGS=(--batch 4 --size 64 --steps 1 --rounds 1 "${DEVICE_ARGS[@]}")
else
  RECIPE_ARGS=(--runs "$RUNS")
  TP_ARGS=(--batch 256 --size 224 --steps 20 --rounds 3)
fi

echo "== fast CIFAR-10 recipe (mean of ${RUNS} runs) =="
RECIPE=$(timeout 330 "$PYTHON" -m benchmarks.gpu_recipe --root "$ROOT" "${RECIPE_ARGS[@]}" | tail -1)
echo "$RECIPE"
echo "== resnet50@224 bf16 channels-last b256, synthetic =="
THROUGHPUT=$(timeout 120 "$PYTHON" -m benchmarks.gpu_throughput "${TP_ARGS[@]}" | tail -1)
echo "$THROUGHPUT"
printf '{"recipe": %s, "resnet50_throughput": %s}\n' "$RECIPE" "$THROUGHPUT" > "$RESULT"
echo "wrote $RESULT"
