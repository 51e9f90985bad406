"""NASES (seed 004: Liu, "Neural Architecture Search in Embedding Space", Alg. 1) on our
supernets, in the issue-15 method interface.

Stage 1 (Sec. 3.2 "Obtaining the architecture encoder and simulator", Sec. 4.1), :func:`pretrain`:
an autoencoder of two one-layer LSTMs of the same size, the architecture simulator
``s_v: U -> R^n`` and the decoder ``f_theta: R^n -> architecture``, trained with a least-squares
loss by Adam on uniformly sampled architectures. A draw ``u ~ U[0, 1]^L`` *is* a uniform
architecture: token ``i`` is ``floor(u_i V_i)``; the simulator reads that architecture's cell
centre ``(t_i + 1/2) / V_i`` position by position (the raw ``u`` makes the decoder learn a
staircase: 72% exact reconstructions of NAS-Bench-201 cells after 2,000 steps against 100% from
the centres) and its last state gives the embedding (``tanh``, ``n = embed_dim``); the decoder
reads the embedding at every position and emits one score per vocabulary entry, regressed on
the token's one-hot (least squares over the position's vocab); decoding takes the best score.

Stage 2 (Alg. 1 lines 3-11, Sec. 4.2): the controller ``g`` starts as a copy of the simulator
(``pretrained_init``; the paper's ablation draws it fresh) and searches the embedding space with
policy gradient. The paper leaves the policy unspecified; ours is Gaussian: for a state
``u ~ U`` (a uniformly drawn architecture, the simulator's input distribution; Alg. 1 line 9
"project architecture a into the embedding by g") the action is ``e ~ N(g(u), sigma^2 I)``, the
architecture ``f_theta(e)`` decoded, its reward the shared-weight supernet's validation-minibatch
accuracy, and ``g`` takes REINFORCE steps (moving-average baseline as ENAS) with the decoder
frozen. Initially ``g = s_v`` maps ``U`` onto the embeddings of uniform architectures, so the
search starts as uniform sampling and concentrates where rewards are high (the paper's
argument for the initialisation). The alternation with shared-weight training, and its
numbers, are ENAS's (the paper's child network "considers ENAS as a reference"), see
:mod:`lanas_jax.controller.enas`. Alg. 1 line 12 (training the best architecture longer) is the
caller's retraining of the found architecture.

Learning rates: the paper's stage-1 Adam 1e-5 (Sec. 4.1), and the controller's settings "follow
the first stage" (Sec. 4.2), so 1e-5 for stage 2 too. At 1e-5 the autoencoder does not
reconstruct NAS-Bench-201's cells within a CPU-affordable number of steps (20,000 steps of
128: loss 6.0 -> 3.7, 0.3% exact), so the default ``pretrain_lr`` is 3e-3 (2,000 steps of 128:
every cell of the last batches decoded exactly; ~15 s on this CPU).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from lanas_jax.controller import shared
from lanas_jax.controller.lstm import ControllerState, moving_baseline, reinforce_loss


@dataclasses.dataclass(frozen=True)
class NasesConfig:
    """NASES's settings (static under ``jit``).

    Attributes:
      hidden: LSTM units of the simulator, decoder and controller (the paper gives none;
        ENAS's 64).
      embed_dim: ``n``, the embedding's size (the paper gives none).
      pretrain_steps, pretrain_batch, pretrain_lr: stage 1's Adam steps, batch of uniform
        architectures and learning rate (paper: 1e-5; ours is larger, see the module doc).
      policy_std: ``sigma`` of the Gaussian policy around ``g(u)`` (ours; embeddings lie in
        ``[-1, 1]^n``).
      controller_lr: Adam's for ``g`` (paper: stage 1's, 1e-5). On a toy reward (the share
        of NB201 tokens equal to 4, 10 samples a step) 600 steps move the mean reward
        0.19 -> 0.24 at 1e-5 and 0.33 -> 1.0 at 1e-3 (ENAS's controller: 0.21 -> 0.94).
      baseline_decay: the moving-average baseline's decay (ENAS: 0.99).
      controller_steps, num_samples, val_batch, update: as :class:`~.enas.EnasConfig` (ENAS's).
      pretrained_init: ``g`` starts as the pretrained simulator (the paper); ``False`` draws it
        fresh (the ablation of Sec. 4).
    """

    hidden: int = 64
    embed_dim: int = 16
    pretrain_steps: int = 2000
    pretrain_batch: int = 128
    pretrain_lr: float = 3e-3
    policy_std: float = 0.1
    controller_lr: float = 1e-5
    baseline_decay: float = 0.99
    controller_steps: int = 30
    num_samples: int = 10
    val_batch: int = 128
    update: str = "all"
    pretrained_init: bool = True

    def __post_init__(self):
        ints = {"hidden": self.hidden, "embed_dim": self.embed_dim,
                "pretrain_steps": self.pretrain_steps, "pretrain_batch": self.pretrain_batch,
                "controller_steps": self.controller_steps, "num_samples": self.num_samples,
                "val_batch": self.val_batch}
        bad = [f"{k}={v}" for k, v in ints.items() if v < 1]
        if bad:
            raise ValueError(f"NASES sizes must be >= 1: {', '.join(bad)}")
        if self.pretrain_lr <= 0 or self.controller_lr <= 0 or self.policy_std <= 0:
            raise ValueError(f"pretrain_lr, controller_lr and policy_std must be > 0, got "
                             f"{self.pretrain_lr}, {self.controller_lr}, {self.policy_std}")
        if not 0 <= self.baseline_decay < 1:
            raise ValueError(f"baseline_decay must be in [0, 1), got {self.baseline_decay}")
        shared.check_update(self.update)


def _positions(batch: int, length: int) -> jax.Array:
    return jnp.broadcast_to(jnp.eye(length), (batch, length, length))


class Simulator(nn.Module):
    """``s_v`` (and the controller ``g``): ``u [B, L]`` -> embedding ``[B, n]`` in ``[-1, 1]``."""

    hidden: int
    embed_dim: int

    @nn.compact
    def __call__(self, u: jax.Array) -> jax.Array:
        x = jnp.concatenate([u[..., None], _positions(*u.shape)], -1)
        (_, h), _ = nn.RNN(nn.OptimizedLSTMCell(self.hidden), return_carry=True)(x)
        return jnp.tanh(nn.Dense(self.embed_dim)(h))


class Decoder(nn.Module):
    """``f_theta``: embedding ``[B, n]`` -> scores ``[B, L, V]`` (one per vocabulary entry)."""

    hidden: int
    length: int
    vocab: int

    @nn.compact
    def __call__(self, e: jax.Array) -> jax.Array:
        b = e.shape[0]
        x = jnp.concatenate([jnp.broadcast_to(e[:, None], (b, self.length, e.shape[-1])),
                             _positions(b, self.length)], -1)
        y = nn.RNN(nn.OptimizedLSTMCell(self.hidden))(x)
        return nn.Dense(self.vocab)(y)


def _allowed(vocab_sizes, width: int) -> jax.Array:
    """``bool [L, width]``: the entries within each position's vocab (sizes may be traced)."""
    return jnp.arange(width)[None, :] < jnp.asarray(vocab_sizes)[:, None]


def noise_tokens(u: jax.Array, vocab_sizes) -> jax.Array:
    """The architecture of a uniform draw ``u [..., L]``: ``floor(u_i V_i)`` (int32)."""
    v = jnp.asarray(vocab_sizes)
    return jnp.minimum(jnp.floor(u * v), v - 1).astype(jnp.int32)


def relax(tokens: jax.Array, vocab_sizes) -> jax.Array:
    """The centre ``(t_i + 1/2) / V_i`` of the cell of ``U`` that decodes to ``tokens``."""
    return (tokens + 0.5) / jnp.asarray(vocab_sizes)


def decode(scores: jax.Array, vocab_sizes) -> jax.Array:
    """Tokens ``int32 [..., L]``: the best-scoring entry within each position's vocab."""
    scores = jnp.where(_allowed(vocab_sizes, scores.shape[-1]), scores, -jnp.inf)
    return jnp.argmax(scores, -1).astype(jnp.int32)


def reconstruction_loss(scores: jax.Array, tokens: jax.Array, vocab_sizes) -> jax.Array:
    """Least squares between the scores and the tokens' one-hots over each position's vocab,
    summed over positions, averaged over the batch (the paper's "least square error")."""
    target = jax.nn.one_hot(tokens, scores.shape[-1])
    err = jnp.where(_allowed(vocab_sizes, scores.shape[-1]), scores - target, 0.0)
    return jnp.mean(jnp.sum(err**2, (-1, -2)))


def _models(cfg: NasesConfig, vocab_sizes):
    return (Simulator(cfg.hidden, cfg.embed_dim),
            Decoder(cfg.hidden, len(vocab_sizes), max(vocab_sizes)))


def _check_vocab(vocab_sizes) -> tuple[int, ...]:
    vocab_sizes = tuple(int(v) for v in vocab_sizes)
    if not vocab_sizes or min(vocab_sizes) < 1:
        raise ValueError(f"vocab_sizes must be non-empty with sizes >= 1, got {vocab_sizes}")
    return vocab_sizes


def _init_models(sim, dec, length, embed_dim, key):
    k_s, k_d = jax.random.split(key)
    return sim.init(k_s, jnp.zeros((1, length))), dec.init(k_d, jnp.zeros((1, embed_dim)))


def init_autoencoder(cfg: NasesConfig, vocab_sizes, key: jax.Array):
    """Fresh ``(simulator params, decoder params)``."""
    vocab_sizes = _check_vocab(vocab_sizes)
    sim, dec = _models(cfg, vocab_sizes)
    return _init_models(sim, dec, len(vocab_sizes), cfg.embed_dim, key)


_STAGE1 = ("hidden", "embed_dim", "pretrain_steps", "pretrain_batch", "pretrain_lr")


def pretrain(cfg: NasesConfig, vocab_sizes, key: jax.Array):
    """Stage 1 (Alg. 1 lines 1-2): train the autoencoder on fresh uniform architectures.

    Returns ``(simulator params, decoder params, {"loss", "accuracy"})``, the metrics per step:
    the least-squares loss and the fraction of the batch decoded back exactly. Compiled once
    per stage-1 setting and sequence shape (the vocab sizes themselves are traced).
    """
    vocab_sizes = _check_vocab(vocab_sizes)
    stage1 = NasesConfig(**{k: getattr(cfg, k) for k in _STAGE1})
    return _pretrain(stage1, len(vocab_sizes), max(vocab_sizes),
                     jnp.asarray(vocab_sizes, jnp.int32), key)


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _pretrain(cfg: NasesConfig, length: int, vmax: int, vocab: jax.Array, key: jax.Array):
    sim, dec = Simulator(cfg.hidden, cfg.embed_dim), Decoder(cfg.hidden, length, vmax)
    k_init, k_steps = jax.random.split(key)
    params = _init_models(sim, dec, length, cfg.embed_dim, k_init)
    tx = optax.adam(cfg.pretrain_lr)

    def loss_fn(params, u):
        tokens = noise_tokens(u, vocab)
        scores = dec.apply(params[1], sim.apply(params[0], relax(tokens, vocab)))
        exact = jnp.all(decode(scores, vocab) == tokens, -1)
        return reconstruction_loss(scores, tokens, vocab), jnp.mean(exact)

    def body(carry, k):
        params, opt = carry
        u = jax.random.uniform(k, (cfg.pretrain_batch, length))
        (loss, acc), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, u)
        updates, opt = tx.update(grads, opt, params)
        return (optax.apply_updates(params, updates), opt), (loss, acc)

    (params, _), (loss, acc) = jax.lax.scan(
        body, (params, tx.init(params)), jax.random.split(k_steps, cfg.pretrain_steps))
    return params[0], params[1], {"loss": loss, "accuracy": acc}


class NasesState(struct.PyTreeNode):
    """The supernet's variables and optimiser state, the controller ``g`` (parameters, Adam
    state, baseline), the frozen decoder ``f_theta``, stage 1's final loss and exact-decoding
    rate, and the number of weight steps taken."""

    variables: Any
    opt_state: Any
    controller: ControllerState
    decoder: Any
    pretrain_loss: jax.Array
    pretrain_accuracy: jax.Array
    step: jax.Array


def _vocab(supernet) -> tuple[int, ...]:
    return tuple(int(v) for v in supernet.space.vocab_sizes)


def init_state(supernet, cfg: NasesConfig, tx, key: jax.Array, x_example) -> NasesState:
    """Fresh supernet variables and ``tx`` state; stage 1 (:func:`pretrain`); ``g`` = the
    simulator (or fresh when not ``pretrained_init``)."""
    k_net, k_ae, k_g = jax.random.split(key, 3)
    variables = dict(supernet.init(k_net, x_example))
    vocab = _vocab(supernet)
    sim_params, dec_params, m = pretrain(cfg, vocab, k_ae)
    g = sim_params if cfg.pretrained_init else init_autoencoder(cfg, vocab, k_g)[0]
    ctrl_tx = optax.adam(cfg.controller_lr)
    ctrl = ControllerState(g, ctrl_tx.init(g), jnp.zeros((), jnp.float32))
    tail = max(1, cfg.pretrain_steps // 10)  # the last tenth of stage 1
    return NasesState(variables, tx.init(variables["params"]), ctrl, dec_params,
                      m["loss"][-tail:].mean(), m["accuracy"][-tail:].mean(),
                      jnp.zeros((), jnp.int32))


def policy_sample(cfg: NasesConfig, vocab_sizes, g_params, dec_params, key: jax.Array,
                  num: int, explore: bool = True):
    """``num`` actions: ``u ~ U``, ``e ~ N(g(u), sigma^2)`` (``e = g(u)`` unless ``explore``),
    decoded. Returns ``(u [num, L], e [num, n], tokens int32 [num, L])``."""
    sim, dec = _models(cfg, vocab_sizes)
    k_u, k_e = jax.random.split(key)
    u = relax(noise_tokens(jax.random.uniform(k_u, (num, len(vocab_sizes))), vocab_sizes),
              vocab_sizes)
    e = sim.apply(g_params, u)
    if explore:
        e = e + cfg.policy_std * jax.random.normal(k_e, e.shape)
    return u, e, decode(dec.apply(dec_params, e), vocab_sizes)


def policy_log_prob(cfg: NasesConfig, vocab_sizes, g_params, u, e) -> jax.Array:
    """``log N(e; g(u), sigma^2 I)`` up to a constant, per row ``[num]``."""
    sim, _ = _models(cfg, vocab_sizes)
    mean = sim.apply(g_params, u)
    return -jnp.sum((jax.lax.stop_gradient(e) - mean) ** 2, -1) / (2 * cfg.policy_std**2)


def controller_phase(supernet, cfg: NasesConfig, state: NasesState, variables, x_train, x_val,
                     y_val, key: jax.Array):
    """``controller_steps`` REINFORCE steps of ``g`` as one ``lax.scan`` (Alg. 1 lines 5-10).
    Returns ``(controller state, {"reward", "baseline", "controller_loss"})`` per step."""
    vocab = _vocab(supernet)
    tx = optax.adam(cfg.controller_lr)
    calib_size = min(cfg.val_batch, x_train.shape[0])

    def body(cs, k):
        k_s, k_v, k_c = jax.random.split(k, 3)
        u, e, tokens = policy_sample(cfg, vocab, cs.params, state.decoder, k_s, cfg.num_samples)
        x_calib = x_train[jax.random.permutation(k_c, x_train.shape[0])[:calib_size]]
        acc = shared.rewards(supernet, variables, tokens, x_val, y_val, x_calib, k_v,
                             cfg.val_batch)
        baseline, adv = moving_baseline(cs.baseline, acc, cfg.baseline_decay)
        loss, grads = jax.value_and_grad(
            lambda p: reinforce_loss(policy_log_prob(cfg, vocab, p, u, e), adv))(cs.params)
        updates, opt = tx.update(grads, cs.opt_state, cs.params)
        cs = ControllerState(optax.apply_updates(cs.params, updates), opt, baseline)
        return cs, {"reward": acc.mean(), "baseline": baseline, "controller_loss": loss}

    return jax.lax.scan(body, state.controller, jax.random.split(key, cfg.controller_steps))


def train_epoch(supernet, cfg: NasesConfig, tx, batch_size: int, state: NasesState, x_train,
                y_train, x_val, y_val, key: jax.Array):
    """One NASES search epoch: shared-weight training on policy samples, then ``g``'s REINFORCE
    steps (see the module doc). Jittable with ``(supernet, cfg, tx, batch_size)`` static.

    Returns ``(state, metrics)``: ``loss`` and ``accuracy`` per weight step, ``reward``,
    ``baseline`` and ``controller_loss`` per controller step.
    """
    steps = shared.check_data(batch_size, x_train, x_val)
    vocab = _vocab(supernet)
    k_w, k_c = jax.random.split(key)
    g = state.controller.params

    def draw(k):
        tokens = policy_sample(cfg, vocab, g, state.decoder, k, 1)[2][0]
        return supernet.space.from_tokens(tokens)

    variables, opt_state, wm = shared.weight_phase(
        supernet, tx, cfg.update, batch_size, state.variables, state.opt_state, x_train,
        y_train, k_w, draw)
    ctrl, cm = controller_phase(supernet, cfg, state, variables, x_train, x_val, y_val, k_c)
    state = state.replace(variables=variables, opt_state=opt_state, controller=ctrl,
                          step=state.step + steps)
    return state, {**wm, **cm}


def candidates(supernet, cfg: NasesConfig, state: NasesState, key: jax.Array,
               num: int) -> jax.Array:
    """``int32 [num, L]``: decodings of ``g(u)`` (no exploration noise) for uniform ``u``; the
    most frequent of 256 such decodings (the policy's mode) first, then ``num - 1`` of them."""
    if num < 1:
        raise ValueError(f"num must be >= 1, got {num}")
    pool = max(256, num - 1)
    _, _, tokens = policy_sample(cfg, _vocab(supernet), state.controller.params, state.decoder,
                                 key, pool, explore=False)
    counts = jnp.sum(jnp.all(tokens[:, None] == tokens[None], -1), -1)
    first = tokens[jnp.argmax(counts)][None]
    return jnp.concatenate([first, tokens[: num - 1]]).astype(jnp.int32)
