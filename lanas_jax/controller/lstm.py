"""An autoregressive LSTM token controller trained by REINFORCE (Zoph & Le 2017; ENAS, Pham et al.
2018, Sec. 2.2 and 3; seed 001 Sec. 3.2).

The controller samples a space's token sequence position by position: at position ``i`` a
flax LSTM cell reads the embedding of the token chosen at ``i - 1`` (a learned "go" vector at
``i = 0``) and a per-position linear head gives logits over that position's vocabulary
(``space.vocab_sizes[i]``; entries beyond it are masked). As ENAS (Sec. 3.1, "to prevent
premature convergence ... a tanh constant of 2.5 and a temperature of 5.0 for the sampling
logits", the code's ``logits / temperature`` then ``tanh_constant * tanh``), the logits are
``c * tanh(l / T)``. Parameters start uniform in ``[-0.1, 0.1]`` (ENAS Sec. 3.1).

REINFORCE (ENAS Sec. 2.2 and its code, ``controller.py``): the reward of a sample is its score
plus ``entropy_weight`` times the sample's entropy (the sum over positions of the entropy of the
distribution it was drawn from, held constant); the baseline is a moving average
``b <- b - (1 - decay) (b - r)`` (decay 0.99, started at 0 as ENAS), updated with each sample
before its advantage ``r - b`` is formed; the loss is ``-mean_j log pi(a_j) (r_j - b_j)`` over
the ``M`` samples of one step (ENAS accumulates ``controller_num_aggregate`` samples per Adam
step), minimised by Adam at 3.5e-4 (ENAS Sec. 3.1).

Variable-length sequences (MLPNAS-style, seed 001 Sec. 4) use ``valid`` (a per-position mask)
and/or ``ControllerConfig.end_token``: a position that is not valid, or that follows an end
token, is set to 0 and adds nothing to the log-probability or the entropy.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

_MASKED = -1e9  # logit of a token beyond its position's vocab


@dataclasses.dataclass(frozen=True)
class ControllerConfig:
    """The controller's sizes and REINFORCE settings (static under ``jit``).

    Attributes:
      hidden: LSTM units (64 as ENAS's macro-search code, ``lstm_size=64``; the paper's Sec. 3.1
        controller has 100).
      tanh_constant, temperature: logits are ``tanh_constant * tanh(l / temperature)`` (ENAS
        Sec. 3.1: 2.5 and 5.0); ``None`` switches either off.
      entropy_weight: the sample entropy's weight in the reward (ENAS Sec. 3.1: 1e-4).
      baseline_decay: the moving-average baseline's decay (ENAS code ``bl_dec``: 0.99).
      learning_rate: Adam's (ENAS Sec. 3.1: 3.5e-4).
      init_range: parameters start uniform in ``[-init_range, init_range]`` (ENAS: 0.1).
      end_token: a token after which every later position is invalid (MLPNAS), or ``None``.
    """

    hidden: int = 64
    tanh_constant: float | None = 2.5
    temperature: float | None = 5.0
    entropy_weight: float = 1e-4
    baseline_decay: float = 0.99
    learning_rate: float = 3.5e-4
    init_range: float = 0.1
    end_token: int | None = None

    def __post_init__(self):
        if self.hidden < 1:
            raise ValueError(f"controller hidden must be >= 1, got {self.hidden}")
        if self.tanh_constant is not None and self.tanh_constant <= 0:
            raise ValueError(f"tanh_constant must be > 0 or None, got {self.tanh_constant}")
        if self.temperature is not None and self.temperature <= 0:
            raise ValueError(f"temperature must be > 0 or None, got {self.temperature}")
        if self.entropy_weight < 0 or not 0 <= self.baseline_decay < 1:
            raise ValueError(f"need entropy_weight >= 0 and baseline_decay in [0, 1), got "
                             f"{self.entropy_weight}, {self.baseline_decay}")
        if self.learning_rate <= 0 or self.init_range <= 0:
            raise ValueError(f"learning_rate and init_range must be > 0, got "
                             f"{self.learning_rate}, {self.init_range}")


def _uniform(scale: float):
    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -scale, scale)
    return init


class _Net(nn.Module):
    """The LSTM cell, the go vector, per-position token embeddings and logit heads."""

    length: int
    vocab: int
    hidden: int
    init_range: float

    def setup(self):
        init = _uniform(self.init_range)
        self.cell = nn.OptimizedLSTMCell(self.hidden, kernel_init=init,
                                         recurrent_kernel_init=init, bias_init=init)
        self.go = self.param("go", init, (self.hidden,))
        self.embed = self.param("embed", init, (self.length, self.vocab, self.hidden))
        self.head = self.param("head", init, (self.length, self.hidden, self.vocab))

    def first_input(self):
        return self.go

    def step(self, carry, x, i):
        """One position: ``(carry, input, i) -> (carry, raw logits [V])``."""
        carry, h = self.cell(carry, x)
        return carry, h @ self.head[i]

    def next_input(self, i, token):
        return self.embed[i, token]

    def lstm_out(self, carry, x):
        """One position's LSTM output: ``(carry, input) -> (carry, h [hidden])``."""
        return self.cell(carry, x)

    def __call__(self):  # touches every parameter (init only)
        carry = (jnp.zeros(self.hidden), jnp.zeros(self.hidden))
        _, logits = self.step(carry, self.first_input(), 0)
        return logits + self.next_input(0, 0).sum()


