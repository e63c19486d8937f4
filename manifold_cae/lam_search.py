"""``lam="auto"``: the contractive weight chosen from the data alone, by a seeded search.

**Criterion** (lower is better): the share of the spread of each held-out point's nearest
training points, about their own mean, that the encoder's top-k tangents at the point miss,

    missed_k = 1 - sum_{x,y} ||V_k(x)^T (y - m(x))||^2 / sum_{x,y} ||y - m(x)||^2,

with x a held-out point (with ``held_out`` 0, a point of a seeded fifth of the training
rows that the candidates do not train on), y one of its ``neighbours`` nearest training
points, m(x) their mean, and V_k(x) (n_features, k) the top-k right singular vectors of
J_f(x) (:func:`~manifold_cae.tangents`). This is local PCA's covariance at x, scored on the
model's tangents instead of its own eigenvectors. The training points' isotropic noise adds
the same share to every k-dimensional subspace, so the criterion ranks subspaces by how much
of the spread's clean, tangential part they hold. Offsets from x itself (y - x) would carry
x's own noise, the same vector in all of its neighbours' offsets: an encoder that had
learned to follow noise would capture it and be ranked first. Measured on the built-in
manifolds at noise 0.1, over λ, learning rates and epochs, that ranking ran against the true
tangent error (Spearman -0.27 on the circle); centred, +0.95 to +1.00 (README, "Choosing λ
automatically"). k stays fixed over the grid: with k free, a small λ (whose encoder keeps
every direction) would capture everything.

**k** is given (``LamSearchConfig.k``, e.g. the manifold's known dimension) or estimated
from the same displacements. The *lift* of a candidate's i-th tangent is the share of the
displacement energy along it times n_features (1 for a random direction); k is where the
candidates' lifts, averaged on a log scale, drop most between consecutive tangents (one
candidate's drop alone let an over-contracted finalist set k: :func:`estimate_dimension`),
then cut before the first of the top k directions of local PCA on the
same displacements (:func:`neighbourhood_fit`) whose lift is under ``CURVATURE_LIFT`` (a
tenth) of the largest. Without noise a curved neighbourhood's spread has a small
second-order part along the curvature (a circle's neighbours bend inside its plane: lifts
9.97, 0.03, then 0), and the drop from that part to nothing is the largest of all, so the
drop alone counted the span (2 for the circle, 3 for the sphere) and the criterion then
ranked λ by how well the tangents held the span, not the tangent plane. The cut reads local
PCA, not the candidate, because a candidate's tangents can only blur that spectrum: a
candidate whose top two tangents tilt toward the curvature holds part of the tangent plane
in its third (on the torus in R^30 without noise, lifts 14, 12.7, 3.2 against local PCA's
18, 11, 0.75), and a cut read there kept the curvature as a third tangent. On the manifolds
of the tangent benchmark the cut changes k only at little or no noise, to the true
dimension (README, "Choosing λ automatically"); elsewhere it can still count part of a span.
The analysis's local dimension (the largest drop in log σ) is not used: on curved manifolds
it counts the span the manifold curves in, because a sigmoid encoder keeps that span.

**Search**: successive halving in two rounds. Every λ of ``grid`` is trained for
``first_epochs`` (default: a fifth of the run's epochs); the ``keep`` (default 5) best by
the criterion are trained for the run's full epochs (k is estimated afresh in each round).
Five, not three: a small λ trains slowly, so at a fifth of the epochs it can rank below
larger ones that it beats at the full length (the swiss roll without noise: 6.8° with three
finalists, 5.9° with five; the torus in R^30 without noise: 11.2° and 6.0°). For the same
reason the search does not stop at its finalists' edge: where the best full-length run is
the smallest (or largest) λ trained to that length, the next grid λ past it trains to the
full length too, and so on until a worse run flanks the best on each side (:func:`_beyond`),
while a run past it misses less (misses under ``RESOLVED_MISS`` tie, and a tie keeps the
best). On the helix in R^50 without noise the best finalist was the smallest, λ 1, 4.0° off;
past it λ 0.316 and 0.1 scored better (2.7° and 2.4°), and 0.0316 worse. k stays the
finalists' (the runs past them are scored at it), and the last round records them in
:attr:`SearchRound.added`. A candidate is the run ``train --lam <λ>`` would make (same seed,
split and settings; shorter in the first round; with ``held_out`` 0, on the four fifths of
the training rows that do not score) trained in memory; one that diverges ranks last. Under
``torchrun`` the ranks train each candidate together (data-parallel); rank 0 alone scores it
and all take that score, so they make the same choices even where their floats differ. The
search costs about ``len(grid) * first_epochs + keep * epochs`` epochs per input gain
(below), plus ``epochs`` per λ trained past the finalists, then the chosen λ is trained as
the run itself.

**Length**: each finalist (a λ the first round kept) has a first-round run too; the
choice is the best of those runs and the full-length ones, all scored at the last round's
k, so the search also chooses when to stop: a finalist's first-round run that scores
strictly better than every full-length one is chosen with its shorter length, and the run
trains for that many epochs (:attr:`LamSearchResult.epochs`); a tie keeps the full length.
Only finalists' first-round runs compete (not those of λs trained past the finalists): when
the last round's k differs from the first's, a λ that the first round dropped at its own k
could otherwise come back at the other (on the helix
without noise, a λ dropped at k=1 won at k=2 with a tangent 32° off).
The criterion ranks training lengths as the true tangent error does; a longer run fits
more of the noise, and on the built-in manifolds at noise 0.1 the shorter run was the
better one (README, "Choosing λ automatically").

**Input gain**: for a model that scales its inputs (``input_scaling`` standard or global),
the whole search runs once per gain of ``LamSearchConfig.gains`` (default 1 and 2, times the
model's ``input_gain``), each on the same displacements, and the gain whose chosen run
misses least wins if it misses less than the first gain by more than ``GAIN_Z`` = 2 standard
errors (a paired bootstrap over the held-out points, :func:`advantage`); else the first gain
stays. Misses under ``RESOLVED_MISS`` = 1e-4, which float32 tangents do not resolve, tie:
where k fills the neighbourhoods' span, as for the torus in R^30 without noise, every run
misses 1e-7 to 2e-5 and the gains differ by rounding. The standard errors matter on smooth
manifolds at high noise, where the gains' misses differ by 0.1 to 0.3 % and gain 2 was up to
10° worse (the sphere at noise 0.1: 9.7° at gain 1, 19.6° at gain 2; 1.2 standard errors
apart); where gain 2 is better the difference is 3.0 to 15 standard errors. The gains are
compared at one k, estimated from all their finalists' full-length fits, and each gain's
choice at its own chosen length. The gain sets how large the data are for the sigmoid units,
so how sharply one layer can bend around them: on the 1,000-point swiss roll at noise 0.02
the chosen run's tangents are 18.9° off at gain 1 and 6.1° at gain 2 (the criterion: 0.077
and 0.027 missed), on the torus in R^30 21.3° and 9.9° (0.231 and 0.179), while with noise
the circle, the helix and the sphere are mostly best at gain 1 (README, "Choosing λ
automatically"). ``compare`` does not search it (``choose_gain=False``): every model of a
study sees the same inputs.

The choice travels with the run: :func:`with_search` puts the chosen λ in
``objective.lam``, its length in ``training.epochs``, its gain in ``model.input_gain``,
and the whole search
(:class:`LamSearchResult`) in ``config.data["lam_search"]``, which the checkpoint and
``history.json`` carry.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch

from manifold_cae import distributed
from manifold_cae.analysis.tangent_space import tangents
from manifold_cae.config import LAM_AUTO, RunConfig, replace, resolve_epochs
from manifold_cae.data.streaming import rows_of
from manifold_cae.errors import CheckpointError, ConfigError, DivergenceError
from manifold_cae.models import SCALED, Autoencoder
from manifold_cae.train import fit, resolve_model_for

DEFAULT_GRID: tuple[float, ...] = tuple(float(f"{10 ** (e / 2):.6g}") for e in range(-4, 5))
DEFAULT_GAINS: tuple[float, ...] = (1.0, 2.0)  # input gains a scaled model's search tries
CRITERION = (
    "share of the spread of held-out points' nearest training points (about their mean) "
    "missed by the top-k tangents"
)
RECORD_KEY = "lam_search"  # where a run's config.data keeps the search
SCORED_ON_HELD_OUT = "the held-out split"
SCORED_ON_TRAINING = "a fifth of the training rows, held back from the candidates (held_out is 0)"
SEARCH_HOLD_BACK = 0.2  # with held_out 0: the share of training rows that scores the candidates
_LIFT_FLOOR = 1e-12  # a lift below this counts as this (log of 0)
CURVATURE_LIFT = 0.1  # of the estimated k, a tangent under 0.1 x the largest lift is dropped
# Gains whose choices miss less than this tie: float32 tangents resolve no finer (at a k that
# fills the neighbourhoods' span every run misses 1e-7 to 2e-5, rounding, not geometry).
RESOLVED_MISS = 1e-4
# A later gain replaces the first only if it misses less by more than GAIN_Z standard errors
# (paired bootstrap over the held-out points, BOOTSTRAP resamples): on the circle, the helix
# and the sphere the gains' misses differ by 0.6 to 1.6 standard errors where gain 2 was the
# worse choice (up to 10° worse), and by 3.0 to 15 where it was the better one.
GAIN_Z = 2.0
BOOTSTRAP = 1000
Log = Callable[[str], None]


@dataclass(frozen=True)
class LamSearchConfig:
    """How ``lam="auto"`` searches (module docstring)."""

    grid: tuple[float, ...] = DEFAULT_GRID  # the λ values tried: 10^-2 .. 10^2, 2 per decade
    first_epochs: int | None = None  # epochs of the first round [default: epochs // 5, >= 1]
    keep: int = 5  # candidates trained for the full epochs in the second round
    neighbours: int = 20  # training neighbours per held-out point (>= 2: their spread)
    points: int = 500  # held-out points the criterion sums over (a seeded sample of them)
    reference: int = 20_000  # training points searched for neighbours (a seeded sample)
    k: int | None = None  # tangent directions the criterion uses [default: estimated]
    max_k: int = 16  # the estimate looks at the top max_k tangents (fewer if d_h or d_x is)
    gains: tuple[float, ...] = DEFAULT_GAINS  # input gains tried, times the model's input_gain

    def __post_init__(self) -> None:
        for name, what in (("grid", "the λ grid"), ("gains", "the input gains")):
            try:
                values = tuple(float(v) for v in getattr(self, name))
            except (TypeError, ValueError):
                values = ()
            if (
                not values
                or any(not (math.isfinite(v) and v > 0) for v in values)
                or len(set(values)) != len(values)
            ):
                raise ConfigError(
                    f"{what} must hold distinct finite values > 0; got {getattr(self, name)!r}"
                )
            object.__setattr__(self, name, values)
        for name, least in (("keep", 1), ("neighbours", 2), ("points", 1), ("max_k", 1),
                            ("first_epochs", 1), ("k", 1)):  # fmt: skip
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or value < least):
                raise ConfigError(f"lam search: {name} must be >= {least}; got {value!r}")
        if self.reference < self.neighbours:
            raise ConfigError(
                f"lam search: reference ({self.reference}) must be at least neighbours "
                f"({self.neighbours})"
            )


# ------------------------------------------------------------------ the criterion


class Displacements(NamedTuple):
    """Held-out points and the spread of their nearest training points about their mean."""

    points: np.ndarray  # (n_points, n_features)
    offsets: np.ndarray  # (n_points, neighbours, n_features): neighbour minus neighbours' mean


def neighbour_displacements(
    X: Any, X_held: Any, *, neighbours: int, points: int, reference: int, seed: int
) -> Displacements:
    """The nearest training points of (a seeded sample of) held-out points, centred.

    Each point's neighbours are offset from their own mean, not from the point: the
    point's own noise is then in none of the offsets (module docstring).

    Args:
        X: (n_samples, n_features) training data (array, memmap or row view).
        X_held: (n_held_out, n_features) held-out data.
        neighbours, points, reference: as in :class:`LamSearchConfig`.
        seed: draws the samples when there are more rows than ``points`` / ``reference``.
    """
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(seed)

    def sample(A: Any, cap: int) -> np.ndarray:
        n = A.shape[0]
        rows = np.arange(n) if n <= cap else np.sort(rng.choice(n, size=cap, replace=False))
        return np.asarray(A[rows], dtype=np.float64)

    ref, held = sample(X, reference), sample(X_held, points)
    if len(ref) < 2:
        raise ConfigError(
            f"lam auto scores the spread of a point's training neighbours, and {len(ref)} "
            "training row(s) have none; give --lam a number"
        )
    m = min(neighbours, len(ref))
    idx = NearestNeighbors().fit(ref).kneighbors(held, m, return_distance=False)
    near = ref[idx]  # (n_points, m, n_features)
    return Displacements(held, near - near.mean(axis=1, keepdims=True))


class TangentFit(NamedTuple):
    """How much of the displacements one model's top tangents hold."""

    shares: np.ndarray  # (n_directions,): share of the displacement energy along each tangent
    n_features: int  # d_x
    along: np.ndarray | None = None  # (n_points, n_directions): each point's energy along each
    total: np.ndarray | None = None  # (n_points,): each point's energy; both sum to ``shares``

    def missed(self, k: int) -> float:
        """The criterion: the share the top-k tangents miss, in [0, 1]."""
        return float(max(0.0, 1.0 - self.shares[:k].sum()))

    @property
    def lifts(self) -> np.ndarray:
        """(n_directions,) shares times d_x: 1 is what a random direction holds on average."""
        return self.shares * self.n_features


