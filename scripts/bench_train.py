"""Cost of one training step per penalty method, as a ratio to a plain AE step.

A step is what the trainer does per batch: objective forward, backward and an
Adam update. Every configuration is timed in the same process, interleaved
round by round so that machine noise hits all of them alike; the figure is the
median over rounds. Ratios, not seconds, are the result: these machines are
shared. Each ratio is to the plain AE of the same shape, measured in the same run.

Three groups:

- one layer (d_x -> d_h): closed form and torch.func, against a one-layer AE;
- stacked layers: each layer of a stack is a one-layer closed-form CAE on the
  codes below, so layer l costs a closed-form step of shape d_{l-1} -> d_l; its
  ratio to a plain AE layer of that shape is the cost of stacking (target <= 1.1);
- joint deep CAE at 2 and 3 layers: Hutchinson with 1 probe as the trainer does
  it (J v pushed through the layer factors D_l W_l of the forward pass the
  reconstruction already made), the same estimate by ``torch.func.jvp`` (a
  second encoder pass, the earlier route), and the exact penalty by
  ``torch.func`` (target for Hutchinson: <= 2.0).

A fourth, with ``--auto-sizes``, instead of the three: where penalty "auto" stops
building J exactly. The exact route costs one pass per row or column of J (the
fewer), Hutchinson about one in all; 2-layer encoders on 784 inputs with 2 to
200 code units, and on 3 to 50 inputs with 100 code units, time an exact step
against a Hutchinson step (``manifold_cae.config.AUTO_EXACT_MAX`` is read from it).

    python scripts/bench_train.py            # d_x=784, d_h=1000,500,250, batch 128
    python scripts/bench_train.py --rounds 30 --exact-rounds 0 --device cuda
    python scripts/bench_train.py --auto-sizes --rounds 7 --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from manifold_cae import Autoencoder, LossTerms, ModelConfig, ObjectiveConfig, loss_terms
from manifold_cae.jacobian import frobenius_sq_factored, frobenius_sq_stochastic
from manifold_cae.objectives import reconstruction_loss

Step = Callable[[], None]
Terms = Callable[[Autoencoder, torch.Tensor, torch.Generator], LossTerms]


def jvp_hutchinson_terms(
    model: Autoencoder, x: torch.Tensor, gen: torch.Generator, *, lam: float
) -> LossTerms:
    """cae with the Hutchinson penalty by ``torch.func.jvp`` (a second encoder pass): the
    route the trainer used before the factored one, kept here as the reference row."""
    recon = reconstruction_loss(model, x, x).mean()
    penalty = lam * frobenius_sq_stochastic(model.encode, x, generator=gen).mean()
    return LossTerms(recon + penalty, recon, penalty)


@torch.no_grad()
def check_factored(x: torch.Tensor, hidden: tuple[int, ...]) -> float:
    """Largest relative gap between the trainer's factored and the jvp Hutchinson values."""
    model = Autoencoder(ModelConfig(x.shape[1], hidden, output="sigmoid"),
                        generator=torch.Generator().manual_seed(0)).to(x.device)  # fmt: skip
    want = frobenius_sq_stochastic(
        model.encode, x, generator=torch.Generator(device=x.device).manual_seed(5)
    )
    got = frobenius_sq_factored(model, x, generator=torch.Generator(device=x.device).manual_seed(5))
    return float(((got - want).abs() / want.abs()).max())


