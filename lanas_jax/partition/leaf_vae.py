"""A VAE as LaNAS's leaf sampler: a learned proposal inside the selected region.

Seed 000 (LaNAS), Sec. 3.2 step 2, samples a new architecture inside the selected leaf; the
tabular mode draws an unseen entry of the leaf uniformly. Here the draw is a VAE's instead:
seed 002 (VAENAS), Alg. 1, trains the VAE on the top ``K``% of the architectures evaluated so
far, and Sec. 3.2 / Eq. 5's ``p_theta(alpha | z)`` decodes architectures from ``z ~ N(0, I)``.
:func:`lanas_jax.vaenas.sampler.propose` turns the decodes into a table row that is unseen
and routed into the selected leaf (the first such decode, else the leaf's unseen row nearest
to the first decode), so every query stays inside LaNAS's region.

The VAE is retrained (continuing from its parameters and Adam state) at every LaNAS refit,
i.e. every ``num_selects`` queries after ``num_init`` (a structural round of the scanned runner,
so under ``vmap`` it runs once per round, not every step). Before the first refit LaNAS draws
uniformly, as the tabular mode does.

Only tables whose features are one-hot slots (NAS-Bench-201: 6 edges x 5 ops) can be
tokenised; :func:`validate` rejects the others.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct

from lanas_jax import archive as archive_lib
from lanas_jax.partition.samplers import RowState, UniformRow
from lanas_jax.vaenas.model import VAESizes
from lanas_jax.vaenas.sampler import propose
from lanas_jax.vaenas.tokens import TokenSpec, onehot_spec, table_tokens
from lanas_jax.vaenas.train import TrainConfig, fit_top, init_vae


@struct.dataclass
class LeafVAEState:
    rows: RowState  # the tabular mode's routing of the pool (candidates of each leaf)
    params: dict  # VAE parameters
    opt_state: tuple  # their Adam state
    leaf: jax.Array  # () int32, the leaf selected by the last query (-1 before any fit)
    draws: jax.Array  # () int32, queries answered by the VAE
    first_hits: jax.Array  # () int32, ... whose first decode was an unseen row of the leaf
    fallbacks: jax.Array  # () int32, ... where no decode was, so the nearest row was taken


@dataclasses.dataclass(frozen=True)
class VAESampler:
    """The VAE leaf sampler: ``vocab`` choices per one-hot slot, ``tries`` decodes per query,
    Alg. 1's ``K`` (``top_frac``), steps per refit (``iters``), batch size, Adam learning rate
    and the VAE's widths (seed 002; :mod:`lanas_jax.vaenas`)."""

    vocab: int = 5
    tries: int = 4
    top_frac: float = 0.25
    iters: int = 200
    batch_size: int = 64
    learning_rate: float = 3e-3
    embed: int = 16
    hidden: int = 32
    latent: int = 8
    name = "vae"
    relaxed = False

    def train_config(self) -> TrainConfig:
        """The VAE's Alg. 1 settings."""
        return TrainConfig(
            sizes=VAESizes(embed=self.embed, hidden=self.hidden, latent=self.latent),
            learning_rate=self.learning_rate,
            batch_size=self.batch_size,
            n_iters=self.iters,
            top_frac=self.top_frac,
        )

    def spec(self, domain) -> TokenSpec:
        return TokenSpec(length=domain.features.shape[1] // self.vocab, vocab=self.vocab)

    def validate(self, lanas, domain) -> None:
        """Raises ValueError unless the pool's features are one-hot slots of ``vocab``."""
        UniformRow().validate(lanas, domain)
        if self.tries < 1:
            raise ValueError(f"vae_tries must be >= 1, got {self.tries}")
        if self.vocab < 1:
            raise ValueError(f"vae_vocab must be >= 1, got {self.vocab}")
        self.train_config().validate()
        try:
            onehot_spec(domain.features, self.vocab)
        except ValueError as e:
            raise ValueError(
                "leaf_sampler='vae' needs a tabular benchmark whose features are one-hot "
                f"slots; {getattr(domain.space, 'table', domain.space.name)}: {e}") from e

    def init(self, key, lanas, domain) -> LeafVAEState:
        row_key, vae_key = jax.random.split(key)
        params, opt_state = init_vae(vae_key, self.spec(domain), self.train_config())
        zero = jnp.zeros((), jnp.int32)
        return LeafVAEState(UniformRow().init(row_key, lanas, domain), params, opt_state,
                            zero - 1, zero, zero, zero)

    def on_fit(self, key, lanas, state, domain) -> LeafVAEState:
        """Route the pool as the tabular mode does, and run Alg. 1 (seed 002) on the top
        ``K``% of the architectures evaluated so far (continuing from the VAE's parameters)."""
        row_key, vae_key = jax.random.split(key)
        vae = state.inner.sampler
        rows = UniformRow().on_fit(
            row_key, lanas, state.replace(inner=state.inner.replace(sampler=vae.rows)), domain)
        s = self.spec(domain)
        table = table_tokens(domain.features, s)
        archive = state.archive
        valid = jnp.arange(archive.capacity) < archive.count
        params, opt_state, _ = fit_top(
            s, self.train_config(), vae_key, vae.params, vae.opt_state,
            table[jnp.maximum(archive.rows, 0)], archive.values, valid)
        return vae.replace(rows=rows, params=params, opt_state=opt_state)

    def has_candidates(self, lanas, state) -> jax.Array:
        return state.inner.sampler.rows.leaf_unseen > 0

    def propose(self, key, lanas, state, leaf, domain):
        """The VAE's unseen row of ``leaf`` (the first decode that is one, else the leaf's
        unseen row nearest to the first decode)."""
        vae = state.inner.sampler
        s = self.spec(domain)
        table = table_tokens(domain.features, s)
        unseen = archive_lib.unseen_rows(state.archive)
        in_leaf = unseen & (vae.rows.leaf_of == leaf)
        candidate = jnp.where(jnp.any(in_leaf), in_leaf, unseen)
        prop = propose(key, s, self.train_config(), vae.params, table, candidate,
                       vae.rows.priority, self.tries)
        vae = vae.replace(
            leaf=leaf.astype(jnp.int32),
            draws=vae.draws + 1,
            first_hits=vae.first_hits + prop.first_hit,
            fallbacks=vae.fallbacks + ~prop.any_hit,
        )
        return domain.arch(prop.index), jnp.any(candidate), vae

    def told(self, vae: LeafVAEState, row, leaf) -> LeafVAEState:
        return vae.replace(rows=UniformRow().told(vae.rows, row, leaf))