def advantage(base: TangentFit, other: TangentFit, k: int, *, seed: int) -> float | None:
    """How many standard errors less than ``base`` ``other`` misses at k.

    The standard error is a paired bootstrap (``BOOTSTRAP`` resamples of the held-out
    points, seeded): both fits score the same points, so the spread of their difference is
    what resampling the points moves. None where a fit has no per-point energies or the
    difference does not spread (then only its sign can count).
    """
    if base.along is None or other.along is None or base.total is None:
        return None
    a, b, total = base.along[:, :k].sum(1), other.along[:, :k].sum(1), base.total
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(total), size=(BOOTSTRAP, len(total)))
    diffs = (b[rows].sum(1) - a[rows].sum(1)) / total[rows].sum(1)  # base's miss - other's
    spread = float(diffs.std())
    if not spread > 1e-12:  # the same difference at every point (float rounding aside)
        return None
    return (base.missed(k) - other.missed(k)) / spread


def tangent_fit(
    model: Autoencoder, displacements: Displacements, n_directions: int, *, seed: int = 0
) -> TangentFit:
    """The shares of ``displacements`` along the top ``n_directions`` tangents of ``model``.

    Args:
        model: a trained autoencoder (inputs in the data's coordinates).
        displacements: from :func:`neighbour_displacements`.
        n_directions: tangents per point, 1 <= n_directions <= min(d_h, d_x).
        seed: seeds the randomized start of the tangent solver.
    """
    param = next(model.parameters())
    x = torch.as_tensor(displacements.points, dtype=param.dtype, device=param.device)
    gen = torch.Generator(device=param.device).manual_seed(seed)
    basis = tangents(model, x, n_directions, generator=gen).basis.double().cpu()  # (n, d, K)
    offsets = torch.as_tensor(displacements.offsets, dtype=torch.float64)  # (n, m, d)
    return _fit_of((offsets @ basis).square().sum(dim=1), offsets)  # energy along: (n, K)


