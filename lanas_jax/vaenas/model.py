"""The VAE of VAENAS (seed 002, Sec. 3.2): two LSTMs and the evidence lower bound of Eq. 2.

The encoder ``E`` (``q_phi(z | alpha)``) reads an architecture's token sequence with an LSTM and
maps its last hidden state to the mean and log standard deviation of a diagonal Gaussian. The
decoder ``D`` (``p_theta(alpha | z)``) is an LSTM whose initial state is computed from ``z`` and
whose input at position ``i`` is ``z`` concatenated with a learned embedding of ``i``; it emits
one categorical distribution per position. Positions are conditionally independent given
``z`` (the paper does not say whether its decoder is autoregressive; this choice makes a
sample a single decoder pass). Tokens a position may not take (:class:`TokenSpec.allowed`) get
logit ``-1e9``. The prior is ``N(0, I)``.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from lanas_jax.vaenas.tokens import TokenSpec

_LOG_SIGMA_RANGE = (-8.0, 4.0)  # keeps exp() finite early in training


@dataclasses.dataclass(frozen=True)
class VAESizes:
    """Layer widths (the paper gives none; these keep a 100-seed CPU study affordable)."""

    embed: int = 16
    hidden: int = 32
    latent: int = 8


class LSTM(nn.Module):
    """A single-layer LSTM over ``[B, L, F]`` inputs: a ``lax.scan`` over positions.

    One fused ``[F + H, 4H]`` kernel (gates i, f, g, o; forget bias +1), written out rather
    than ``nn.RNN(nn.OptimizedLSTMCell)`` (eight small kernels per cell): the fused cell is one
    matmul per position, which is what matters for batch-64 training on a CPU.
    """

    hidden: int

    @nn.compact
    def __call__(self, x: jax.Array, carry: tuple[jax.Array, jax.Array]):
        features = x.shape[-1] + self.hidden
        kernel = self.param(
            "kernel", nn.initializers.lecun_normal(), (features, 4 * self.hidden)
        )
        bias = self.param("bias", nn.initializers.zeros, (4 * self.hidden,))

        def cell(carry, x_t):
            c, h = carry
            gates = jnp.concatenate([x_t, h], -1) @ kernel + bias
            i, f, g, o = jnp.split(gates, 4, -1)
            c = jax.nn.sigmoid(f + 1.0) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (c, h), h

        carry, ys = jax.lax.scan(cell, carry, jnp.swapaxes(x, 0, 1))
        return carry, jnp.swapaxes(ys, 0, 1)


class Encoder(nn.Module):
    """``q_phi(z | alpha)``: tokens ``[B, L]`` -> ``(mu, log_sigma)``, each ``[B, latent]``."""

    vocab: int
    embed: int
    hidden: int
    latent: int

    @nn.compact
    def __call__(self, tokens: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = nn.Embed(self.vocab, self.embed, name="embed")(tokens)
        batch = tokens.shape[0]
        zeros = jnp.zeros((batch, self.hidden), x.dtype)
        (_, h), _ = LSTM(self.hidden, name="lstm")(x, (zeros, zeros))
        mu = nn.Dense(self.latent, name="mu")(h)
        log_sigma = jnp.clip(nn.Dense(self.latent, name="log_sigma")(h), *_LOG_SIGMA_RANGE)
        return mu, log_sigma


class Decoder(nn.Module):
    """``p_theta(alpha | z)``: ``z [B, latent]`` -> logits ``[B, L, V]``."""

    spec: TokenSpec
    embed: int
    hidden: int

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        length = self.spec.length
        pos = self.param("position", nn.initializers.normal(1.0), (length, self.embed))
        x = jnp.concatenate(
            [
                jnp.broadcast_to(pos, (z.shape[0], length, self.embed)),
                jnp.broadcast_to(z[:, None, :], (z.shape[0], length, z.shape[-1])),
            ],
            -1,
        )
        c0 = jnp.tanh(nn.Dense(self.hidden, name="c0")(z))
        h0 = jnp.tanh(nn.Dense(self.hidden, name="h0")(z))
        _, y = LSTM(self.hidden, name="lstm")(x, (c0, h0))
        logits = nn.Dense(self.spec.vocab, name="out")(y)
        return jnp.where(self.spec.mask(), logits, -1e9)


class VAE(nn.Module):
    """Encoder + decoder; ``__call__`` runs both (used to initialise all parameters)."""

    spec: TokenSpec
    sizes: VAESizes = VAESizes()

    def setup(self):
        s = self.sizes
        self.encoder = Encoder(self.spec.vocab, s.embed, s.hidden, s.latent)
        self.decoder = Decoder(self.spec, s.embed, s.hidden)

    def encode(self, tokens: jax.Array) -> tuple[jax.Array, jax.Array]:
        return self.encoder(tokens)

    def decode(self, z: jax.Array) -> jax.Array:
        return self.decoder(z)

    def __call__(self, tokens: jax.Array) -> jax.Array:
        mu, _ = self.encoder(tokens)
        return self.decoder(mu)


def init_params(key: jax.Array, model: VAE):
    """Fresh parameters of ``model``."""
    tokens = jnp.zeros((1, model.spec.length), jnp.int32)
    return model.init(key, tokens)


def elbo_terms(model: VAE, params, tokens: jax.Array, key: jax.Array):
    """Per-architecture terms of Eq. 2 with one reparameterised sample ``z ~ q(z | alpha)``.

    Returns ``(reconstruction, kl)``, each ``[B]``: ``-log p_theta(alpha | z)`` (a sum of
    per-position cross-entropies) and ``KL(q_phi(z | alpha) || N(0, I))`` in closed form. The
    ELBO is ``-(reconstruction + kl)``.
    """
    mu, log_sigma = model.apply(params, tokens, method=VAE.encode)
    z = mu + jnp.exp(log_sigma) * jax.random.normal(key, mu.shape)
    logits = model.apply(params, z, method=VAE.decode)
    logp = jax.nn.log_softmax(logits, -1)
    recon = -jnp.take_along_axis(logp, tokens[..., None], -1)[..., 0].sum(-1)
    kl = 0.5 * jnp.sum(jnp.exp(2 * log_sigma) + mu**2 - 1.0 - 2 * log_sigma, -1)
    return recon, kl


def negative_elbo(model: VAE, params, tokens: jax.Array, key: jax.Array, weights=None):
    """The loss: mean (or ``weights``-weighted mean) of ``-ELBO`` over the batch."""
    recon, kl = elbo_terms(model, params, tokens, key)
    per = recon + kl
    if weights is None:
        return jnp.mean(per)
    return jnp.sum(weights * per) / jnp.maximum(jnp.sum(weights), 1.0)


def sample_tokens(model: VAE, params, key: jax.Array, num: int) -> jax.Array:
    """``num`` architectures from ``p_theta(alpha) = E_z p_theta(alpha | z)``: ``z ~ N(0, I)``,
    then one categorical draw per position. Returns ``[num, L]`` int32."""
    z_key, tok_key = jax.random.split(key)
    z = jax.random.normal(z_key, (num, model.sizes.latent))
    logits = model.apply(params, z, method=VAE.decode)
    return jax.random.categorical(tok_key, logits).astype(jnp.int32)


def reconstruct(model: VAE, params, tokens: jax.Array) -> jax.Array:
    """The most likely tokens decoded from each architecture's posterior mean ``mu``."""
    mu, _ = model.apply(params, tokens, method=VAE.encode)
    return jnp.argmax(model.apply(params, mu, method=VAE.decode), -1).astype(jnp.int32)
