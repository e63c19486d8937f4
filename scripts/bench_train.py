"""Cost of one training step per penalty method, as a ratio to a plain AE step.

A step is what the trainer does per batch: objective forward, backward and an
Adam update. Every configuration is timed in the same process, interleaved
round by round so that machine noise hits all of them alike; the figure is the
median over rounds. Ratios, not seconds, are the result: these machines are
shared.

    python scripts/bench_train.py            # d_x=784, d_h=1000, batch 128
    python scripts/bench_train.py --rounds 30 --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from manifold_cae import Autoencoder, ModelConfig, ObjectiveConfig, loss_terms


def make_step(hidden: tuple[int, ...], objective: ObjectiveConfig, x: torch.Tensor):
    model = Autoencoder(
        ModelConfig(n_features=x.shape[1], hidden=hidden),
        generator=torch.Generator().manual_seed(0),
    ).to(x.device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator(device=x.device).manual_seed(1)

    def step() -> None:
        terms = loss_terms(model, x, objective, generator=gen)
        opt.zero_grad(set_to_none=True)
        terms.total.backward()
        opt.step()

    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n-features", type=int, default=784)
    ap.add_argument("--n-hidden", type=int, default=1000)
    ap.add_argument("--hidden2", type=int, default=500, help="second layer of the deep encoder")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    device = torch.device(args.device)
    x = torch.rand(args.batch_size, args.n_features, generator=torch.Generator().manual_seed(2))
    x = x.to(device)
    one, two = (args.n_hidden,), (args.n_hidden, args.hidden2)
    cases = {
        "ae (1 layer)": (one, ObjectiveConfig(kind="ae")),
        "cae closed (1 layer)": (one, ObjectiveConfig(kind="cae", penalty="closed")),
        "cae exact torch.func (1 layer)": (one, ObjectiveConfig(kind="cae", penalty="exact")),
        "ae (2 layers)": (two, ObjectiveConfig(kind="ae")),
        "cae hutchinson 1 probe (2 layers)": (
            two, ObjectiveConfig(kind="cae", penalty="stochastic", n_probes=1),
        ),
        "cae exact torch.func (2 layers)": (two, ObjectiveConfig(kind="cae", penalty="exact")),
    }  # fmt: skip
    steps = {name: make_step(h, obj, x) for name, (h, obj) in cases.items()}
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for step in steps.values():  # warm-up
        step()
    for _ in range(args.rounds):
        for name, step in steps.items():
            sync()
            t0 = time.perf_counter()
            step()
            sync()
            times[name].append(time.perf_counter() - t0)

    med = {name: statistics.median(ts) for name, ts in times.items()}
    print(
        f"bench_train: d_x={args.n_features} d_h={args.n_hidden} (2-layer: {two}) "
        f"batch={args.batch_size} rounds={args.rounds} device={device} "
        f"torch={torch.__version__} threads={torch.get_num_threads()}"
    )
    base = {"1 layer": med["ae (1 layer)"], "2 layers": med["ae (2 layers)"]}
    for name, t in med.items():
        layers = "2 layers" if "2 layers" in name else "1 layer"
        print(f"  {name:<36} {t * 1e3:9.2f} ms/step   {t / base[layers]:6.2f}x plain AE ({layers})")
    ratios = [
        ("closed-form CAE / AE, 1 layer", med["cae closed (1 layer)"] / base["1 layer"], 1.3),
        (
            "Hutchinson 1 probe / AE, 2 layers",
            med["cae hutchinson 1 probe (2 layers)"] / base["2 layers"],
            2.5,
        ),
        (
            "exact torch.func / AE, 1 layer",
            med["cae exact torch.func (1 layer)"] / base["1 layer"],
            None,
        ),
    ]
    for label, ratio, target in ratios:
        goal = f"(target <= {target}x)" if target else ""
        print(f"{label:<36} = {ratio:6.2f}x {goal}")


if __name__ == "__main__":
    main()