def _fit_of(per_point: torch.Tensor, offsets: torch.Tensor) -> TangentFit:
    """The :class:`TangentFit` of ``per_point`` (n, K), each point's energy along K
    directions, as shares of the energy of ``offsets`` (n, m, d)."""
    energy = offsets.square().sum(dim=(1, 2))  # (n,)
    total = energy.sum().clamp_min(torch.finfo(torch.float64).tiny)
    shares = (per_point.sum(dim=0) / total).numpy()
    return TangentFit(shares, offsets.shape[-1], per_point.numpy(), energy.numpy())


def neighbourhood_fit(displacements: Displacements, n_directions: int) -> TangentFit:
    """Local PCA of the displacements: the shares along each point's own principal axes.

    The i-th share sums, over the points, the energy of the point's offsets along their i-th
    principal axis. No model's top-i directions hold more of a point's spread, so these are
    the neighbourhoods' own spectrum, the one :func:`estimate_dimension` reads curvature from.

    Args:
        displacements: from :func:`neighbour_displacements`.
        n_directions: principal axes per point (beyond the offsets' rank they hold 0).
    """
    offsets = torch.as_tensor(displacements.offsets, dtype=torch.float64)  # (n, m, d)
    energy = torch.linalg.svdvals(offsets).square()  # (n, min(m, d)), descending
    per_point = torch.zeros(offsets.shape[0], n_directions, dtype=torch.float64)
    width = min(n_directions, energy.shape[1])
    per_point[:, :width] = energy[:, :width]
    return _fit_of(per_point, offsets)


