"""VAENAS-G: the VAE of VAENAS as the sampler of a ProxylessNAS-style gradient search (seed 002,
Sec. 4.3, Eq. 6, Alg. 3; Cai et al. 2019, ProxylessNAS).

ProxylessNAS keeps per-position architecture logits ``w`` (a multinomial ``p_w`` per token
position, ``softmax`` over that position's choices), samples one path from ``p_w`` per step,
trains the supernet weights along it and updates ``w`` from that sample. VAENAS-G replaces the
sampling distribution by the VAE's ``Gamma(alpha) = p_theta(alpha | z)`` (Eq. 6); ``w`` is still
updated from the sample, and the VAE is retrained on the top ``K``% of ranked architectures
every ``n_vae`` epochs (Alg. 3 lines 5-9, Alg. 1). One step (:func:`train_step`) is Alg. 3
lines 2-4, in the paper's order:

1. ``alpha ~ p_theta(alpha | z)``, ``z ~ N(0, I)`` (:func:`sample_path`, reusing
   :func:`lanas_jax.vaenas.model.sample_tokens`);
2. the multinomial ``w`` from ``alpha`` on a validation batch (:func:`arch_update`);
3. the supernet weights ``W_alpha`` on a training batch along ``alpha``: SPOS's masked step
   (:func:`lanas_jax.supernet.train.masked_update`: unsampled weights and their optimiser
   moments untouched).

**Which estimator.** ProxylessNAS has two: the binary-gate gradient (its Sec. 3.2.1,
``dL/dw_i ~ sum_j dL/dg_j p_j (delta_ij - p_i)``) and the REINFORCE form (its Sec. 3.3.2,
``grad_w J = (R(alpha) - b) grad_w log p_w(alpha)``). We use **REINFORCE with reward
``R = -L_val``** (the sampled path's validation cross-entropy), because (a) ``dL/dg_j`` needs
the output of every op at every position as a differentiable gate input, and our supernets'
``apply`` takes a discrete architecture (the ConvNet chain selects depth and kernels by
masking, with no gate to differentiate), so the binary gate would need a soft-gate forward per
supernet; REINFORCE needs only the sampled path's loss, for any space; (b) REINFORCE on
``-L_val`` is the zeroth-order counterpart of the binary gate's first-order estimate of the same
``L_val``. The baseline ``b`` is an exponential moving average of the reward (decay 0.99,
``rl_baseline_decay_weight`` of ProxylessNAS's ``search/imagenet_arch_search.py``), started at
the first reward; ``w`` is optimised by Adam(lr 1e-3, b1 0, b2 0.999, eps 1e-8), the same
script's ``arch_*`` defaults. ``w`` starts at zero (uniform; the script's ``normal`` init with
std 1e-3 is near-uniform too). ProxylessNAS also warms the weights up for 40 epochs and steps
``w`` every 5 weight steps; Alg. 3 steps both every iteration with no warm-up, which we follow.

**Where the paper is silent, and what we chose.**

* The sample comes from the VAE, not from ``p_w``, so the update is off-policy and the paper
  does not say how to correct it. We apply the on-policy formula to the VAE's sample without
  importance weights (``q_theta(alpha)`` is an intractable marginal). With ``b ~ E_q[R]`` the
  expected update is ``Cov_q(R, onehot(alpha)) + (E_q[R] - b)(q - p)``, i.e. it raises the
  choices whose presence in the VAE's samples correlates with a lower validation loss. While
  the loss is falling the lagging baseline keeps ``E_q[R] - b > 0``, so the second term also
  pulls ``p_w`` towards the VAE's ``q`` (on-policy, ``q = p``, it vanishes).
* ``log p_w`` is of the VAE's raw tokens, so a token the space ignores (a ConvNet layer beyond
  the sampled depth) gets a zero-mean update, not a pull towards the canonical 0.
* Alg. 3 line 6 ranks ``N_s`` architectures drawn from the *uniform* ``U(alpha)`` (unlike
  Alg. 2, which draws from its mixture); we follow it, by calling VAENAS-OS's
  :func:`lanas_jax.supernet.train.vae_update` with ``eps = 0`` (its mixture is then ``U``).
  They are scored by supernet validation accuracy on ``score_batch`` validation images (Alg. 1
  ranks by ``ACC``). The VAE starts untrained (Alg. 3 has no warm-up) and is retrained after
  every ``n_vae``-th epoch (Alg. 3 counts iterations; the brief says epochs).
* No values are given for ``n_vae``, ``N_s``, ``K`` or the VAE's optimisation: the defaults
  are VAENAS-OS's (:class:`lanas_jax.supernet.train.OneShotConfig`).
* Alg. 3 line 12 derives the final architecture "based on the learned ``w``": the argmax per
  position, first of :func:`candidates`; then distinct VAE samples, ranked by ``log p_w`` (the
  VAE proposes, the learned multinomial orders), so the lead's supernet scoring of the
  candidates can overrule the argmax.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from lanas_jax.supernet import score as score_mod
from lanas_jax.supernet import train as oneshot
from lanas_jax.supernet.train import _loss_grads, masked_update, token_spec
from lanas_jax.vaenas.model import VAE, VAESizes, sample_tokens
from lanas_jax.vaenas.train import TrainConfig, init_vae


@dataclasses.dataclass(frozen=True)
class VaenasGConfig:
    """VAENAS-G's settings (static under ``jit``).

    Attributes:
      arch_lr, arch_b1, arch_b2, arch_eps: Adam on the multinomial logits (ProxylessNAS's
        architecture optimiser: 1e-3, 0, 0.999, 1e-8).
      baseline_decay: the REINFORCE baseline's moving-average decay (ProxylessNAS code: 0.99).
      n_vae, n_samples, score_batch, vae: Alg. 3's ``n_vae`` (epochs between VAE updates),
        ``N_s`` (uniform architectures ranked per update), the validation images they are
        scored on, and Alg. 1's settings (``vae.top_frac`` is ``K``); VAENAS-OS's defaults.
      pool_factor: :func:`candidates` ranks ``pool_factor * num`` VAE samples.
    """

    arch_lr: float = 1e-3
    arch_b1: float = 0.0
    arch_b2: float = 0.999
    arch_eps: float = 1e-8
    baseline_decay: float = 0.99
    n_vae: int = 2
    n_samples: int = 256
    score_batch: int = 256
    vae: TrainConfig = TrainConfig(sizes=VAESizes(16, 32, 8), n_iters=100, top_frac=0.1)
    pool_factor: int = 4

    def __post_init__(self):
        if not self.arch_lr > 0 or not self.arch_eps > 0:
            raise ValueError(f"arch_lr and arch_eps must be > 0, got {self.arch_lr}, "
                             f"{self.arch_eps}")
        for name in ("arch_b1", "arch_b2", "baseline_decay"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.n_vae < 1 or self.n_samples < 2 or self.score_batch < 1:
            raise ValueError(f"VAENAS-G needs n_vae >= 1, n_samples >= 2 and score_batch >= 1, "
                             f"got {self.n_vae}, {self.n_samples}, {self.score_batch}")
        if self.pool_factor < 1:
            raise ValueError(f"pool_factor must be >= 1, got {self.pool_factor}")
        self.vae.validate()

    @property
    def arch_tx(self) -> optax.GradientTransformation:
        return optax.adam(self.arch_lr, b1=self.arch_b1, b2=self.arch_b2, eps=self.arch_eps)


class VaenasGState(struct.PyTreeNode):
    """A run's state (arrays only). ``arch_logits`` ``[L, V]`` are the multinomial's ``w``
    (entries a position may not take are ignored); ``baseline`` the REINFORCE baseline;
    ``step`` counts steps and ``epoch`` epochs (the VAE is retrained after every ``n_vae``-th)."""

    variables: Any
    opt_state: Any
    arch_logits: jax.Array
    arch_opt_state: Any
    baseline: jax.Array
    vae_params: Any
    vae_opt_state: Any
    step: jax.Array
    epoch: jax.Array


def _allowed(space) -> jax.Array:
    spec = token_spec(space)
    return jnp.asarray(spec.allowed, bool)


def log_probs(space, arch_logits: jax.Array) -> jax.Array:
    """``[L, V]`` per-position log-probabilities of the multinomial (disallowed: ~-1e9)."""
    return jax.nn.log_softmax(jnp.where(_allowed(space), arch_logits, -1e9), axis=-1)


def log_prob(space, arch_logits: jax.Array, tokens: jax.Array) -> jax.Array:
    """``log p_w(tokens)`` of one ``[L]`` token sequence."""
    lp = log_probs(space, arch_logits)
    return jnp.sum(jnp.take_along_axis(lp, tokens[:, None].astype(jnp.int32), 1))


def init_state(supernet, cfg: VaenasGConfig, tx: optax.GradientTransformation, key: jax.Array,
               x_example: jax.Array) -> VaenasGState:
    """Supernet variables from ``supernet.init``, uniform multinomial (zero logits), fresh VAE."""
    k_net, k_vae = jax.random.split(key)
    variables = supernet.init(k_net, x_example)
    spec = token_spec(supernet.space)
    logits = jnp.zeros((spec.length, spec.vocab), jnp.float32)
    vae_params, vae_opt = init_vae(k_vae, spec, cfg.vae)
    return VaenasGState(variables, tx.init(variables["params"]), logits,
                        cfg.arch_tx.init(logits), jnp.zeros((), jnp.float32), vae_params,
                        vae_opt, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))


def sample_path(supernet, cfg: VaenasGConfig, state: VaenasGState, key: jax.Array) -> jax.Array:
    """Alg. 3 line 2: one ``[L]`` int32 token sequence from ``p_theta(alpha | z)`` (raw: a
    token the space ignores is kept; ``space.from_tokens`` gives the architecture)."""
    vae = VAE(token_spec(supernet.space), cfg.vae.sizes)
    return sample_tokens(vae, state.vae_params, key, 1)[0]


def arch_update(supernet, cfg: VaenasGConfig, state: VaenasGState, tokens: jax.Array,
                x_val: jax.Array, y_val: jax.Array) -> tuple[VaenasGState, dict]:
    """Alg. 3 line 3: REINFORCE on the multinomial from the sampled ``tokens`` with reward
    ``-L_val`` of the path on ``(x_val, y_val)`` (see the module docstring)."""
    space = supernet.space
    logits, _ = supernet.apply(state.variables, space.from_tokens(tokens), x_val, train=True)
    val_loss = optax.softmax_cross_entropy_with_integer_labels(logits, y_val).mean()
    reward = jax.lax.stop_gradient(-val_loss)
    baseline = jnp.where(state.step == 0, reward, state.baseline)
    advantage = reward - baseline
    grads = jax.grad(lambda w: -advantage * log_prob(space, w, tokens))(state.arch_logits)
    updates, arch_opt = cfg.arch_tx.update(grads, state.arch_opt_state, state.arch_logits)
    new_baseline = cfg.baseline_decay * baseline + (1 - cfg.baseline_decay) * reward
    state = state.replace(arch_logits=optax.apply_updates(state.arch_logits, updates),
                          arch_opt_state=arch_opt, baseline=new_baseline)
    return state, {"val_loss": val_loss, "reward": reward, "advantage": advantage}


def weight_update(supernet, tx, state: VaenasGState, tokens: jax.Array, x: jax.Array,
                  y: jax.Array) -> tuple[VaenasGState, dict]:
    """Alg. 3 line 4: SPOS's masked step on ``W_alpha`` along the sampled path."""
    arch = supernet.space.from_tokens(tokens)
    grads, loss, acc, stats = _loss_grads(supernet, state.variables, arch, x, y, None)
    params = state.variables["params"]
    updates, opt_state = tx.update(grads, state.opt_state, params)
    new_params, opt_state = masked_update(supernet.path_mask(arch), params,
                                          optax.apply_updates(params, updates),
                                          state.opt_state, opt_state)
    variables = {**state.variables, "params": new_params}
    if stats is not None:
        variables["batch_stats"] = stats
    return state.replace(variables=variables, opt_state=opt_state), {"loss": loss,
                                                                     "accuracy": acc}


