#!/usr/bin/env bash
# Issue 18's one device command: install the carried wheels, then every GPU check in one call, each
# step under a hard timeout, logs and summary.md (step, status, key figures, seconds) in $OUT.
#
#   On the device (the run tool, carry [".gpu-wheels"], timeout_s 600):
#       bash scripts/gpu_check.sh
#   Here, on CPU (the same plumbing, tiny sizes, the torch backend, test/fake_flashinfer.py):
#       OUT=$(mktemp -d) GPU_CHECK_DRY_RUN=1 bash scripts/gpu_check.sh
#   GPU_CHECK_STEPS=env,kernels runs only those steps (the others are recorded as SKIP);
#   GPU_CHECK_CMD_<step>='...' replaces a step's command (test/scripts/test_gpu_check.py).
#
# It installs the wheelhouse itself (step "env": .gpu-wheels/install_on_device.sh, made here by
# ../shared/gpu/make_wheelhouse.sh), so a failed install shows in the summary like any other step.
# Steps (nominal timeouts, scaled to sum to GPU_CHECK_BUDGET_S, default 530 s, inside the 600 s call):
#   env 50 | kernels 140 (FlashInfer's JIT compile happens here, bf16 then fp16) | gpu_tests 150 |
#   build_model 30 | bench_flashinfer 70 | bench_torch 50 | forward 40
# A step may use the seconds earlier steps left unused, never those reserved for later steps. A
# step that fails or times out is recorded (FAIL / TIMEOUT, with its log's tail) and the next runs;
# the processes it left (servers) are killed by a marker in their environment.
set -uo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?set OUT to the folder whose files come back}"
mkdir -p "$OUT"
dry=${GPU_CHECK_DRY_RUN:-0}
budget=${GPU_CHECK_BUDGET_S:-530}
py=${PYTHON:-python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")  # the 1.2 GB checkpoint: never under $OUT
model=$work/qwen3-0.6b-shape
token=gpu-check-$$-$(date +%s)
t_start=$(date +%s)
: > "$OUT/steps.tsv"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false

if [ "$dry" = 1 ]; then
  d=--dry-run
  install='echo "dry run: no install"'
  # --gpu-sglang's code path on CPU: a tiny body with Qwen3's vocabulary, the torch backend only
  # (the server runs in its own process, where the stand-in cannot be put).
  bench="--device cpu --rates 2,4 --max-duration 1 --min-requests 3 --find-max-rate --stop-after-miss"
  bench_fi="$bench --attention-backend torch"; bench_torch="$bench --attention-backend torch --no-transformers"; tiny=--tiny
else
  d=""
  install='if [ -f .gpu-wheels/install_on_device.sh ]; then bash .gpu-wheels/install_on_device.sh; else echo "no .gpu-wheels: using what is installed"; fi'
  # SGLang's anchors: 1,200 items/s = 120 req/s of 10 items; the goal 2,400 = 240 req/s. The ladder
  # stops at the first rate over p99 500 ms, then bisects (3 more runs) below it.
  bench="--max-duration 2 --min-requests 40 --find-max-rate --stop-after-miss"
  bench_fi="--rates 30,60,120,180,240,320,400 $bench --attention-backend flashinfer"
  bench_torch="--rates 30,60,120,180,240 $bench --attention-backend torch --no-transformers"; tiny=""
fi

names=(env kernels gpu_tests build_model bench_flashinfer bench_torch forward)
limits=(50 140 150 30 70 50 40)
needs=("" "" "" "" build_model build_model build_model)
cmds=(
  "$install || bad=1; nvidia-smi || echo 'no nvidia-smi'; $py scripts/gpu_check.py env $d || bad=1; exit \${bad:-0}"
  "$py scripts/gpu_check.py kernels $d"
  # in-process tests first (pytest keeps the order of file arguments, not of a file beside its folder)
  "$py -m pytest -q -p no:cacheprovider -m gpu -rfE test/gpu/test_gpu_backends.py $(ls test/gpu/test_*.py | grep -v /test_gpu_backends.py | tr '\n' ' ')"
  "$py scripts/gpu_check.py build-model $model $tiny"
  "$py benchmark/bench_serving.py --gpu-sglang --model-path $model $bench_fi --markdown"
  "$py benchmark/bench_serving.py --gpu-sglang --model-path $model $bench_torch --markdown"
  "$py scripts/gpu_check.py forward $model $d"
)
# Scale the nominal limits to the budget (a smaller GPU_CHECK_BUDGET_S shrinks every step alike).
total=0; for t in "${limits[@]}"; do total=$((total + t)); done
for i in "${!limits[@]}"; do limits[$i]=$(( limits[i] * budget / total )); done

summary() { "$py" scripts/gpu_check_summary.py "$OUT" --title "gpu_check $(date -u '+%F %H:%M UTC')$([ "$dry" = 1 ] && echo ' (dry run on CPU: no GPU figure)')" > /dev/null 2>&1 \
  || { echo "# gpu_check (summary writer failed: raw steps)"; cat "$OUT/steps.tsv"; } > "$OUT/summary.md.raw"; }

kill_leftovers() {  # every process whose environment carries this step's marker
  local marker=$1 p
  for p in /proc/[0-9]*; do
    if { tr '\0' '\n' < "$p/environ"; } 2>/dev/null | grep -qx "GPU_CHECK_STEP=$marker"; then
      kill -9 "${p#/proc/}" 2>/dev/null
    fi
  done
}

status_of() { awk -F'\t' -v n="$1" '$1 == n {s = $2} END {print s}' "$OUT/steps.tsv"; }

for i in "${!names[@]}"; do
  name=${names[$i]}
  log=$(printf '%02d-%s.log' "$((i + 1))" "$name")
  later=0; for ((j = i + 1; j < ${#limits[@]}; j++)); do later=$((later + limits[j])); done
  limit=$(( budget - ($(date +%s) - t_start) - later ))
  [ "$limit" -lt 5 ] && limit=5
  dep=${needs[$i]}
  if [ -n "${GPU_CHECK_STEPS:-}" ] && [[ ",$GPU_CHECK_STEPS," != *",$name,"* ]]; then
    printf '%s\tSKIP\t-\t0\t-\t%s\t%s\n' "$name" "$log" "not in GPU_CHECK_STEPS" >> "$OUT/steps.tsv"
    echo "skipped: not in GPU_CHECK_STEPS" > "$OUT/$log"; summary; continue
  fi
  if [ -n "$dep" ] && [ "$(status_of "$dep")" != PASS ]; then
    printf '%s\tSKIP\t-\t0\t-\t%s\t%s\n' "$name" "$log" "needs $dep, which did not pass" >> "$OUT/steps.tsv"
    echo "skipped: needs $dep" > "$OUT/$log"; summary; continue
  fi
  override=GPU_CHECK_CMD_$name
  cmd=${!override:-${cmds[$i]}}
  echo "== $name (timeout ${limit}s): $cmd"
  # RUNNING until it ends: a call cut short from outside still leaves a summary naming this step.
  printf '%s\tRUNNING\t-\t-\t%s\t%s\n' "$name" "$limit" "$log" >> "$OUT/steps.tsv"; summary
  s=$(date +%s.%N)
  GPU_CHECK_STEP=$token-$name timeout -k 5 "$limit" bash -c "$cmd" > "$OUT/$log" 2>&1
  rc=$?
  kill_leftovers "$token-$name"
  secs=$(awk -v a="$s" -v b="$(date +%s.%N)" 'BEGIN {printf "%.0f", b - a}')
  case $rc in 0) st=PASS ;; 124|137) st=TIMEOUT ;; *) st=FAIL ;; esac
  sed -i '$d' "$OUT/steps.tsv"  # the RUNNING line
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$st" "$rc" "$secs" "$limit" "$log" >> "$OUT/steps.tsv"
  echo "== $name: $st (exit $rc, ${secs}s)"
  summary
done
rm -rf "$work"
echo "== total $(( $(date +%s) - t_start ))s; $OUT/summary.md:"
cat "$OUT/summary.md" 2>/dev/null || cat "$OUT/summary.md.raw"
