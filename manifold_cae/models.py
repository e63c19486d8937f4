"""The autoencoder: tied or untied, one encoder layer or several.

The encoder is a chain of affine maps each followed by the same elementwise
activation, h_l = s(W_l h_{l-1} + b_l). Keeping it a plain chain is what lets
:mod:`manifold_cae.jacobian` write J_f(x) = D_L W_L ... D_1 W_1 with
D_l = diag(s'(a_l)), and lets a stacked CAE be analysed as one composite
encoder.
"""

from __future__ import annotations

import copy
import itertools
import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from manifold_cae.activations import get_activation
from manifold_cae.config import ModelConfig
from manifold_cae.data.streaming import column_moments

SCALED = ("standard", "global")  # input_scaling values that keep a fitted shift and scale
# Global scaling spreads the centred data to an RMS norm of at least this: unit variance per
# feature gives sqrt(d_x), too little for Glorot-initialised sigmoid units to bend on
# low-dimensional data (a swiss roll in R^3: 48.9 degrees at norm sqrt(3), 35.0 at norm 5
# with the default flags; 45.7 against 14.5 with the demo's recipe; the circle in R^10
# 4.9 -> 3.8 at noise 0, the sphere in R^20 about the same; README, geometry benchmark).
GLOBAL_MIN_NORM = 5.0


def activation_slope(name: str, a: Tensor, h: Tensor) -> Tensor:
    """Elementwise derivative s'(a) of the registered activation ``name``.

    Args:
        a: pre-activations, any shape.
        h: s(a), same shape as ``a`` (the slope is read off it where that is exact).

    Returns:
        s'(a), same shape as ``a``.
    """
    return get_activation(name).slope(a, h)


class LayerTrace(NamedTuple):
    """One encoder layer evaluated at a batch."""

    preactivation: Tensor  # a_l, (n_samples, d_l)
    activation: Tensor  # h_l = s(a_l), (n_samples, d_l)