def estimate_dimension(fits: Sequence[TangentFit], neighbourhoods: TangentFit | None = None) -> int:
    """k: where the fits' lifts, averaged on a log scale, drop most, cut before the first of
    those k directions whose lift is under ``CURVATURE_LIFT`` of the largest (the criterion
    scores the top k tangents in order).

    Each fit is one reading of the spectrum, and the average keeps one fit from setting k
    alone: on mnist5k with five finalists, λ 100 held one dominant tangent (lifts 27, 12.5,
    10.2) and its drop, the largest of any fit, made k 1, and that finalist was chosen.
    The fits must hold the same number of directions (a search's all do).

    The cut reads ``neighbourhoods`` (:func:`neighbourhood_fit`: local PCA of the same
    displacements) where given, else the averaged lifts. A model's tangents can only blur
    the spectrum: on the torus in R^30 without noise, local PCA holds lifts 18, 11 and 0.75
    (the curvature direction, under a tenth), while a candidate whose top two tangents were
    tilted held 14, 12.7 and 3.2, so its cut kept the curvature as a third tangent.

    Returns 1 when no fit has two or more directions.
    """
    fits = [f for f in fits if len(f.shares) >= 2]
    if not fits:
        return 1
    widths = sorted({len(f.shares) for f in fits}, reverse=True)
    if len(widths) > 1:
        raise ValueError(f"estimate_dimension: fits of {' and '.join(map(str, widths))} directions")
    logs = np.mean([np.log(np.maximum(f.lifts, _LIFT_FLOOR)) for f in fits], axis=0)
    k = int(np.argmax(logs[:-1] - logs[1:])) + 1
    lifts = np.exp(logs[:k]) if neighbourhoods is None else neighbourhoods.lifts[:k]
    weak = np.flatnonzero(lifts < CURVATURE_LIFT * lifts.max())
    return max(1, int(weak[0])) if len(weak) else k  # the tangents before the first weak one


# ------------------------------------------------------------------ the search record


class GainChoice(NamedTuple):
    """One input gain's search, as the gains were compared."""

    gain: float  # times the model's input_gain
    lam: float | None  # the λ this gain's search chose (None: every candidate diverged)
    epochs: int | None  # and its length
    missed: float | None  # its criterion at the common k
    z: float | None = None  # how many standard errors less than the first gain it misses


@dataclass(frozen=True)
class SearchRound:
    """One round of the search: every candidate trained for ``epochs``."""

    epochs: int
    lams: tuple[float, ...]
    missed: tuple[float | None, ...]  # the criterion per λ; None: training diverged
    k: int  # tangent directions the criterion used in this round
    lifts: tuple[tuple[float, ...], ...]  # per λ, the lifts of its top tangents (() if diverged)
    # of ``lams``, those trained beyond the finalists, because the best run of this length
    # was the smallest or largest λ trained at it (:func:`_beyond`); () in the first round,
    # and in records saved before the search looked beyond its finalists
    added: tuple[float, ...] = ()

    @classmethod
    def from_dict(cls, r: dict[str, Any]) -> SearchRound:
        lists = {name: tuple(r[name]) for name in ("lams", "missed")}
        added = tuple(r.get("added", ()))  # records saved before it existed added none
        return cls(**{**r, **lists, "added": added, "lifts": tuple(map(tuple, r["lifts"]))})


