#!/usr/bin/env bash
# Rebuild the README's figures from scratch: train, analyse and plot a CAE and a DAE
# on the swiss roll, and a CAE, DAE and plain AE on scikit-learn's digits.
# Usage: bash scripts/make_figures.sh [WORK_DIR]   (about two minutes on 2 CPU cores)
set -euo pipefail
work=${1:-$(mktemp -d)}
cd "$(dirname "$0")/.."
roll="swiss-roll:n_samples=1500,noise=0.02,scale=5"
common_roll=(--data "$roll" --hidden 64 --lr 0.01 --epochs 300 --batch-size 64 --seed 0 -q --overwrite
             --input-scaling none)  # tuned on raw coordinates, as the demo
manifold-cae train "${common_roll[@]}" --model cae --lam 0.3 --out "$work/runs/roll-cae"
manifold-cae train "${common_roll[@]}" --model dae --noise 0.3 --out "$work/runs/roll-dae"
common_digits=(--data digits --hidden 200 --lr 0.01 --epochs 30 --seed 0 -q --overwrite)
manifold-cae train "${common_digits[@]}" --model cae --lam 0.5 --out "$work/runs/digits-cae"
manifold-cae train "${common_digits[@]}" --model dae --noise 0.3 --out "$work/runs/digits-dae"
manifold-cae train "${common_digits[@]}" --model ae --out "$work/runs/digits-ae"
for m in cae dae; do
  manifold-cae analyze "$work/runs/roll-$m" --data "$roll" --split held-out -q --out "$work/an/roll-$m"
done
for m in cae dae ae; do
  manifold-cae analyze "$work/runs/digits-$m" --data digits --split held-out -q --out "$work/an/digits-$m"
done
# Labels are the model names, so that each model keeps its colour in every figure.
rm -rf figures/swiss-roll figures/digits
manifold-cae plot "$work/an/roll-cae" "$work/an/roll-dae" --labels cae,dae --out figures/swiss-roll
manifold-cae plot "$work/an/digits-cae" "$work/an/digits-dae" "$work/an/digits-ae" \
  --labels cae,dae,ae --out figures/digits
echo "analyses in $work/an; figures in figures/"
