#!/usr/bin/env bash
# The one GPU check: several runs per GPU, end to end (about 8 minutes on one H100/H200; no internet).
#
#   OUT=/some/folder bash scripts/gpu_check.sh
#   GPU_CHECK_DRY=1 OUT=/tmp/x bash scripts/gpu_check.sh     # the same steps on the CPU, tiny: checks the script
#
# Needs torch (CUDA), timm, numpy, scikit-learn, scipy, pillow, pydantic, submitit.
# Steps, in this order; each starts only while the time budget lasts (GPU_CHECK_BUDGET_S, default 450 s,
# 1200 in a dry run; every step is also cut by `timeout`), so the script ends within about 8 minutes:
# 1. Packing at VOC's batch 8 (python -m benchmark.bench.packing): 3,000 + 1,000 synthetic 500x375 JPEGs
#    through `prepare voc` and the decoded-image cache, then `run_all.py --runs-per-gpu K` for K = 1, 4,
#    4 under CUDA MPS, 2 (ResNet-50 at 448, bf16 + channels_last, 3 epochs, AN, no pretrained weights),
#    then the identity check (seed 0 alone vs packed, --deterministic where the checkout has it).
#    Writes $OUT/<gpu>_pack_b8.json (a figure file for results/_bench/) and $OUT/pack_b8.log.
#    Goal (issue 15): aggregate >= 2.5x one run's training images/s; records identical packed vs alone.
# 2. Packing at batch 16 (COCO's and NUS-WIDE's, most of the table's GPU-hours): K = 1, 4, 4 under MPS.
#    $OUT/<gpu>_pack_b16.json.
# 3. Ours against the reference-style loop at batch 16 (python -m benchmark.bench): $OUT/bench_b16.json.
# 4. The whole table's GPU-hours, one run per GPU and 4 per GPU, from the figures measured here (and the
#    repository's): $OUT/cost_table.md.
# GPU_CHECK_B64=1 adds, budget permitting, the batch-64 rows of README "Cost" (eager and --compile).
# Steps 2-4 failing does not fail the check; their logs say why. Exit status: step 1's.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/spml-gpu-check}"
PY="${PYTHON:-python}"
DRY="${GPU_CHECK_DRY:-0}"
BUDGET="${GPU_CHECK_BUDGET_S:-$([ "$DRY" = "1" ] && echo 1200 || echo 450)}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
left() { echo $((BUDGET - SECONDS)); }

if [ "$DRY" = "1" ]; then
    echo "== dry run on the CPU (GPU_CHECK_DRY=1): tiny sizes, the figures mean nothing =="
    "$PY" -c "import torch, timm; print('torch', torch.__version__, 'timm', timm.__version__)" || exit 1
    PACK=(--dry --workdir /tmp/spml-gpu-check-dry)
    BENCH=(--device cpu --backbone resnet18 --image-size 32 --images 64 --ref-images 32 --eval-images 32
           --warmup-batches 1 --ours-epochs 1 --workdir /tmp/spml-gpu-check-dry/bench)
    B16_STEPS=(1 2 2+mps)
else
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    "$PY" -c "import torch, timm; print('torch', torch.__version__, 'timm', timm.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))" || exit 1
    command -v nvidia-cuda-mps-control >/dev/null && echo "nvidia-cuda-mps-control: $(command -v nvidia-cuda-mps-control)" \
        || echo "nvidia-cuda-mps-control not found: the MPS steps run time-sliced and say so"
    PACK=(--workdir /tmp/spml-pack-bench)
    BENCH=(--device cuda --workdir /tmp/spml-bench --images 1024 --ref-images 640 --eval-images 1024)
    B16_STEPS=(1 4 4+mps)
fi

echo "== 1/4 packing at batch 8 (budget $(left)s) =="
timeout "$(left)" "$PY" -m benchmark.bench.packing --out "$OUT" "${PACK[@]}" --batch-size 8 \
    --budget-s $(($(left) - 150)) 2>&1 | tee "$OUT/pack_b8.log"
status=${PIPESTATUS[0]}
[ "$status" -ne 0 ] && echo "packing at batch 8 failed or was cut short (status $status): see $OUT/pack_b8.log"