def train_step(supernet, cfg: VaenasGConfig, tx, state: VaenasGState, x, y, x_val, y_val,
               key: jax.Array) -> tuple[VaenasGState, dict]:
    """Alg. 3 lines 2-4 on one training batch ``(x, y)`` and one validation batch; the path is
    ``sample_path(..., split(key)[0])``. Metrics: scalars (``tokens`` the sampled path)."""
    tokens = sample_path(supernet, cfg, state, jax.random.split(key)[0])
    state, m_arch = arch_update(supernet, cfg, state, tokens, x_val, y_val)
    state, m_w = weight_update(supernet, tx, state, tokens, x, y)
    lp = log_probs(supernet.space, state.arch_logits)
    entropy = -jnp.sum(jnp.where(_allowed(supernet.space), jnp.exp(lp) * lp, 0.0), -1).mean()
    return state.replace(step=state.step + 1), {**m_w, **m_arch, "baseline": state.baseline,
                                                "entropy": entropy, "tokens": tokens}


def vae_update(supernet, cfg: VaenasGConfig, state: VaenasGState, x_val, y_val,
               key: jax.Array) -> VaenasGState:
    """Alg. 3 lines 6-9: ``N_s`` uniform architectures scored by supernet validation accuracy,
    the VAE retrained on their top ``K``% (Alg. 1), through VAENAS-OS's
    :func:`lanas_jax.supernet.train.vae_update` with ``eps = 0``."""
    os_cfg = oneshot.OneShotConfig(method="vaenas_os", n_vae=cfg.n_vae,
                                   n_samples=cfg.n_samples, eps_inc=0.0, vae=cfg.vae,
                                   score_batch=cfg.score_batch)
    os_state = oneshot.SupernetState(state.variables, state.opt_state, state.step,
                                     state.vae_params, state.vae_opt_state,
                                     jnp.zeros((), jnp.float32))

    def scorer(variables, archs, x, y):
        return score_mod.score_archs(supernet, variables, archs, x, y,
                                     chunk=score_mod.default_chunk())

    os_state, _ = oneshot.vae_update(supernet, os_cfg, os_state, x_val, y_val, key, scorer)
    return state.replace(vae_params=os_state.vae_params, vae_opt_state=os_state.vae_opt_state)