class Autoencoder(nn.Module):
    """Autoencoder x -> h = f(x) -> r = g(h).

    Args:
        config: the architecture. ``config.hidden`` lists the encoder layer sizes.
        generator: source of the initial weights (Glorot-uniform). Pass one for
            reproducible initialisation; the global RNG is never seeded here.
        dtype: parameter dtype.

    With ``tied=True`` decoder layer l uses W_l^T, mirrored layer by layer, so
    there is one weight tensor per layer and one gradient for it.
    """

    def __init__(
        self,
        config: ModelConfig,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        self.config = config
        sizes = (config.n_features, *config.hidden)
        self.enc_weights = nn.ParameterList()
        self.enc_biases = nn.ParameterList()
        self.dec_biases = nn.ParameterList()
        self.dec_weights = nn.ParameterList()
        for d_in, d_out in itertools.pairwise(sizes):
            self.enc_weights.append(nn.Parameter(_glorot(d_out, d_in, generator, dtype)))
            self.enc_biases.append(nn.Parameter(torch.zeros(d_out, dtype=dtype)))
            self.dec_biases.append(nn.Parameter(torch.zeros(d_in, dtype=dtype)))
            if not config.tied:
                self.dec_weights.append(nn.Parameter(_glorot(d_in, d_out, generator, dtype)))
        self.scaled = config.input_scaling in SCALED
        if self.scaled:  # fitted by set_input_scaling, saved and loaded with the weights
            self.register_buffer("input_shift", torch.zeros(config.n_features, dtype=dtype))
            self.register_buffer("input_scale", torch.ones(config.n_features, dtype=dtype))

    @property
    def n_features(self) -> int:
        return self.config.n_features

    @property
    def n_hidden(self) -> int:
        return self.config.n_hidden

    @property
    def n_layers(self) -> int:
        return len(self.config.hidden)

    @torch.no_grad()
    def set_input_scaling(self, X: Any) -> None:
        """Fit the input scaling to the rows of X (the training split), streamed in chunks.

        ``standard``: per feature, the mean and the standard deviation (1 where a
        feature is constant). ``global``: per-feature means, and one scale for all
        features, so angles between directions are kept: the root mean of their
        variances, divided by max(1, GLOBAL_MIN_NORM / sqrt(d_x)) so that the scaled
        data's RMS norm is at least GLOBAL_MIN_NORM (unit variance per feature from
        25 features up). Either scale is then divided by ``input_gain``, so the scaled
        data are ``input_gain`` times as large. A model without scaling is left as it
        is. The statistics are float64 running moments
        (:func:`~manifold_cae.data.streaming.column_moments`), so a memmap or a row view
        of one is read a chunk at a time, never whole.

        Args:
            X: (n_samples, n_features): an array, tensor, memmap or RowView.
        """
        if not self.scaled:
            return
        if isinstance(X, Tensor):
            X = X.detach().cpu().numpy()
        moments = column_moments(X)
        mean, var = torch.from_numpy(moments.mean), torch.from_numpy(moments.var)
        if self.config.input_scaling == "global":
            spread = max(1.0, GLOBAL_MIN_NORM / math.sqrt(var.numel()))  # per-feature std after
            var = (var.mean() / spread**2).expand_as(var)
        std = torch.where(var > 0, var.sqrt(), torch.ones_like(var))
        self.input_shift.copy_(mean)
        self.input_scale.copy_(std / self.config.input_gain)

    def standardize(self, x: Tensor) -> Tensor:
        """The model's own coordinates z = (x - shift) / scale; x itself without scaling.

        Args:
            x: (n_samples, n_features) or (n_features,).
        """
        return (x - self.input_shift) / self.input_scale if self.scaled else x

    def core(self) -> Autoencoder:
        """The same network (shared parameters) on standardized inputs z, without the scaling.

        Training runs on z, so the penalty and the noise levels do not depend on the
        data's units; everything public takes raw inputs.
        """
        view = copy.copy(self)
        view.scaled = False
        return view

    def jacobian_weights(self) -> list[Tensor]:
        """The layer factors of J_f with respect to the raw input: W_1 diag(1/scale), W_2, ...

        Each (d_l, d_{l-1}).
        """
        weights = list(self.enc_weights)
        if self.scaled:
            weights[0] = weights[0] / self.input_scale
        return weights

    def _act(self, a: Tensor) -> Tensor:
        return get_activation(self.config.activation).fn(a)

    def encode(self, x: Tensor) -> Tensor:
        """Code h = f(x).

        Args:
            x: (n_samples, n_features), or a single example (n_features,).

        Returns:
            (n_samples, n_hidden), or (n_hidden,) for a single example.
        """
        x = self.standardize(x)
        for w, b in zip(self.enc_weights, self.enc_biases, strict=True):
            x = self._act(x @ w.T + b)
        return x

    def trace(self, x: Tensor) -> list[LayerTrace]:
        """Pre-activations and activations of every encoder layer.

        Args:
            x: (n_samples, n_features).

        Returns:
            one :class:`LayerTrace` per layer, each of shape (n_samples, d_l).
        """
        out = []
        x = self.standardize(x)
        for w, b in zip(self.enc_weights, self.enc_biases, strict=True):
            a = x @ w.T + b
            x = self._act(a)
            out.append(LayerTrace(a, x))
        return out

    def decoder_weight(self, layer: int) -> Tensor:
        """Weight of decoder layer ``layer`` (mapping d_layer -> d_{layer-1}).

        Returns:
            (d_{layer-1}, d_layer): ``enc_weights[layer].T`` when tied.
        """
        if self.config.tied:
            return self.enc_weights[layer].T
        return self.dec_weights[layer]

    def decode_logits(self, h: Tensor) -> Tensor:
        """Decoder output before the output nonlinearity.

        Args:
            h: (n_samples, n_hidden) or (n_hidden,).

        Returns:
            (n_samples, n_features) or (n_features,).
        """
        for layer in reversed(range(self.n_layers)):
            h = h @ self.decoder_weight(layer).T + self.dec_biases[layer]
            if layer > 0:
                h = self._act(h)
        return h

    def decode(self, h: Tensor) -> Tensor:
        """Reconstruction r = g(h).

        Args:
            h: (n_samples, n_hidden) or (n_hidden,).

        Returns:
            (n_samples, n_features) or (n_features,).
        """
        z = self.decode_logits(h)
        return torch.sigmoid(z) if self.config.output == "sigmoid" else z

    def forward(self, x: Tensor) -> Tensor:
        """Reconstruction of x in x's own units; (n_samples, n_features) -> same.

        ``decode`` works in the model's coordinates: for a scaled model the
        reconstruction is mapped back with the saved scale and shift.
        """
        r = self.decode(self.encode(x))
        return r * self.input_scale + self.input_shift if self.scaled else r

    def extra_repr(self) -> str:
        c = self.config
        return (
            f"n_features={c.n_features}, hidden={c.hidden}, activation={c.activation}, "
            f"output={c.output}, tied={c.tied}, input_scaling={c.input_scaling}"
        )


def _glorot(
    fan_out: int, fan_in: int, generator: torch.Generator | None, dtype: torch.dtype
) -> Tensor:
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    w = torch.rand(fan_out, fan_in, generator=generator, dtype=dtype)
    return (2 * w - 1) * bound
