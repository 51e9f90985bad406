"""A VAE as LaNAS's leaf sampler: a learned proposal inside the selected region.

Seed 000 (LaNAS), Sec. 3.2 step 2, samples a new architecture inside the selected leaf; the
tabular mode draws an unseen entry of the leaf uniformly. Here the draw is a VAE's instead:
seed 002 (VAENAS), Alg. 1, trains the VAE on the top ``K``% of the architectures evaluated so
far, and Sec. 3.2 / Eq. 5's ``p_theta(alpha | z)`` decodes architectures from ``z ~ N(0, I)``.
:func:`lanas_jax.vaenas.sampler.propose` turns the decodes into a table row that is unseen
and routed into the selected leaf (the first such decode, else the leaf's unseen row nearest
to the first decode), so every query stays inside LaNAS's region.

The VAE is retrained (continuing from its parameters and Adam state) inside LaNAS's refit
branch, i.e. every ``num_selects`` queries after ``num_init``; that branch runs under
``lax.cond`` on the query counter, unbatched under ``vmap`` over seeds. Before the first refit
the VAE is untrained and LaNAS draws uniformly, as the tabular mode does.

Only tables whose features are one-hot slots (NAS-Bench-201: 6 edges x 5 ops) can be
tokenised; :func:`validate` rejects the others.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from lanas_jax.strategies.base import draw
from lanas_jax.vaenas.model import VAESizes
from lanas_jax.vaenas.sampler import propose
from lanas_jax.vaenas.tokens import TokenSpec, onehot_spec, table_tokens
from lanas_jax.vaenas.train import TrainConfig, fit_top, init_vae


@struct.dataclass
class LeafVAEState:
    params: dict  # VAE parameters
    opt_state: tuple  # their Adam state
    leaf: jax.Array  # () int32, the leaf selected by the last query (-1 before any fit)
    draws: jax.Array  # () int32, queries answered by the VAE
    first_hits: jax.Array  # () int32, ... whose first decode was an unseen row of the leaf
    fallbacks: jax.Array  # () int32, ... where no decode was, so the nearest row was taken


def train_config(strategy) -> TrainConfig:
    """The VAE's Alg. 1 settings from the LaNAS strategy's ``vae_*`` fields."""
    return TrainConfig(
        sizes=VAESizes(
            embed=strategy.vae_embed, hidden=strategy.vae_hidden, latent=strategy.vae_latent
        ),
        learning_rate=strategy.vae_learning_rate,
        batch_size=strategy.vae_batch_size,
        n_iters=strategy.vae_iters,
        top_frac=strategy.vae_top_frac,
    )


def spec(strategy, bench) -> TokenSpec:
    return TokenSpec(length=bench.dim // strategy.vae_vocab, vocab=strategy.vae_vocab)


def validate(strategy, bench) -> None:
    """Raises ValueError unless the table's features are one-hot slots of ``vae_vocab``."""
    if strategy.vae_tries < 1:
        raise ValueError(f"vae_tries must be >= 1, got {strategy.vae_tries}")
    if strategy.vae_vocab < 1:
        raise ValueError(f"vae_vocab must be >= 1, got {strategy.vae_vocab}")
    train_config(strategy).validate()
    try:
        onehot_spec(bench.features, strategy.vae_vocab)
    except ValueError as e:
        raise ValueError(
            "leaf_sampler='vae' needs a tabular benchmark whose features are one-hot slots; "
            f"{bench.name}: {e}"
        ) from e


def init(strategy, key, bench) -> LeafVAEState:
    params, opt_state = init_vae(key, spec(strategy, bench), train_config(strategy))
    zero = jnp.zeros((), jnp.int32)
    return LeafVAEState(params, opt_state, zero - 1, zero, zero, zero)


def retrain(strategy, key, vae: LeafVAEState, evaluated, values, count, bench) -> LeafVAEState:
    """Alg. 1 (seed 002) on the top ``K``% of the ``count`` architectures evaluated so far."""
    s = spec(strategy, bench)
    table = table_tokens(bench.features, s)
    valid = jnp.arange(evaluated.shape[0]) < count
    params, opt_state, _ = fit_top(
        s, train_config(strategy), key, vae.params, vae.opt_state, table[evaluated], values,
        valid,
    )
    return vae.replace(params=params, opt_state=opt_state)


def propose_in_leaf(strategy, key, state, leaf, bench):
    """``(index, state)``: the VAE's unseen row of ``leaf`` (a uniform draw before any fit)."""
    s = spec(strategy, bench)
    table = table_tokens(bench.features, s)
    in_leaf = ~state.seen & (state.leaf_of == leaf)
    # The UCB walk only returns a leaf with unseen entries; guard the impossible case anyway.
    candidate = jnp.where(jnp.any(in_leaf), in_leaf, ~state.seen)
    prop = propose(
        key, s, train_config(strategy), state.vae.params, table, candidate, state.priority,
        strategy.vae_tries,
    )
    uniform = draw(state.priority, ~state.seen)
    fitted = state.fitted
    vae = state.vae.replace(
        leaf=jnp.where(fitted, leaf, -1).astype(jnp.int32),
        draws=state.vae.draws + fitted,
        first_hits=state.vae.first_hits + (fitted & prop.first_hit),
        fallbacks=state.vae.fallbacks + (fitted & ~prop.any_hit),
    )
    return jnp.where(fitted, prop.index, uniform), state.replace(vae=vae)
