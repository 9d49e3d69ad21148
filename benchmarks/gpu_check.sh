#!/usr/bin/env bash
# The GPU checks of README "Scale", in one script of at most 10 minutes (each step has a time limit), ending with
# one table:
#   1. the CUDA/bf16 tests: policy scoring paths and bf16, the learner, the model families, the engine contract, on
#      the GPU (credo's device "auto" is cuda there), and the 2-rank FSDP2 update on NCCL when there are 2 GPUs;
#   2. throughput of a from-config Qwen2-shaped model (Qwen2-0.5B's body, no download) in float32 vs bfloat16:
#      choose-mode acting, generate-mode sampling, the PPO update (benchmarks/gpu_check.py throughput);
#   3. generate mode on a real vLLM server: its log-probs against the learner's recompute (fp32 and bf16), its
#      tokens/s against credo's sampler, and, with 2 GPUs, vLLM's NCCL weight sync (the engine must score like the
#      learner's new weights afterwards).
# Needs: credo installed with its extras (pip install -e '.[dev,ray,vllm]') and a GPU. Nothing is downloaded.
#   bash benchmarks/gpu_check.sh [OUT]            (OUT: runs/gpu-check by default; logs, JSON and the table there)
# On a CPU machine it runs a dry run of the same steps with a 2-layer model (CREDO_VLLM_PYTHON: a python with vLLM).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/gpu-check}
PY=${PYTHON:-python}
VLLM_PY=${CREDO_VLLM_PYTHON:-$PY}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
mkdir -p "$OUT"
: > "$OUT/status.txt"
GPUS=$($PY -c "import torch; print(torch.cuda.device_count())" 2>/dev/null || echo 0)
SMALL=""; PROMPTS=64; DTYPE=bfloat16; VLLM_DEV=(--gpu-memory-utilization 0.35)
if [ "$GPUS" = 0 ]; then
    echo "no GPU: a CPU dry run with a 2-layer model (the numbers mean nothing)"
    SMALL="--small"; PROMPTS=8; DTYPE=float32; VLLM_DEV=(--enforce-eager); export VLLM_CPU_KVCACHE_SPACE=1
fi

step() {  # step NAME SECONDS CMD...: run with a time limit, log to OUT/NAME.log, record rc and seconds
    local name=$1 limit=$2; shift 2
    local t0=$SECONDS
    echo "== $name (at most ${limit}s)"
    timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    echo "$name|$rc|$((SECONDS - t0))" >> "$OUT/status.txt"
    [ "$rc" = 0 ] || tail -5 "$OUT/$name.log"
}

wait_health() {  # wait_health URL PID: until the server answers /health (at most 150 s) or dies
    for _ in $(seq 75); do
        kill -0 "$2" 2>/dev/null || return 1
        curl -sf "$1/health" >/dev/null && return 0
        sleep 2
    done
    return 1
}

$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'gpus', torch.cuda.device_count(),
      'bf16', torch.cuda.is_available() and torch.cuda.is_bf16_supported())" | tee "$OUT/env.txt"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee -a "$OUT/env.txt"

TESTS=(tests/test_policy.py tests/test_learner.py tests/test_policy_architectures.py tests/test_scale_engine.py)
[ "$GPUS" -ge 2 ] && TESTS+=(tests/test_scale_fsdp.py)  # NCCL puts each rank on a GPU of its own
step tests 180 $PY -m pytest -q -p no:cacheprovider "${TESTS[@]}"

MODEL="$OUT/qwen2-shaped"
step model 60 $PY benchmarks/gpu_check.py model "$MODEL" $SMALL
step throughput 120 $PY benchmarks/gpu_check.py throughput "$MODEL" "$OUT/throughput.json" --prompts $PROMPTS

# vLLM: one server to act (GPU 0); with 2 GPUs a second one on GPU 1 that takes weights over NCCL from the learner
PORT=8011; SYNC_PORT=8012; SYNC=()
CUDA_VISIBLE_DEVICES=0 VLLM_SERVER_DEV_MODE=1 $VLLM_PY -m vllm.entrypoints.openai.api_server \
    --model "$MODEL" --served-model-name policy --port $PORT --dtype $DTYPE --max-model-len 2048 "${VLLM_DEV[@]}" \
    > "$OUT/vllm.log" 2>&1 &
VLLM_PID=$!
if [ "$GPUS" -ge 2 ]; then
    CUDA_VISIBLE_DEVICES=1 VLLM_SERVER_DEV_MODE=1 $VLLM_PY -m vllm.entrypoints.openai.api_server \
        --model "$MODEL" --served-model-name policy --port $SYNC_PORT --dtype $DTYPE --max-model-len 2048 \
        --gpu-memory-utilization 0.35 --weight-transfer-config '{"backend": "nccl"}' > "$OUT/vllm-sync.log" 2>&1 &
    SYNC_PID=$!
    SYNC=(--sync-url "http://127.0.0.1:$SYNC_PORT" --nccl 127.0.0.1:29611)
fi
if wait_health "http://127.0.0.1:$PORT" $VLLM_PID && { [ -z "${SYNC_PID:-}" ] || wait_health "http://127.0.0.1:$SYNC_PORT" $SYNC_PID; }; then
    step vllm 90 $PY benchmarks/gpu_check.py vllm "$MODEL" "http://127.0.0.1:$PORT" "$OUT/vllm.json" "${SYNC[@]}"
else
    echo "vllm|not started (see $OUT/vllm.log)|0" >> "$OUT/status.txt"
fi
kill $VLLM_PID ${SYNC_PID:-} 2>/dev/null
wait 2>/dev/null

$PY benchmarks/gpu_check.py table "$OUT" | tee "$OUT/table.txt"
