"""VAENAS's sampler (seed 002, Eq. 5 and Alg. 2) as a strategy, on any domain with tokens.

Every query is drawn from ``Gamma(alpha) = (1 - eps) U(alpha) + eps p_theta(alpha | z)``:
with probability ``1 - eps`` a uniformly random new architecture, otherwise one proposed by the
VAE (:mod:`lanas_jax.vaenas.views`: the first of ``tries`` decodes that is new, else a
fallback). ``eps`` starts at 0 and grows by ``eps_inc`` per query (Alg. 2, line 11), capped at
1. Every ``n_vae`` queries the VAE is trained (Alg. 1, ``n_iters`` steps, continuing from its
current parameters and Adam state as Alg. 2 passes ``phi, theta`` on) on the top ``K``% of all
architectures evaluated so far. The trainings are structural rounds (:meth:`VAENAS.schedule`:
a round of ``n_vae / batch_size`` asks begins with one), so under ``vmap`` over seeds no step
pays for a training it does not run.

Adaptations to a search of exact evaluations (Alg. 2 trains a supernet between VAE updates):
the VAE is only sampled once it has been trained (an untrained decoder is not a learned
distribution; before that ``Gamma = U``); an architecture is never proposed twice. The state
counts how often the VAE answered (``vae_draws``), how often its first decode could not be
queried (``vae_repeats``: evaluated, pending, or absent from a table) and how often no decode
could so the fallback was taken (``vae_fallbacks``).

Domains (:func:`lanas_jax.vaenas.views.token_view`): any space with ``tokens`` /
``from_tokens`` (the VAE's vocabulary is the space's; NAS-Bench-201 tables are pools of NB201
cells: 6 op tokens of 5, the nearest unseen row as fallback, as before); a table that names no
space, by its one-hot slot features (``vocab`` choices per slot); the NAS-Bench-101 space
(tables are pools of its cells) through Appendix A.5's 26 tokens, the top-9 decoder and the
pool's isomorphism-aware lookup (a uniformly random unseen row as fallback on a table).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct

from lanas_jax.strategies.base import register
from lanas_jax.strategies.core import Segment, Strategy, select
from lanas_jax.vaenas.model import VAESizes
from lanas_jax.vaenas.train import TrainConfig, fit_top, init_vae, make_model
from lanas_jax.vaenas.views import TokenView, token_view


@struct.dataclass
class VAENASParams:
    """Numbers a user may vmap over."""

    eps_inc: float = 1e-3  # Alg. 2's exploitation increase per query


@struct.dataclass
class VAENASState:
    params: dict  # VAE parameters
    opt_state: tuple  # their Adam state
    trained: jax.Array  # () bool
    vae_draws: jax.Array  # () int32
    vae_repeats: jax.Array  # () int32
    vae_fallbacks: jax.Array  # () int32


@register("vaenas")
@dataclasses.dataclass(frozen=True)
class VAENAS(Strategy):
    """Eq. 5's mixture sampler with the VAE retrained every ``n_vae`` queries.

    Attributes:
      vocab: a table that names no space: choices per slot of its one-hot features; the tokens
        are the slots. Unused where the domain's space has tokens (NAS-Bench-201: 6 op tokens
        of 5) and on NAS-Bench-101 (26 A.5 tokens).
      n_vae: queries between two VAE trainings (Alg. 2's ``n_vae``); a multiple of
        ``batch_size``.
      tries: decodes per VAE proposal before falling back.
      top_frac, n_iters, vae_batch_size, learning_rate: Alg. 1's ``K`` (a fraction) and its
        optimisation (``vae_batch_size`` was ``batch_size`` before the architecture protocol,
        whose ``batch_size`` is architectures per ask); embed, hidden, latent: the VAE's widths
        (see :class:`TrainConfig`; flat fields so that the configuration is a plain JSON-able
        record).
    """

    vocab: int = 5
    n_vae: int = 100
    tries: int = 4
    top_frac: float = 0.25
    n_iters: int = 200
    vae_batch_size: int = 64
    learning_rate: float = 3e-3
    embed: int = 16
    hidden: int = 32
    latent: int = 8

    has_rounds = True

    @property
    def train(self) -> TrainConfig:
        return TrainConfig(
            sizes=VAESizes(embed=self.embed, hidden=self.hidden, latent=self.latent),
            learning_rate=self.learning_rate,
            batch_size=self.vae_batch_size,
            n_iters=self.n_iters,
            top_frac=self.top_frac,
        )

    def default_params(self) -> VAENASParams:
        return VAENASParams()

    def validate(self, domain, budget: int) -> None:
        if self.n_vae < 1:
            raise ValueError(f"n_vae must be >= 1, got {self.n_vae}")
        if self.n_vae % self.batch_size:
            raise ValueError(f"n_vae ({self.n_vae}) must be a multiple of batch_size "
                             f"({self.batch_size}): the VAE is trained between batches")
        if self.tries < 1:
            raise ValueError(f"tries must be >= 1, got {self.tries}")
        self.train.validate()
        try:
            self.view(domain).validate(domain)
        except ValueError as e:
            raise ValueError(
                "vaenas tokenises a space with tokens, a table whose features are one-hot "
                f"slots or a NAS-Bench-101 table; {domain.space.name} "
                f"({getattr(domain.space, 'table', '')}): {e}"
            ) from e

    def view(self, domain) -> TokenView:
        """How ``domain``'s architectures are tokens (static: from its space and shapes)."""
        return token_view(domain, self.vocab)

    def _init(self, key, domain, budget, params):
        vae_params, opt_state = init_vae(key, self.view(domain).spec, self.train)
        zero = jnp.zeros((), jnp.int32)
        return VAENASState(vae_params, opt_state, jnp.zeros((), bool), zero, zero, zero)

    # -- training rounds ------------------------------------------------------------------------
    def round_due(self, count: jax.Array) -> jax.Array:
        return (count >= self.n_vae) & (count % self.n_vae == 0)

    def schedule(self, budget: int) -> tuple[Segment, ...]:
        asks, per = budget // self.batch_size, self.n_vae // self.batch_size
        first = min(per, asks)
        full, rest = divmod(asks - first, per)
        segments = (Segment(1, first, False),)
        if full:
            segments += (Segment(full, per, True),)
        return segments + ((Segment(1, rest, True),) if rest else ())

    def _begin_round(self, key, state, domain, params):
        """Alg. 1 on every architecture evaluated so far."""
        view, archive, inner = self.view(domain), state.archive, state.inner
        valid = jnp.arange(archive.capacity) < archive.count
        vae_params, opt_state, _ = fit_top(
            view.spec, self.train, key, inner.params, inner.opt_state,
            view.arch_tokens(domain, archive.archs), archive.values, valid,
        )
        inner = inner.replace(params=vae_params, opt_state=opt_state, trained=jnp.ones((), bool))
        return state.replace(inner=inner)

    def _ask_one(self, key, state, domain, params):
        mix_key, vae_key, uniform_key = jax.random.split(key, 3)
        inner, view = state.inner, self.view(domain)
        eps = jnp.minimum(1.0, state.archive.count * params.eps_inc)
        use_vae = inner.trained & (jax.random.uniform(mix_key) < eps)
        uniform = self.propose_new(uniform_key, state, domain)
        prop = view.propose(domain, state.archive, state.priority,
                            make_model(view.spec, self.train), inner.params, vae_key,
                            self.tries, uniform)
        inner = inner.replace(
            vae_draws=inner.vae_draws + use_vae,
            vae_repeats=inner.vae_repeats + (use_vae & ~prop.first_hit),
            vae_fallbacks=inner.vae_fallbacks + (use_vae & ~prop.any_hit),
        )
        return select(use_vae, prop.arch, uniform), state.replace(inner=inner)
