"""Bayesian optimisation: a GP on the architectures' features, expected improvement over the
round's candidates, ``num_selects`` proposals per round.

Seed 000 (LaNAS), Sec. 4.2, "Baselines" and "Analysis of Results": a Gaussian process surrogate
with expected improvement (after Krasser 2018), 100 proposals per search iteration; "BO incurs
O(n^3) cost", so on the large tables the paper "fits BO at a batch size of 2000". Here, every
round (:mod:`.surrogate`): take at most ``cap`` evaluated architectures, either the most recent
or the best (``keep``), standardise their metrics, fit the RBF hyper-parameters by maximising the
log marginal likelihood (Adam, warm-started from the previous round, on the first ``fit_cap`` of
those rows), compute the posterior at every candidate (every pool row, or the open domain's
candidate set) and rank them by EI against the best metric seen; the ``num_selects`` best new
candidates are proposed next. Ranking by EI and taking the top ones is a batch proposal without
fantasies (no kriging believer).

Fixed shapes: the training set is a masked buffer of ``min(cap, budget)`` rows (padding rows
change nothing, :mod:`.gp`); rows are picked by a masked ``top_k`` on the slot number
(``recent``) or the metric (``best``). The buffer does not grow with the data: under the scanned
runner the evaluation count is one per seed (batched), so a ``lax.switch`` over growing sizes
would run every size each round.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax
from flax import struct

from lanas_jax.strategies import gp
from lanas_jax.strategies.base import register
from lanas_jax.strategies.surrogate import (
    SurrogateSearch,
    archive_features,
    feature_dim,
    standardize,
)

KEEP_RULES = ("recent", "best")


@struct.dataclass
class BOParams:
    """Numbers a user may vmap over."""

    xi: float = 0.01  # EI's exploration margin, in units of the standardised metric
    learning_rate: float = 0.05  # Adam step size on the log hyper-parameters


@struct.dataclass
class BOModel:
    hypers: gp.GPHypers
    opt: optax.OptState


def training_rows(values, count, size: int, keep: str):
    """The ``size`` buffer slots to train on and their mask: the most recent or the best."""
    slot = jnp.arange(values.shape[0])
    filled = slot < count
    key = slot.astype(jnp.float32) if keep == "recent" else values
    top, rows = jax.lax.top_k(jnp.where(filled, key, -jnp.inf), size)
    return rows, top > -jnp.inf


@register("bo")
@dataclasses.dataclass(frozen=True)
class BayesOpt(SurrogateSearch):
    """GP + expected improvement, refitted every ``num_selects`` proposals.

    Attributes:
      num_init, num_selects, candidates: see
        :class:`~lanas_jax.strategies.surrogate.SurrogateSearch`.
      cap: most evaluated architectures the GP trains on (the paper: 2,000).
      keep: which ones when there are more: ``"recent"`` or ``"best"``.
      fit_cap: rows (the first of the kept ones) the marginal likelihood is fitted on.
      fit_steps: Adam steps on the hyper-parameters per round.
      chunk: candidates per block of the posterior (memory ``chunk x cap`` per seed).
    """

    cap: int = 2000
    keep: str = "recent"
    fit_cap: int = 256
    fit_steps: int = 10
    chunk: int = 512

    def default_params(self) -> BOParams:
        return BOParams()

    def validate(self, domain, budget: int) -> None:
        super().validate(domain, budget)
        if self.keep not in KEEP_RULES:
            raise ValueError(f"keep must be one of {KEEP_RULES}, got {self.keep!r}")
        for name in ("cap", "fit_cap", "chunk"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.fit_steps < 0:
            raise ValueError(f"fit_steps must be >= 0, got {self.fit_steps}")

    def init_model(self, key, domain, budget, params):
        # One-hot encodings: |x - x'|^2 is twice the number of differing slots.
        hypers = gp.GPHypers.create(lengthscale=0.5 * feature_dim(domain) ** 0.5)
        return BOModel(hypers=hypers, opt=gp.adam(params.learning_rate).init(hypers))

    def refit(self, key, state, domain, features, params):
        """EI of every candidate (``features [M, D]``) under the GP fitted on the archive."""
        del key  # deterministic given the data
        archive, model = state.archive, state.inner.model
        size = min(self.cap, archive.capacity)
        rows, mask = training_rows(archive.values, archive.count, size, self.keep)
        x = archive_features(archive, domain, rows)
        y, mean, std = standardize(archive.values[rows], mask)
        fit = min(self.fit_cap, size)
        hypers, opt = gp.fit_hypers(
            model.hypers, model.opt, x[:fit], y[:fit], mask[:fit],
            self.fit_steps, params.learning_rate,
        )
        mu, var = gp.posterior(x, y, mask, hypers, features, self.chunk)
        # The incumbent is the best architecture evaluated so far, kept in the GP's rows or not.
        best = (jnp.max(archive.values) - mean) / std
        score = gp.expected_improvement(mu, var, best, params.xi)
        return score, BOModel(hypers=hypers, opt=opt)
