#!/usr/bin/env bash
# One short GPU check of the fast harness (about 4-6 minutes on one H100/H200, hard cap 7.5; no
# internet needed).
#
#   OUT=/some/folder bash scripts/gpu_check.sh
#
# Needs torch (CUDA), timm, numpy, scikit-learn, scipy, pillow, pydantic (torchvision optional).
# 1. python -m benchmark.bench --device cuda: ResNet-50 (random init) at 448, ours (decoded-image
#    cache, bf16 autocast, channels_last, sync-free step) against the reference-style loop (PIL
#    per item in 8 workers, fp32 NCHW, boolean-mask loss, per-batch .cpu(), sklearn AP), in one
#    process, on 2048 synthetic 500x375 JPEGs generated into /tmp. Writes $OUT/bench.json.
# 2. The same at the protocol's batch 16 (COCO/NUS-WIDE): $OUT/bench_b16.json, and from it the
#    GPU-hours of the whole table (python -m benchmark.bench.cost): $OUT/cost.md.
# 3. Batch 64 with --compile (torch.compile of our forward), if it works: $OUT/bench_compile.json.
#    Steps 2-3 failing does not fail the check; their logs say why.
# Goals: ours_train_images_per_s >= 1200 on an H100, train_speedup >= 3.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/spml-gpu-check}"
PY="${PYTHON:-python}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" -c "import torch, timm; print('torch', torch.__version__, 'timm', timm.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))" || exit 1

echo "== 1/3 bench, batch 64 (eager) =="
timeout 180 "$PY" -m benchmark.bench --device cuda --workdir /tmp/spml-bench --json "$OUT/bench.json" 2>&1 | tee "$OUT/bench.log"
status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ]; then echo "bench failed with status $status"; exit "$status"; fi

echo "== 2/3 bench, batch 16 (the protocol's), and the table's cost =="
timeout 120 "$PY" -m benchmark.bench --device cuda --workdir /tmp/spml-bench --batch-size 16 --images 1024 \
    --ref-images 640 --eval-images 1024 --json "$OUT/bench_b16.json" > "$OUT/bench_b16.log" 2>&1 \
  && grep -E '^\((a|b|c)\)' "$OUT/bench_b16.log" \
  && "$PY" -m benchmark.bench.cost "$OUT/bench_b16.json" --gpus 1 4 8 | tee "$OUT/cost.md" \
  || { echo "batch-16 run failed or timed out (not fatal); last lines:"; tail -5 "$OUT/bench_b16.log"; }

echo "== end to end: run_all.py on the embedded set on CUDA (bf16, channels_last) =="
timeout 150 "$PY" run_all.py --methods bce an em em_apl role role_li --seeds 0 --device cuda --amp bf16 \
    --channels-last --results-dir "$OUT/e2e_results" --data-root /tmp/spml-e2e-data --no-leaderboard --quiet \
    2>&1 | tail -4 || echo "end-to-end run failed (see above)"

if [ "${GPU_CHECK_COMPILE:-1}" = "0" ]; then echo "== 3/3 compile variant skipped (GPU_CHECK_COMPILE=0) =="; else
echo "== 3/3 bench, batch 64, torch.compile (optional) =="
timeout 150 "$PY" -m benchmark.bench --device cuda --workdir /tmp/spml-bench --compile \
    --json "$OUT/bench_compile.json" > "$OUT/bench_compile.log" 2>&1 \
  && grep -E '^\((a|b|c)\)' "$OUT/bench_compile.log" \
  || { echo "compile variant failed or timed out (not fatal); last lines:"; tail -5 "$OUT/bench_compile.log"; }
fi

echo "== summary =="
"$PY" - "$OUT" <<'PYEOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
for name in ("bench.json", "bench_b16.json", "bench_compile.json"):
    p = out / name
    if not p.exists():
        continue
    r = json.loads(p.read_text())
    print(f"{name}: {r['device_name']}: ours {r['ours_train_images_per_s']:.0f} train images/s "
          f"(reference {r['ref_train_images_per_s']:.0f}); speedups input {r['input_speedup']:.1f}x, "
          f"train {r['train_speedup']:.2f}x, eval {r['eval_speedup']:.2f}x; cache build "
          f"{r['cache_build_images_per_s']:.0f} images/s")
    print(f"  goals: >=1200 train images/s: {r['ours_train_images_per_s'] >= 1200}; >=3x the reference: "
          f"{r['train_speedup'] >= 3}")
PYEOF