def train_epoch(supernet, cfg: VaenasGConfig, tx, batch_size: int, state: VaenasGState,
                x_train, y_train, x_val, y_val, key: jax.Array) -> tuple[VaenasGState, dict]:
    """One epoch as one ``lax.scan`` (a fresh permutation of the training set, the last partial
    batch dropped; a random validation batch of the same size per step), then the VAE update
    when this is an ``n_vae``-th epoch. Returns ``(state, per-step metrics)``: ``loss``,
    ``accuracy`` (training batch), ``val_loss``, ``reward``, ``advantage``, ``baseline``,
    ``entropy`` (mean per-position entropy of the multinomial)."""
    n, n_val = x_train.shape[0], x_val.shape[0]
    steps = n // batch_size
    if steps < 1:
        raise ValueError(f"batch_size {batch_size} exceeds the {n} training images")
    if n_val < 1:
        raise ValueError("VAENAS-G needs validation images for the architecture step")
    k_perm, k_steps, k_vae = jax.random.split(key, 3)
    order = jax.random.permutation(k_perm, n)[: steps * batch_size].reshape(steps, batch_size)
    val_size = min(batch_size, n_val)

    def body(state, inp):
        idx, k = inp
        k_val, k_step = jax.random.split(k)
        rows = jax.random.choice(k_val, n_val, (val_size,), replace=False)
        state, m = train_step(supernet, cfg, tx, state, x_train[idx], y_train[idx],
                              x_val[rows], y_val[rows], k_step)
        m.pop("tokens")
        return state, m

    state, metrics = jax.lax.scan(body, state, (order, jax.random.split(k_steps, steps)))
    due = (state.epoch + 1) % cfg.n_vae == 0
    state = jax.lax.cond(due, lambda s: vae_update(supernet, cfg, s, x_val, y_val, k_vae),
                         lambda s: s, state)
    return state.replace(epoch=state.epoch + 1), metrics