@dataclass(frozen=True)
class LamSearchResult:
    """A finished search: what was tried, what each scored, and the choice."""

    chosen: float
    rounds: tuple[SearchRound, ...]
    settings: LamSearchConfig = field(default_factory=LamSearchConfig)
    k_source: str = "estimated"  # or "given"
    criterion: str = CRITERION
    scored_on: str = SCORED_ON_HELD_OUT  # which rows scored the candidates
    epochs: int | None = None  # the chosen length; None (records saved before): the full one
    rescored: tuple[float | None, ...] | None = None  # the first round at the last round's k
    gain: float | None = None  # the input gain chosen (times the model's); None: one tried
    by_gain: tuple[GainChoice, ...] | None = None  # each gain's own choice, at ``gain_k``
    gain_k: int | None = None  # the k the gains were compared at
    # local PCA's lifts on the same displacements (:func:`neighbourhood_fit`), which cut k;
    # None: a record saved before they were (its k was cut on a candidate's own lifts)
    local_lifts: tuple[float, ...] | None = None

    @property
    def full_epochs(self) -> int:
        """The run's length the search was made for: its last round's."""
        return self.rounds[-1].epochs

    @property
    def chosen_epochs(self) -> int:
        """The epochs the chosen λ trains for: the full length, or a first round's."""
        return self.full_epochs if self.epochs is None else self.epochs

    def to_dict(self) -> dict[str, Any]:
        """As JSON reads it back (lists, not tuples), so a saved record compares equal.

        ``scored_on`` is left out when it is the held-out split, ``epochs``,
        ``rescored`` and the gain fields when None, and the settings' ``gains`` when it
        is (1.0,), as in records saved before they existed, so that those runs still
        resume.
        """
        d = json.loads(json.dumps(dataclasses.asdict(self)))
        if d["scored_on"] == SCORED_ON_HELD_OUT:
            del d["scored_on"]
        for name in ("epochs", "rescored", "gain", "by_gain", "gain_k", "local_lifts"):
            if d[name] is None:
                del d[name]
        for r in d["rounds"]:  # as rounds saved before the search looked beyond its finalists
            if not r["added"]:
                del r["added"]
        if d["settings"]["gains"] == [1.0]:  # one gain: as records saved before gains were
            del d["settings"]["gains"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LamSearchResult:
        """Rebuild from :meth:`to_dict` output (as read back from JSON)."""
        try:
            rounds = tuple(SearchRound.from_dict(r) for r in d["rounds"])
            # records saved before the gain search tried one gain
            settings = dict(d["settings"], grid=tuple(d["settings"]["grid"]),
                            gains=tuple(d["settings"].get("gains", (1.0,))))  # fmt: skip
            rescored, by_gain, local = d.get("rescored"), d.get("by_gain"), d.get("local_lifts")
            return cls(d["chosen"], rounds, LamSearchConfig(**settings), d["k_source"],
                       d["criterion"], d.get("scored_on", SCORED_ON_HELD_OUT), d.get("epochs"),
                       None if rescored is None else tuple(rescored), d.get("gain"),
                       None if by_gain is None else tuple(GainChoice(*g) for g in by_gain),
                       d.get("gain_k"), None if local is None else tuple(local))  # fmt: skip
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"malformed λ search record: {e!r}") from e

    def report(self) -> str:
        """What was chosen and how, then :meth:`table`."""
        length = ""
        if self.chosen_epochs != self.full_epochs:
            length = (
                f", for {self.chosen_epochs} epochs: its first-round run scored better than "
                f"every {self.full_epochs}-epoch one"
            )
        gain = ""
        if self.gain is not None and self.by_gain is not None:
            tried = "; ".join(
                f"{g.gain:g}×: " + ("diverged" if g.missed is None else
                                    f"λ {g.lam:g}, {g.epochs} ep, missed {g.missed:.4f}"
                                    + ("" if g.z is None else f", {g.z:+.1f} SE"))
                for g in self.by_gain
            )  # fmt: skip
            gain = (
                f"\ninput gain chosen: {self.gain:g}× --input-gain (each gain's own choice at "
                f"k={self.gain_k}: {tried}); the table is that gain's search"
            )
        local = ""
        if self.local_lifts is not None and self.k_source == "estimated":
            shown = self.local_lifts[: self.rounds[-1].k + 1]
            local = f" (local PCA's lifts {', '.join(f'{v:.3g}' for v in shown)})"
        return (
            f"λ chosen automatically: {self.chosen:g}{length} (criterion: {self.criterion}, "
            f"lower is better; k={self.rounds[-1].k}, {self.k_source}{local}; scored on "
            f"{self.scored_on}){gain}\n{self.table()}"
        )

    def table(self) -> str:
        """The curve as a plain-text table: one row per λ, one column per round.

        When the last round estimated another k, a column shows the finalists' first-round
        runs scored at that k too: the numbers the choice compared. λs trained to the full
        length past the finalists (:attr:`SearchRound.added`) are marked.
        """
        columns = [(f"missed (k={r.k}, {r.epochs} ep)", r.lams, r.missed) for r in self.rounds]
        first, last = self.rounds[0], self.rounds[-1]
        if self.rescored is not None and first.k != last.k:
            finalists = [(lam, v) for lam, v in zip(first.lams, self.rescored, strict=True)
                         if lam in last.lams and lam not in last.added]  # fmt: skip
            lams, values = zip(*finalists, strict=True)
            columns.insert(1, (f"at k={last.k} ({first.epochs} ep)", lams, values))
        width = max(len(c[0]) for c in columns)
        lines = ["λ".rjust(9) + "".join(c[0].rjust(width + 2) for c in columns)]
        for lam in self.settings.grid:
            cells = []
            for _, lams, missed in columns:
                v = dict(zip(lams, missed, strict=True)).get(lam, "")
                cells.append("diverged" if v is None else f"{v:.4f}" if v != "" else "")
            mark = "  (past the finalists)" if lam in last.added else ""
            if lam == self.chosen:
                mark += "  <- chosen" + (
                    f" ({self.chosen_epochs} ep)" if self.chosen_epochs != self.full_epochs else ""
                )
            lines.append(f"{lam:9.4g}" + "".join(c.rjust(width + 2) for c in cells) + mark)
        return "\n".join(lines)


def with_search(
    config: RunConfig, result: LamSearchResult, *, planned: int | None = None
) -> RunConfig:
    """``config`` with the chosen λ (and input gain, where the search chose one: it
    multiplies ``config``'s) and the search recorded in ``data["lam_search"]``.

    Where ``config`` asks for the length the search was made for, ``epochs`` becomes the
    chosen length, or ``planned`` (a resumed run's own plan: the chosen length, or what a
    resume with another ``--epochs`` extended it to); another number is kept (a resume
    asked to train on). ``epochs`` must be a number (:func:`~manifold_cae.config.resolve_epochs`).
    """
    objective = replace(config.objective, lam=result.chosen)
    if result.gain is not None:
        config = _at_gain(config, result.gain)
    training = config.training
    if training.epochs == result.full_epochs:
        epochs = result.chosen_epochs if planned is None else planned
        training = replace(training, epochs=epochs)
    data = {**config.data, RECORD_KEY: result.to_dict()}
    return replace(config, objective=objective, training=training, data=data)


def search_of(config: RunConfig) -> LamSearchResult | None:
    """The λ search recorded in a run's config; None if its λ was given."""
    record = config.data.get(RECORD_KEY)
    return None if record is None else LamSearchResult.from_dict(record)


