#!/usr/bin/env bash
# The flat fast path's accelerator figures in one run (a few minutes on one GPU):
#   1. the whole training step (benchmarks/train_step.py) at 144 leaves (residual MLP) and
#      1002 leaves (embedding tables; the 1002-leaf MLP compiles for over a minute per
#      variant on an H200): fwd+bwd, gradtx per leaf (with and without static_hyperparams),
#      optax, gradtx on flat params, flatten(tx) (at 144 leaves);
#   2. the optimizer step alone (benchmarks/step_time.py) for adamw and clip+adamw on
#      the 2000-leaf tree, the 148-leaf transformer and GPT-2 small (124M params), against
#      optax and torch.optim.AdamW(fused=True) when torch is importable; compile time at
#      1000 leaves.
# Results go to $OUT (default benchmarks/results/) as JSON next to the printed tables.
#
#   bash benchmarks/gpu.sh           # the real run
#   bash benchmarks/gpu.sh --smoke   # the same commands on tiny sizes, to check the script
set -euo pipefail
cd "$(dirname "$0")"
out="${OUT:-results}"
mkdir -p "$out"
python=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
if [[ "${1:-}" == "--smoke" ]]; then
  "$python" train_step.py --models 2x32,tables8 --repeats 3 --warmup 1 \
    --variants gradtx,gradtx-static,optax,gradtx-flat,gradtx-flatten --json "$out/train_step.json"
  "$python" step_time.py --optimizers adamw --trees many_small --size 20000 --repeats 3 \
    --warmup 1 --compile-leaves 10 --json "$out/step_time.json"
  exit 0
fi
"$python" -c "import jax; print(jax.devices())"
"$python" train_step.py --models 23x256,tables996 --repeats 31 --json "$out/train_step.json" \
  --variants gradtx,gradtx-static,optax,gradtx-flat,gradtx-flatten
"$python" step_time.py --optimizers adamw,clip_adamw --trees many_small,transformer,gpt2_small \
  --repeats 31 --compile-leaves 1000 --compile-timeout 240 --json "$out/step_time.json"