if [ "$(left)" -gt 100 ]; then
    echo "== 2/4 packing at batch 16 (budget $(left)s) =="
    timeout $(($(left) + 30)) "$PY" -m benchmark.bench.packing --out "$OUT" "${PACK[@]}" --batch-size 16 \
        --steps "${B16_STEPS[@]}" --budget-s $(($(left) - 60)) > "$OUT/pack_b16.log" 2>&1 \
      || echo "packing at batch 16 failed or was cut short (not fatal); last lines:"
    grep -E "K=|FAILED|skipped|wrote" "$OUT/pack_b16.log" | tail -8
else
    echo "== 2/4 packing at batch 16: skipped, $(left)s of the budget left =="
fi

if [ "$(left)" -gt 60 ]; then
    echo "== 3/4 ours vs the reference-style loop at batch 16 (budget $(left)s) =="
    timeout $(($(left) + 20)) "$PY" -m benchmark.bench "${BENCH[@]}" --batch-size 16 --json "$OUT/bench_b16.json" \
        > "$OUT/bench_b16.log" 2>&1 && grep -E '^\((a|b|c)\)' "$OUT/bench_b16.log" \
      || { echo "batch-16 bench failed or timed out (not fatal); last lines:"; tail -5 "$OUT/bench_b16.log"; }
else
    echo "== 3/4 reference comparison: skipped, $(left)s of the budget left =="
fi

if [ "${GPU_CHECK_B64:-0}" = "1" ] && [ "$(left)" -gt 60 ]; then
    echo "== extra (GPU_CHECK_B64=1): batch 64, eager then compiled (budget $(left)s) =="
    for variant in eager compile; do
        extra=(); [ "$variant" = compile ] && extra=(--compile)
        timeout $(($(left) + 20)) "$PY" -m benchmark.bench "${BENCH[@]}" --batch-size 64 "${extra[@]}" \
            --json "$OUT/bench_b64_$variant.json" > "$OUT/bench_b64_$variant.log" 2>&1 \
          && grep -E '^\((a|b|c)\)' "$OUT/bench_b64_$variant.log" \
          || { echo "batch-64 $variant failed or timed out (not fatal)"; tail -3 "$OUT/bench_b64_$variant.log"; }
    done
fi

echo "== 4/4 the whole table's GPU-hours from these figures and the repository's =="
figures=$(mktemp -d)
cp results/_bench/*.json "$figures"/ 2>/dev/null
cp "$OUT"/*_pack_b*.json "$figures"/ 2>/dev/null
[ -f "$OUT/bench_b16.json" ] && cp "$OUT/bench_b16.json" "$figures/measured_b16.json"
"$PY" -m benchmark.bench.cost --table --bench-dir "$figures" --runs-per-gpu 4 --mps --gpus 1 8 16 \
    > "$OUT/cost_table.md" 2>&1 && cat "$OUT/cost_table.md" \
  || { echo "no cost table (expected in a dry run: no GPU figures):"; tail -2 "$OUT/cost_table.md"; }
rm -rf "$figures"

echo "== summary ($SECONDS s) =="
"$PY" - "$OUT" <<'PYEOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
for path in sorted(out.glob("*_pack_b*.json")):
    r = json.loads(path.read_text())
    s = r["settings"]
    print(f"{path.name}: {r['device_name']}, batch {s['batch_size']}, {s['backbone']} at {s['image_size']}")
    one = r["train_images_per_s"].get("1")
    for k, v in r["train_images_per_s"].items():
        print(f"  K={k:6s} {v:7.0f} train images/s in all" + (f"  = {v / one:.2f}x one run" if one else ""))
    for step, why in r.get("failed", {}).items():
        print(f"  step {step} FAILED: {why.splitlines()[0]}")
    if r.get("skipped"):
        print(f"  skipped (budget): {', '.join(r['skipped'])}")
    if one:
        best = max(r["train_images_per_s"].values())
        print(f"  goal >= 2.5x one run: {best / one >= 2.5} (best {best / one:.2f}x)")
    if "identity" in r:
        i = r["identity"]
        print(f"  identical records packed vs alone: {i['identical']}"
              + (f" (differ: {i['fields_that_differ']})" if not i["identical"] else "")
              + (f"; {i['note']}" if i.get("note") else ""))
bench = out / "bench_b16.json"
if bench.exists():
    r = json.loads(bench.read_text())
    print(f"bench_b16.json: {r['device_name']}: ours {r['ours_train_images_per_s']:.0f} train images/s "
          f"(reference {r['ref_train_images_per_s']:.0f}), train {r['train_speedup']:.2f}x, eval {r['eval_speedup']:.2f}x")
PYEOF
exit "$status"