# ------------------------------------------------------------------ the search


def check_searchable(config: RunConfig) -> None:
    """Refuse a search where it cannot apply (callers resolve these cases first: a kind
    without a penalty needs no λ, a stack takes ``stacking.STACKED_LAM``)."""
    if not config.objective.info.contractive:
        raise ConfigError(
            f"--model {config.objective.kind} has no contractive penalty, so there is no λ to "
            "choose; use cae, cae-h or rcae"
        )
    if config.training.stacked:
        raise ConfigError(
            "lam auto is not searched for stacked training (each layer is trained on the "
            "codes of the one below); give one λ per layer, e.g. --lam 0.5,0.1"
        )


def scoring_split(X: Any, X_held: Any, *, seed: int) -> tuple[Any, Any, str]:
    """(rows the candidates train on, rows that score them, which split that is).

    The run's held-out split when it has one; else (``held_out`` is 0) a seeded fifth of
    the training rows, held back from the candidates (the run itself trains on all rows).
    """
    if X_held is not None and len(X_held) > 0:
        return X, X_held, SCORED_ON_HELD_OUT
    n = X.shape[0]
    n_score = max(1, round(SEARCH_HOLD_BACK * n))
    if n - n_score < 2:
        raise ConfigError(
            f"lam auto needs data to train the candidates on and to score them; {n} training "
            "row(s) are too few. Give --lam a number"
        )
    scored = np.sort(np.random.default_rng(seed).choice(n, size=n_score, replace=False))
    kept = np.setdiff1d(np.arange(n), scored)
    return rows_of(X, kept), rows_of(X, scored), SCORED_ON_TRAINING


def search_lam(
    X: Any,
    X_held: Any,
    config: RunConfig,
    *,
    search: LamSearchConfig | None = None,
    log: Log | None = None,
    choose_length: bool = True,
    choose_gain: bool = True,
) -> LamSearchResult:
    """Choose λ for ``config`` by the criterion on ``X_held`` (module docstring).

    Args:
        X: (n_samples, n_features) training data.
        X_held: (n_held_out, n_features) held-out data; never trained on. None or empty:
            a seeded fifth of ``X`` scores the candidates instead (:func:`scoring_split`).
        config: the run to choose for; its ``objective.lam`` is ignored, everything else
            (seed included) is each candidate's.
        search: grid and criterion settings [default: :class:`LamSearchConfig`()].
        log: called with one line per candidate.
        choose_length: let a first-round run win with its shorter length (module
            docstring); False keeps the run's epochs (``compare``: every model of a study
            trains for the same epochs), and the result's ``epochs`` is None.
        choose_gain: for a model with input scaling, search λ at each of ``search.gains``
            times its ``input_gain`` and keep the gain whose choice scores best (module
            docstring; one gain: searched at it); False (``compare``), or no scaling: the
            model's gain, and the result's ``gain`` is None.

    Returns:
        :class:`LamSearchResult`; the same for the same arguments (CPU).
    """
    search = search or LamSearchConfig()
    check_searchable(config)
    say = log or (lambda _line: None)
    config = replace(config, training=resolve_epochs(config.training, X.shape[0]))  # the run's
    tcfg = config.training
    X, X_held, scored_on = scoring_split(X, X_held, seed=tcfg.data_seed)
    rank = min(config.model.n_hidden, config.model.n_features)
    if search.k is not None and search.k > rank:
        raise ConfigError(
            f"lam search: k={search.k} tangents asked for, but the model has at most {rank} "
            f"(min(n_hidden, n_features))"
        )
    disp = neighbour_displacements(
        X, X_held, neighbours=search.neighbours, points=search.points,
        reference=search.reference, seed=tcfg.seed,
    )  # fmt: skip
    # the neighbourhoods' local PCA, which cuts k; under torchrun rank 0's, as the candidates'
    # scores are, so that no float difference between the ranks can cut k differently
    n_local = search.k if search.k is not None else min(search.max_k, rank)
    local = distributed.on_main(lambda: neighbourhood_fit(disp, n_local))
    if "auto" in (config.model.output, config.model.input_scaling):  # as fit decides them
        config = replace(config, model=resolve_model_for(X, config.model))
    if not (choose_gain and config.model.input_scaling in SCALED):
        return _search_at(X, config, search, disp, local, say, choose_length, scored_on).result
    gains = search.gains
    if len(gains) == 1:  # one gain: searched at it, and recorded
        at = _at_gain(config, gains[0])
        result = _search_at(X, at, search, disp, local, say, choose_length, scored_on).result
        return dataclasses.replace(result, gain=gains[0])
    searches: list[tuple[float, _GainSearch | None]] = []
    for gain in gains:
        at = _at_gain(config, gain)
        say(f"λ search at input gain {gain:g}× (input_gain {at.model.input_gain:g})")
        try:
            searches.append(
                (gain, _search_at(X, at, search, disp, local, say, choose_length, scored_on))
            )
        except DivergenceError as e:
            searches.append((gain, None))
            failure = e
    done = [g for _, g in searches if g is not None]
    if not done:
        raise failure
    k = search.k or estimate_dimension(
        [f for g in done for f in g.last.values() if f is not None], local
    )
    base = next(i for i, (_, g) in enumerate(searches) if g is not None)  # the others must beat
    first = searches[base][1]
    choices = tuple(
        GainChoice(gain, g.result.chosen, g.result.chosen_epochs, g.chosen_fit.missed(k),
                   None if g is first else advantage(first.chosen_fit, g.chosen_fit, k,
                                                     seed=tcfg.seed))
        if g is not None else GainChoice(gain, None, None, None, None)
        for gain, g in searches
    )  # fmt: skip

    def beats_first(c: GainChoice) -> bool:
        """Misses less than the first gain, beyond float32's resolution and GAIN_Z SEs."""
        lower = _misses_less(c.missed, choices[base].missed)  # type: ignore[arg-type]
        return lower and (c.z is None or c.z > GAIN_Z)

    winners = [i for i, c in enumerate(choices) if i != base and beats_first(c)]
    best = min(winners, key=lambda i: choices[i].missed) if winners else base  # type: ignore
    result = searches[best][1].result  # type: ignore[union-attr]
    return dataclasses.replace(result, gain=gains[best], by_gain=choices, gain_k=k)