def candidates(supernet, cfg: VaenasGConfig, state: VaenasGState, key: jax.Array,
               num: int) -> jax.Array:
    """``int32 [num, L]`` canonical token sequences: the multinomial's argmax first (Alg. 3
    line 12), then distinct samples of the VAE (``pool_factor * num`` drawn) in descending
    ``log p_w`` of their raw tokens; repeats fill the tail if the pool has too few distinct."""
    if num < 1:
        raise ValueError(f"num must be >= 1, got {num}")
    space = supernet.space

    def canonical(t):
        return space.tokens(space.from_tokens(t)).astype(jnp.int32)

    best = canonical(jnp.argmax(log_probs(space, state.arch_logits), -1).astype(jnp.int32))
    if num == 1:
        return best[None]
    vae = VAE(token_spec(space), cfg.vae.sizes)
    raw = sample_tokens(vae, state.vae_params, key, cfg.pool_factor * num)
    score = jax.vmap(lambda t: log_prob(space, state.arch_logits, t))(raw)
    order = jnp.argsort(-score, stable=True)
    pool = jax.vmap(canonical)(raw)[order]
    same = jnp.all(pool[:, None] == pool[None], -1)
    earlier = jnp.tril(same, -1).any(-1) | jnp.all(pool == best, -1)
    keep = jnp.argsort(earlier, stable=True)[: num - 1]
    return jnp.concatenate([best[None], pool[keep]])