def make_step(hidden: tuple[int, ...], terms: Terms, x: torch.Tensor) -> Step:
    model = Autoencoder(
        ModelConfig(n_features=x.shape[1], hidden=hidden, output="sigmoid"),
        generator=torch.Generator().manual_seed(0),
    ).to(x.device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator(device=x.device).manual_seed(1)

    def step() -> None:
        t = terms(model, x, gen)
        opt.zero_grad(set_to_none=True)
        t.total.backward()
        opt.step()

    return step


def objective(**kw) -> Terms:
    cfg = ObjectiveConfig(**kw)
    return lambda model, x, gen: loss_terms(model, x, cfg, generator=gen)


def time_steps(steps: dict[str, Step], rounds: int, device: torch.device) -> dict[str, float]:
    """Median seconds per step, timed round-robin."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for step in steps.values():  # warm-up
        step()
    for _ in range(rounds):
        for name, step in steps.items():
            sync()
            t0 = time.perf_counter()
            step()
            sync()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


AUTO_SHAPES = (  # (d_x, hidden): J is (hidden[-1], d_x), exact in min(d_x, hidden[-1]) passes
    *((784, (500, c)) for c in (2, 8, 16, 32, 64, 200)),
    *((d, (100, 100)) for d in (3, 10, 20, 30, 50)),
)


def auto_sizes(args: argparse.Namespace, device: torch.device) -> None:
    """Exact against Hutchinson (1 probe) per step, by the passes the exact route makes."""
    from manifold_cae.config import AUTO_EXACT_MAX, auto_penalty

    ae, exact = objective(kind="ae"), objective(kind="cae", penalty="exact", lam=args.lam)
    hutch = objective(kind="cae", penalty="stochastic", n_probes=1, lam=args.lam)
    gen = torch.Generator().manual_seed(2)
    print(f"bench_train --auto-sizes: batch={args.batch_size} rounds={args.rounds} "
          f"device={device} torch={torch.__version__} threads={torch.get_num_threads()} "
          f"(AUTO_EXACT_MAX = {AUTO_EXACT_MAX})")  # fmt: skip
    print("| d_x | hidden | passes | Hutchinson / AE | exact / AE | exact / Hutchinson | auto |")
    print("|---|---|---|---|---|---|---|")
    for d_x, hidden in AUTO_SHAPES:
        x = torch.rand(args.batch_size, d_x, generator=gen).to(device)
        steps = {name: make_step(hidden, terms, x)
                 for name, terms in (("ae", ae), ("hutch", hutch), ("exact", exact))}  # fmt: skip
        med = time_steps(steps, args.rounds, device)
        passes = min(d_x, hidden[-1])
        auto = {"exact": "exact", "stochastic": "Hutchinson"}[
            auto_penalty("cae", ModelConfig(d_x, hidden))
        ]
        print(f"| {d_x} | {','.join(map(str, hidden))} | {passes} | "
              f"{med['hutch'] / med['ae']:.2f} | {med['exact'] / med['ae']:.2f} | "
              f"**{med['exact'] / med['hutch']:.2f}** | {auto} |", flush=True)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n-features", type=int, default=784)
    ap.add_argument("--hidden", default="1000,500,250", help="layer sizes; deep cases use 2 and 3")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--lam", type=float, default=0.1)
    ap.add_argument("--exact-rounds", type=int, default=3, help="0 skips the slow exact penalty")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (CPU)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--auto-sizes", action="store_true", help="only: exact against Hutchinson by J's size"
    )
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    device = torch.device(args.device)
    if args.auto_sizes:
        auto_sizes(args, device)
        return
    sizes = tuple(int(s) for s in args.hidden.split(","))
    gen = torch.Generator().manual_seed(2)
    x = torch.rand(args.batch_size, args.n_features, generator=gen).to(device)
    # What layer l of a stack trains on: sigmoid codes of the layer below.
    codes = {d: torch.rand(args.batch_size, d, generator=gen).to(device) for d in sizes}
    ae, closed = objective(kind="ae"), objective(kind="cae", penalty="closed", lam=args.lam)
    hutch = objective(kind="cae", penalty="stochastic", n_probes=1, lam=args.lam)
    exact = objective(kind="cae", penalty="exact", lam=args.lam)

    def jvp(model, xb, g):
        return jvp_hutchinson_terms(model, xb, g, lam=args.lam)

    # Each group is timed round-robin with its baselines, so that a slow group (the exact
    # penalties) neither dilutes nor disturbs the others' rounds.
    groups: dict[str, dict[str, tuple[Step, str, float | None]]] = {}
    steps: dict[str, Step] = {}

    def add(group: str, name: str, step: Step, base: str, target: float | None = None) -> None:
        steps.setdefault(name, step)
        groups.setdefault(group, {})[name] = (steps[name], base, target)
        if base != name:
            groups[group].setdefault(base, (steps[base], base, None))

    inputs = (x, *(codes[d] for d in sizes))
    for layer, (d_in, d_out) in enumerate(zip((args.n_features, *sizes), sizes, strict=False)):
        base = f"ae {d_in}->{d_out}"
        add("stack", base, make_step((d_out,), ae, inputs[layer]), base)
        name = f"stack layer {layer + 1} = cae closed {d_in}->{d_out}"
        add("stack", name, make_step((d_out,), closed, inputs[layer]), base, 1.1)
    for depth in (2, 3):
        hidden, base = sizes[:depth], f"ae ({depth} layers)"
        add(f"deep {depth}", base, make_step(hidden, ae, x), base)
        for label, terms in (("factored, the trainer's", hutch), ("torch.func jvp", jvp)):
            name = f"cae hutchinson 1 probe, {label} ({depth} layers)"
            add(f"deep {depth}", name, make_step(hidden, terms, x), base, 2.0)
    if args.exact_rounds:
        add("exact", f"cae exact torch.func ({sizes[0]})", make_step(sizes[:1], exact, x),
            f"ae {args.n_features}->{sizes[0]}")  # fmt: skip
        for depth in (2, 3):
            step = make_step(sizes[:depth], exact, x)
            add("exact", f"cae exact torch.func ({depth} layers)", step, f"ae ({depth} layers)")

    gaps = [check_factored(x, sizes[:depth]) for depth in (2, 3)]
    print(
        f"bench_train: d_x={args.n_features} hidden={sizes} batch={args.batch_size} "
        f"rounds={args.rounds} (exact: {args.exact_rounds}) device={device} "
        f"torch={torch.__version__} threads={torch.get_num_threads()}"
    )
    print(f"factored vs jvp Hutchinson, same probes: max relative gap {max(gaps):.1e}")
    for group, cases in groups.items():
        rounds = args.exact_rounds if group == "exact" else args.rounds
        med = time_steps({name: c[0] for name, c in cases.items()}, rounds, device)
        print(f"[{group}]")
        for name, (_, base, target) in cases.items():
            ratio = med[name] / med[base]
            goal = "" if name == base else f"{ratio:6.2f}x {base}"
            if target is not None:
                goal += f"  (target <= {target}x: {'ok' if ratio <= target else 'MISSED'})"
            print(f"  {name:<48} {med[name] * 1e3:9.2f} ms/step  {goal}", flush=True)


if __name__ == "__main__":
    main()