def _at_gain(config: RunConfig, gain: float) -> RunConfig:
    """``config`` with its input gain multiplied by ``gain``."""
    return replace(config, model=replace(config.model, input_gain=config.model.input_gain * gain))


class _GainSearch(NamedTuple):
    """One gain's search, with the fits the gains are compared by."""

    result: LamSearchResult
    last: dict[float, TangentFit | None]  # the last round's finalists' fits, by λ
    chosen_fit: TangentFit  # the chosen λ's fit at its chosen length


def _search_at(
    X: Any,
    config: RunConfig,
    search: LamSearchConfig,
    disp: Displacements,
    local: TangentFit,
    say: Log,
    choose_length: bool,
    scored_on: str,
) -> _GainSearch:
    """The successive-halving search over ``search.grid`` for ``config`` as it is."""
    tcfg = config.training
    first = min(search.first_epochs or max(1, tcfg.epochs // 5), tcfg.epochs)
    schedule = [(first, search.keep), (tcfg.epochs, 1)] if first < tcfg.epochs else [
        (tcfg.epochs, 1)
    ]  # fmt: skip
    n_dirs = len(local.shares)  # search.k, or the top max_k (fewer if d_h or d_x is)
    alive, rounds, first_fits = list(search.grid), [], {}
    for i, (epochs, keep) in enumerate(schedule, start=1):
        fits: dict[float, TangentFit | None] = {}
        if i == 1:
            first_fits = fits  # rescored at the last round's k for the length choice
        for lam in alive:
            say(f"λ search, round {i}/{len(schedule)}: lam={lam:g}, {epochs} epochs")
            fits[lam] = _candidate(X, config, lam, epochs, disp, n_dirs)
        done = [f for f in fits.values() if f is not None]
        if not done:
            raise DivergenceError(
                f"every λ of the search diverged in round {i} ({', '.join(map(str, alive))}); "
                f"lower the learning rate (--lr, now {tcfg.lr}) or check the data scale"
            )
        k = search.k or estimate_dimension(done, local)
        missed = {lam: None if f is None else f.missed(k) for lam, f in fits.items()}
        rounds.append(_round(epochs, alive, k, fits, missed))
        # Best first, diverged last, ties in grid order (a stable sort); survivors in grid order.
        ranked = sorted(alive, key=lambda lam: math.inf if missed[lam] is None else missed[lam])
        alive = [lam for lam in alive if lam in ranked[:keep]]
    finalists = dict(fits)  # k was estimated from these; the gains are compared on them too
    # The best run of the last length at an edge of the λs trained to it: train the next grid
    # λ past it at that length, while one past it misses less, beyond float32's resolution (a
    # tie keeps the best: else a walk could follow rounding to the grid's end).
    best = ranked[0]
    while beyond := _beyond(search.grid, fits, best):
        for lam in beyond:
            say(f"λ search, past the finalists' best ({best:g}): lam={lam:g}, {epochs} epochs")
            fits[lam] = _candidate(X, config, lam, epochs, disp, n_dirs)
            missed[lam] = None if fits[lam] is None else fits[lam].missed(k)
        incumbent: float = missed[best]  # type: ignore[assignment]  # the best is scored
        better = [lam for lam in beyond if _misses_less(missed[lam], incumbent)]
        if better:
            best = min(better, key=lambda lam: missed[lam])  # type: ignore[arg-type, return-value]
    if len(fits) > len(finalists):  # the last round, with the λs trained past its finalists
        lams = [lam for lam in search.grid if lam in fits]
        added = tuple(lam for lam in lams if lam not in finalists)
        rounds[-1] = _round(epochs, lams, k, fits, missed, added)
    source = "given" if search.k is not None else "estimated"
    chosen, length, rescored = best, tcfg.epochs if choose_length else None, None
    chosen_fit = fits[chosen]
    if choose_length and len(rounds) > 1:  # a finalist's first-round run, at the last k, may win
        last = rounds[-1]
        k, full = last.k, missed[chosen]  # ``missed``: the last round's
        rescored = tuple(None if f is None else f.missed(k) for f in first_fits.values())
        scores = [
            (v, lam)
            for v, lam in zip(rescored, first_fits, strict=True)
            if lam in finalists and v is not None  # a finalist whose first run diverged: none
        ]
        if scores:
            short, lam = min(scores, key=lambda t: t[0])  # ties: grid order, as ``ranked``
            if short < full:  # strictly better: a tie keeps the full length
                chosen, length, chosen_fit = lam, rounds[0].epochs, first_fits[lam]
    result = LamSearchResult(chosen, tuple(rounds), search, source, scored_on=scored_on,
                             epochs=length, rescored=rescored,
                             local_lifts=tuple(map(float, local.lifts)))  # fmt: skip
    return _GainSearch(result, finalists, chosen_fit)  # type: ignore[arg-type]


def _round(
    epochs: int,
    lams: Sequence[float],
    k: int,
    fits: Mapping[float, TangentFit | None],
    missed: Mapping[float, float | None],
    added: tuple[float, ...] = (),
) -> SearchRound:
    """The record of ``lams`` trained for ``epochs`` and scored at k."""
    lifts = tuple(tuple(map(float, f.lifts)) if (f := fits[lam]) is not None else ()
                  for lam in lams)  # fmt: skip
    return SearchRound(epochs, tuple(lams), tuple(missed[lam] for lam in lams), k, lifts, added)


def _misses_less(miss: float | None, than: float) -> bool:
    """``miss`` is lower than ``than`` beyond float32's resolution (misses under
    ``RESOLVED_MISS`` tie); None (diverged) never is."""
    return miss is not None and max(miss, RESOLVED_MISS) < max(than, RESOLVED_MISS)


def _beyond(
    grid: Sequence[float], trained: Mapping[float, TangentFit | None], best: float
) -> list[float]:
    """The grid λ next past ``best`` on each side where ``best`` is the smallest or largest
    of the ``trained`` λs and the grid goes on; [] where the best is flanked (or at the
    grid's own ends)."""
    order = sorted(grid)
    i, done = order.index(best), [lam for lam in order if lam in trained]
    below = [order[i - 1]] if best == done[0] and i > 0 else []
    above = [order[i + 1]] if best == done[-1] and i + 1 < len(order) else []
    return below + above


def _candidate(
    X: Any, config: RunConfig, lam: float, epochs: int, disp: Displacements, n_dirs: int
) -> TangentFit | None:
    """Train ``config`` with ``lam`` for ``epochs`` in memory and score it; None if it diverges."""
    run = replace(
        config,
        objective=replace(config.objective, lam=lam),
        training=replace(config.training, epochs=epochs),
    )
    try:
        model = fit(X, run, progress=False).model
    except DivergenceError:  # the loss is summed over the ranks: all of them diverge or none
        return None

    def score() -> TangentFit | None:
        fit_ = tangent_fit(model, disp, n_dirs, seed=config.training.seed)
        return fit_ if np.isfinite(fit_.shares).all() else None  # NaN would score as perfect

    # Under torchrun every rank trains the same candidate (data-parallel); rank 0 alone scores
    # it and every rank takes that score, so that no float difference between them (another
    # card, another kernel) can make them choose other finalists, λ, length or gain, and an
    # error in the scoring stops every rank, not rank 0 alone.
    return distributed.on_main(score)


def resolve_lam(
    X: Any,
    X_held: Any,
    config: RunConfig,
    *,
    saved: RunConfig | None = None,
    search: LamSearchConfig | None = None,
    log: Log | None = None,
    choose_length: bool = True,
    choose_gain: bool = True,
) -> RunConfig:
    """``config`` with ``lam="auto"`` made concrete (any other config is returned as is).

    ``training.epochs`` becomes a number, and the search's chosen length where the run
    asks for the length the search was made for (:func:`with_search`).

    Args:
        X, X_held: training and held-out data, as for :func:`search_lam`.
        config: the requested run.
        saved: the config of the run being continued, if any: its recorded choice is
            reused and nothing is searched again.
        search: the search settings; with ``saved``, they must be the ones it used
            [default: ``saved``'s, else :class:`LamSearchConfig`()].
        log: called with progress lines.
        choose_length, choose_gain: as for :func:`search_lam` (a new search only).

    Raises:
        CheckpointError: ``saved`` did not choose its λ automatically, or with other settings.
    """
    if config.objective.lam != LAM_AUTO or not config.objective.info.contractive:
        return config  # a given λ, or no penalty to weigh
    check_searchable(config)
    config = replace(config, training=resolve_epochs(config.training, X.shape[0]))  # the run's
    if saved is None:
        result = search_lam(X, X_held, config, search=search, log=log,
                            choose_length=choose_length, choose_gain=choose_gain)  # fmt: skip
        return with_search(config, result)
    record = search_of(saved)
    if record is None:
        raise CheckpointError(
            f"the run being continued was trained with lam={saved.objective.lam}, not chosen "
            f"automatically; continue it with --lam {saved.objective.lam}, or start afresh "
            "(--overwrite, or another --out)"
        )
    asked = search
    if search is not None and record.gain is None:  # no gain was searched: gains do not matter
        asked = replace(search, gains=record.settings.gains)
    if asked is not None and asked != record.settings:
        raise CheckpointError(
            f"the run being continued chose its λ with other search settings "
            f"({record.settings} vs {search}); continue it with those, or start afresh"
        )
    if record.gain is not None:  # the search chose the gain: accept the start's or the run's
        start, held = saved.model.input_gain / record.gain, saved.model.input_gain
        if config.model.input_gain not in (start, held):
            raise CheckpointError(
                f"the run being continued trains at input_gain {held:g}: its λ search chose "
                f"{record.gain:g}× the --input-gain {start:g} it was started with, and "
                f"--input-gain {config.model.input_gain:g} asks for another; resume with "
                f"--input-gain {start:g} (the start's) or {held:g} (the run's), or start afresh"
            )
        config = replace(config, model=replace(config.model, input_gain=start))
    resolved = with_search(config, record, planned=saved.training.epochs)
    if log is not None:
        log(f"λ was chosen automatically when the run started: lam={record.chosen:g}")
        if resolved.training.epochs != config.training.epochs:
            log(
                f"the run plans {resolved.training.epochs} epochs, not the "
                f"{config.training.epochs} its λ search was made for (the search chose "
                f"{record.chosen_epochs}); give --epochs another number to train on"
            )
    return resolved