class ControllerState(struct.PyTreeNode):
    """A controller's parameters, Adam state and moving-average baseline."""

    params: dict
    opt_state: optax.OptState
    baseline: jax.Array


@dataclasses.dataclass(frozen=True)
class TokenController:
    """The controller of a token space (hashable: pass it as a static argument).

    ``vocab_sizes`` is one vocabulary size per position (``space.vocab_sizes``).
    """

    vocab_sizes: tuple[int, ...]
    cfg: ControllerConfig = ControllerConfig()

    def __post_init__(self):
        if not self.vocab_sizes or min(self.vocab_sizes) < 1:
            raise ValueError(f"vocab_sizes must be a non-empty tuple of sizes >= 1, got "
                             f"{self.vocab_sizes}")
        end = self.cfg.end_token
        if end is not None and not 0 <= end < max(self.vocab_sizes):
            raise ValueError(f"end_token {end} outside the vocab (max {max(self.vocab_sizes)})")

    @property
    def length(self) -> int:
        return len(self.vocab_sizes)

    @property
    def net(self) -> _Net:
        return _Net(self.length, max(self.vocab_sizes), self.cfg.hidden, self.cfg.init_range)

    @property
    def tx(self) -> optax.GradientTransformation:
        return optax.adam(self.cfg.learning_rate)

    def init(self, key: jax.Array) -> dict:
        """Fresh parameters (uniform in ``[-init_range, init_range]``)."""
        return self.net.init(key)

    def init_state(self, key: jax.Array) -> ControllerState:
        params = self.init(key)
        return ControllerState(params, self.tx.init(params), jnp.zeros((), jnp.float32))

    def _logits(self, raw: jax.Array, i) -> jax.Array:
        c = self.cfg
        if c.temperature is not None:
            raw = raw / c.temperature
        if c.tanh_constant is not None:
            raw = c.tanh_constant * jnp.tanh(raw)
        allowed = jnp.arange(raw.shape[-1]) < jnp.asarray(self.vocab_sizes)[i]
        return jnp.where(allowed, raw, _MASKED)

    def _valid(self, valid) -> jax.Array:
        if valid is None:
            return jnp.ones((self.length,), bool)
        valid = jnp.asarray(valid, bool)
        if valid.shape != (self.length,):
            raise ValueError(f"valid must be bool[{self.length}], got shape {valid.shape}")
        return valid

    def _run(self, params, valid, choose):
        """Scan the positions; ``choose(i, logits, key_or_token)`` picks each token."""
        net = self.net
        hidden = self.cfg.hidden
        end = self.cfg.end_token

        def body(carry, inp):
            lstm, x, ended = carry
            i, ok, extra = inp
            lstm, raw = net.apply(params, lstm, x, i, method=_Net.step)
            logits = self._logits(raw, i)
            live = ok & ~ended
            token = jnp.where(live, choose(logits, extra), 0).astype(jnp.int32)
            logp = jax.nn.log_softmax(logits)
            entropy = -jnp.sum(jnp.exp(logp) * logp)
            lp = jnp.where(live, logp[token], 0.0)
            ent = jnp.where(live, entropy, 0.0)
            if end is not None:
                ended = ended | (live & (token == end))
            x = net.apply(params, i, token, method=_Net.next_input)
            return (lstm, x, ended), (token, lp, ent)

        zeros = jnp.zeros((hidden,), jnp.float32)
        x0 = net.apply(params, method=_Net.first_input)
        return body, ((zeros, zeros), x0, jnp.zeros((), bool))

    def sample(self, params, key: jax.Array, valid=None):
        """One sequence: ``(tokens int32[L], log-prob, entropy)`` (sums over valid positions)."""
        valid = self._valid(valid)
        body, init = self._run(params, valid, lambda logits, k: jax.random.categorical(k, logits))
        keys = jax.random.split(key, self.length)
        _, (tokens, lp, ent) = jax.lax.scan(body, init, (jnp.arange(self.length), valid, keys))
        return tokens, lp.sum(), ent.sum()

    def greedy(self, params, valid=None) -> jax.Array:
        """The most likely token at each position given the earlier ones: ``int32[L]``."""
        valid = self._valid(valid)
        body, init = self._run(params, valid, lambda logits, _: jnp.argmax(logits))
        dummy = jnp.zeros((self.length,), jnp.int32)
        _, (tokens, _, _) = jax.lax.scan(body, init, (jnp.arange(self.length), valid, dummy))
        return tokens

    def log_prob_entropy(self, params, tokens: jax.Array, valid=None):
        """``(log pi(tokens), entropy)`` of a given sequence ``int32[L]`` (teacher forcing)."""
        valid = self._valid(valid)
        tokens = jnp.asarray(tokens, jnp.int32)
        if tokens.shape != (self.length,):
            raise ValueError(f"tokens must be int32[{self.length}], got shape {tokens.shape}")
        body, init = self._run(params, valid, lambda logits, t: t)
        _, (_, lp, ent) = jax.lax.scan(body, init, (jnp.arange(self.length), valid, tokens))
        return lp.sum(), ent.sum()

    def encode(self, params, tokens: jax.Array, valid=None) -> jax.Array:
        """The LSTM output ``h [hidden]`` at the last live position of a given sequence
        (teacher forcing; the end token's position included): a summary of the whole sequence
        for a head that shares the LSTM (MLPNAS's accuracy predictor, seed 001 Sec. 4.2)."""
        valid = self._valid(valid)
        tokens = jnp.asarray(tokens, jnp.int32)
        if tokens.shape != (self.length,):
            raise ValueError(f"tokens must be int32[{self.length}], got shape {tokens.shape}")
        net, end = self.net, self.cfg.end_token

        def body(carry, inp):
            lstm, x, ended, last = carry
            i, ok, t = inp
            lstm, h = net.apply(params, lstm, x, method=_Net.lstm_out)
            live = ok & ~ended
            last = jnp.where(live, h, last)
            if end is not None:
                ended = ended | (live & (t == end))
            return (lstm, net.apply(params, i, t, method=_Net.next_input), ended, last), None

        zeros = jnp.zeros((self.cfg.hidden,), jnp.float32)
        init = ((zeros, zeros), net.apply(params, method=_Net.first_input),
                jnp.zeros((), bool), zeros)
        (_, _, _, last), _ = jax.lax.scan(body, init, (jnp.arange(self.length), valid, tokens))
        return last

    def log_prob(self, params, tokens: jax.Array, valid=None) -> jax.Array:
        """``log pi(tokens)`` of one sequence ``int32[L]``."""
        return self.log_prob_entropy(params, tokens, valid)[0]

    def sample_batch(self, params, key: jax.Array, num: int, valid=None):
        """``num`` independent samples: ``(tokens [num, L], log-probs [num], entropies [num])``."""
        return jax.vmap(lambda k: self.sample(params, k, valid))(jax.random.split(key, num))

    def update(self, state: ControllerState, tokens: jax.Array, scores: jax.Array,
               entropies: jax.Array, valid=None):
        """One REINFORCE step on ``M`` samples (see the module doc).

        Returns ``(state, metrics)`` with the mean ``reward`` (entropy bonus included),
        ``baseline`` (after the step), ``advantage`` and ``loss``.
        """
        rewards = scores + self.cfg.entropy_weight * jax.lax.stop_gradient(entropies)
        baseline, adv = moving_baseline(state.baseline, rewards, self.cfg.baseline_decay)

        def loss_fn(params):
            lp = jax.vmap(lambda t: self.log_prob(params, t, valid))(tokens)
            return reinforce_loss(lp, adv)

        loss, grads = jax.value_and_grad(loss_fn)(state.params)
        updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        state = ControllerState(params, opt_state, baseline)
        return state, {"reward": rewards.mean(), "baseline": baseline,
                       "advantage": adv.mean(), "loss": loss}


def moving_baseline(baseline: jax.Array, rewards: jax.Array, decay: float):
    """ENAS's baseline over the rewards ``[M]`` in order: ``b <- b - (1 - decay)(b - r_j)``,
    then ``adv_j = r_j - b``. Returns ``(final baseline, advantages [M])`` (held constant)."""

    def body(b, r):
        b = b - (1.0 - decay) * (b - r)
        return b, r - b

    baseline, adv = jax.lax.scan(body, baseline, rewards.astype(jnp.float32))
    return baseline, jax.lax.stop_gradient(adv)


def reinforce_loss(log_probs: jax.Array, advantages: jax.Array) -> jax.Array:
    """``-mean_j log_prob_j * adv_j``: its gradient is REINFORCE's (Williams 1992)."""
    return -jnp.mean(log_probs * jax.lax.stop_gradient(advantages))
