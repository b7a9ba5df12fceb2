#!/usr/bin/env bash
# GPU benchmarks, one script, under 8 minutes on one GPU (prepared and tested on the CPU with
# GPU_SH_TINY=1):
#   1. the fast CIFAR-10 recipe (configs/fast_cifar10.yaml) on CIFAR-10 (JPEG): airbench's
#      protocol, mean of RUNS runs; the time to build the network and upload the data set is
#      reported apart from the training time (warm-up run excluded); target: 91% in at most 3 s
#      of training;
#   2. resnet50 training at 224x224, bf16, channels-last, batch 256, synthetic data: plain loop
#      and Model.fit(auto), both given the same channels-last batches; target: at least 3,000
#      images/s.
#
#   bash benchmarks/gpu.sh --data path/to/cifar10-jpeg.tar.gz   # or an extracted tree
#   CIFAR_DATA=path bash benchmarks/gpu.sh                        # the same, by variable
#   GPU_SH_TINY=1 bash benchmarks/gpu.sh --data /tmp/cifar-tiny   # CPU smoke test
#
# Refuses to run without CUDA (exit 2) unless GPU_SH_TINY=1. Per-run progress goes to stderr;
# one JSON line per part on stdout, and benchmarks/results/gpu-<date>.json (or $OUT/). The
# temporary extraction and resvision's cache are removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
export PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}"
RUNS=${RUNS:-5}
TINY=${GPU_SH_TINY:-0}
DATA=${CIFAR_DATA:-${CIFAR_JPEG:-${CIFAR_ROOT:-}}}
while [ $# -gt 0 ]; do
  case "$1" in
    --data) DATA=${2:?--data needs a path}; shift 2 ;;
    --data=*) DATA=${1#--data=}; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "gpu.sh: unknown argument $1 (accepted: --data PATH)" >&2; exit 2 ;;
  esac
done
DEST=${OUT:-benchmarks/results}

if ! "$PYTHON" -c 'import torch, sys
ok = torch.cuda.is_available()
print("torch", torch.__version__, "cuda", ok, torch.cuda.get_device_name(0) if ok else "")
sys.exit(0 if ok else 3)'; then
  if [ "$TINY" != 1 ]; then
    echo "gpu.sh: no CUDA device visible to $PYTHON (a CUDA build of torch and a GPU are needed;" \
         "GPU_SH_TINY=1 runs the CPU smoke test)" >&2
    exit 2
  fi
fi
DEVICE_ARGS=()
if [ "$TINY" = 1 ]; then DEVICE_ARGS=(--device cpu); fi

if [ -z "$DATA" ]; then
  for candidate in shared/data/cifar10-jpeg.tar.gz ../shared/data/cifar10-jpeg.tar.gz; do
    if [ -f "$candidate" ]; then DATA=$candidate; break; fi
  done
fi
if [ -z "$DATA" ] || [ ! -e "$DATA" ]; then
  echo "gpu.sh: no CIFAR-10 (JPEG) found${DATA:+ at $DATA}: give --data ARCHIVE.tar.gz or a" \
       "folder holding train/ and test/ (or set CIFAR_DATA)" >&2
  exit 2
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export RESVISION_CACHE=${RESVISION_CACHE:-$WORK/cache}
if [ -d "$DATA" ]; then
  ROOT=$DATA
else
  tar -xzf "$DATA" -C "$WORK"
  ROOT=$WORK
  # the archive may hold one top-level folder above train/ and test/
  if [ ! -d "$ROOT/train" ]; then ROOT=$(dirname "$(find "$WORK" -maxdepth 3 -type d -name train | head -1)"); fi
fi
mkdir -p "$DEST"
RESULT="$DEST/gpu-$(date +%Y-%m-%d).json"

if [ "$TINY" = 1 ]; then
  RECIPE_ARGS=(--runs 1 --epochs 1 "${DEVICE_ARGS[@]}")
  TP_ARGS=(--batch 4 --size 64 --steps 1 --rounds 1 "${DEVICE_ARGS[@]}")
else
  RECIPE_ARGS=(--runs "$RUNS")
  TP_ARGS=(--batch 256 --size 224 --steps 20 --rounds 3)
fi

# Progress lines go to stderr as they come; the last line (the JSON) is kept.
echo "== fast CIFAR-10 recipe (mean of ${RUNS} runs) ==" >&2
RECIPE=$(timeout 330 "$PYTHON" -m benchmarks.gpu_recipe --root "$ROOT" "${RECIPE_ARGS[@]}" \
  | tee /dev/stderr | tail -1)
echo "== resnet50@224 bf16 channels-last b256, synthetic ==" >&2
THROUGHPUT=$(timeout 120 "$PYTHON" -m benchmarks.gpu_throughput "${TP_ARGS[@]}" \
  | tee /dev/stderr | tail -1)
printf '{"recipe": %s, "resnet50_throughput": %s}\n' "$RECIPE" "$THROUGHPUT" | tee "$RESULT"
echo "wrote $RESULT" >&2
