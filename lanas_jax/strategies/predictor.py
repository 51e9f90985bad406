"""Predictor search: NAO adapted to a tabular benchmark the way seed 000 did it, on any domain.

Seed 000 (LaNAS), Sec. 4.2, "Baselines": NAO (Luo et al. 2018) finds architectures by gradient
ascent on a performance predictor in an embedding space; "to modify NAO for NAS datasets, the new
sample is selected by predicting the networks in the remaining dataset, which is equivalent of
solving a global optimization on the predictor". Here the predictor is an MLP on the
architectures' features (a table's encoding, or the space's ``features``) regressing the
standardised search metric; after ``num_init`` random proposals it is retrained at the start of
every round of ``num_selects`` proposals on every evaluated architecture of the archive (Adam on
the mean squared error over minibatches drawn from the evaluated slots), then ranks the round's
candidates (every pool row, or an open domain's candidate set); the ``num_selects``
top-predicted new candidates are proposed next (:mod:`.surrogate`).

Deviations: NAO's encoder/decoder and embedding-space gradient steps are replaced by the exact
global optimum of the predictor over the remaining table (what the paper says they are
equivalent to; on an open domain, over the round's sampled and mutated candidates); the MLP is
warm-started from the previous round's weights and Adam state, and trains a fixed number of
minibatch steps per round (``train_steps``) instead of epochs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from lanas_jax.strategies.base import register
from lanas_jax.strategies.surrogate import (
    SurrogateSearch,
    archive_features,
    feature_dim,
    standardize,
)


@struct.dataclass
class PredictorParams:
    """Numbers a user may vmap over."""

    learning_rate: float = 1e-3  # Adam step size
    weight_decay: float = 1e-4  # L2 penalty on the weights (added to the loss)


@struct.dataclass
class PredictorModel:
    weights: dict  # the MLP's flax params
    opt: optax.OptState  # Adam state, carried over between rounds


class MLP(nn.Module):
    """ReLU MLP ``[.., D] -> [..]`` (one scalar prediction per row)."""

    hidden: Sequence[int]

    @nn.compact
    def __call__(self, x):
        for width in self.hidden:
            x = nn.relu(nn.Dense(width)(x))
        return nn.Dense(1)(x)[..., 0]


def _adam(learning_rate):
    return optax.chain(optax.scale_by_adam(), optax.scale(-learning_rate))


def masked_mse(weights, mlp: MLP, x, y, mask, weight_decay):
    """Mean squared error over the rows where ``mask`` holds, plus an L2 penalty."""
    pred = mlp.apply({"params": weights}, x)
    err = jnp.where(mask, (pred - y) ** 2, 0.0)
    l2 = sum(jnp.sum(w**2) for w in jax.tree.leaves(weights))
    return jnp.sum(err) / jnp.maximum(jnp.sum(mask), 1) + weight_decay * l2


@register("predictor")
@dataclasses.dataclass(frozen=True)
class PredictorSearch(SurrogateSearch):
    """An MLP predictor retrained every ``num_selects`` proposals ranks the new candidates.

    Attributes:
      num_init, num_selects, candidates: see
        :class:`~lanas_jax.strategies.surrogate.SurrogateSearch` (default 100 and 100: the
        paper's #select = 100 for every baseline).
      hidden: widths of the MLP's hidden layers.
      train_steps: Adam steps per round.
      train_batch_size: rows per step, drawn uniformly with replacement from the evaluated
        architectures (named ``batch_size`` before the architecture protocol, whose
        ``batch_size`` is the proposals per ``ask``).
    """

    hidden: tuple[int, ...] = (64, 64)
    train_steps: int = 100
    train_batch_size: int = 128

    def default_params(self) -> PredictorParams:
        return PredictorParams()

    def validate(self, domain, budget: int) -> None:
        super().validate(domain, budget)
        if not self.hidden or any(w < 1 for w in self.hidden):
            raise ValueError(f"hidden must be positive layer widths, got {self.hidden}")
        if self.train_steps < 1 or self.train_batch_size < 1:
            raise ValueError(f"train_steps and train_batch_size must be >= 1, got "
                             f"{self.train_steps} and {self.train_batch_size}")

    @property
    def mlp(self) -> MLP:
        return MLP(tuple(self.hidden))

    def init_model(self, key, domain, budget, params):
        weights = self.mlp.init(key, jnp.zeros((1, feature_dim(domain)), jnp.float32))["params"]
        return PredictorModel(weights=weights, opt=_adam(params.learning_rate).init(weights))

    def refit(self, key, state, domain, features, params):
        """Predictions at every candidate (``features [M, D]``) after a round of training."""
        archive = state.archive
        mlp, tx = self.mlp, _adam(params.learning_rate)
        mask = jnp.arange(archive.capacity) < archive.count
        y, _, _ = standardize(archive.values, mask)
        grad_fn = jax.grad(masked_mse)
        ones = jnp.ones((self.train_batch_size,), bool)

        def step(model, step_key):
            rows = jax.random.randint(step_key, (self.train_batch_size,), 0, archive.count)
            x = archive_features(archive, domain, rows)
            grads = grad_fn(model.weights, mlp, x, y[rows], ones, params.weight_decay)
            updates, opt = tx.update(grads, model.opt, model.weights)
            return PredictorModel(optax.apply_updates(model.weights, updates), opt), None

        model, _ = jax.lax.scan(step, state.inner.model,
                                jax.random.split(key, self.train_steps))
        return mlp.apply({"params": model.weights}, features), model
