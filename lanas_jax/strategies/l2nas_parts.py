"""The pieces of L2NAS (seed 003, "Our method"), as small pure functions and flax modules.

* :func:`discretize` -- ``x = Discretize(alpha)``: the argmax op of every edge (many-to-one).
* :func:`check_loss` -- quantile regression's check loss ``rho_tau(u) = u (tau - 1(u <= 0))``.
* :func:`topk_insert` / :func:`topk_state` -- the environment: the top-K architectures seen
  (relaxed), ranked by accuracy, and the state = their channel-wise average.
* :class:`Replay`, :func:`replay_add`, :func:`replay_sample` -- the experience replay buffer as a
  fixed-size device array (a ring buffer).
* :class:`Actor` (``mu(s) -> alpha``) and :class:`Critic` (``Q(alpha)``) -- small MLPs.
* :func:`normalized_reward` -- the transfer reward ``100^(Acc / Acc(Env)) / 100 - 1``.
* :func:`propose` -- the table row of a score vector's discretisation, and the unseen row with
  the best scores (REINFORCE's rule when its sample lands on an architecture already queried).

:func:`discretize`, :func:`repair` and :func:`propose` act on edge-major one-hot vectors
``[E * O]`` (feature ``e * O + o``), the layout of ``lanas_jax.spaces.nb201.one_hot``; L2NAS
itself acts in any space's relaxed box (:mod:`lanas_jax.strategies.l2nas`).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct


def discretize(alpha: jax.Array, num_ops: int) -> jax.Array:
    """``Discretize(alpha)``: the one-hot of the best-scoring op of every edge, ``[..., E * O]``.

    Many-to-one: every ``alpha`` whose per-edge argmax is the same maps to the same cell. Ties
    go to the lower op id (``jnp.argmax``). A one-hot input round-trips unchanged.
    """
    edges = alpha.reshape(alpha.shape[:-1] + (-1, num_ops))
    return jax.nn.one_hot(jnp.argmax(edges, -1), num_ops, dtype=alpha.dtype).reshape(alpha.shape)


def repair(alpha: jax.Array, cell: jax.Array, num_ops: int) -> jax.Array:
    """The action closest to ``alpha`` that discretises to ``cell`` (an edge-major one-hot).

    On every edge whose argmax op differs from ``cell``'s op, the scores of the two ops are
    swapped; other edges are unchanged. So ``discretize(repair(alpha, cell)) == cell`` (up to
    ties) and ``repair(alpha, discretize(alpha)) == alpha``. L2NAS stores the repaired action in
    the replay buffer when the query is not ``Discretize(alpha)`` (an already-queried cell was
    replaced by an unseen one), so the critic learns from an action that leads to the cell
    whose reward it is given.
    """
    a = alpha.reshape(-1, num_ops)
    want = cell.reshape(-1, num_ops)
    have = jax.nn.one_hot(jnp.argmax(a, -1), num_ops, dtype=a.dtype)
    top = jnp.sum(a * have, -1, keepdims=True)  # the current max score per edge
    mine = jnp.sum(a * want, -1, keepdims=True)  # the score of the wanted op per edge
    swapped = a + have * (mine - top) + want * (top - mine)
    return swapped.reshape(alpha.shape)


def check_loss(u: jax.Array, tau: jax.Array) -> jax.Array:
    """Quantile regression's check function ``rho_tau(u) = u (tau - 1(u <= 0))`` (elementwise).

    ``mean(rho_tau(r_i - q))`` over a sample is minimised by its tau-quantile (Koenker & Bassett
    1978); the L2NAS critic regresses ``r - Q(alpha)`` with it (seed 003, L_Critic).
    """
    return u * (tau - (u <= 0).astype(u.dtype))


@struct.dataclass
class TopK:
    """The environment's memory: the K best (relaxed architecture, value) pairs seen, unordered."""

    point: jax.Array  # [K, D] float32 relaxed architectures (0 where empty)
    value: jax.Array  # [K] float32 their search metric (-inf where empty)


def topk_empty(k: int, dim: int) -> TopK:
    return TopK(point=jnp.zeros((k, dim), jnp.float32),
                value=jnp.full((k,), -jnp.inf, jnp.float32))


def topk_insert(top: TopK, point: jax.Array, value: jax.Array) -> TopK:
    """Add ``(point, value)`` if it beats the worst of the K kept (it replaces that one).

    Ties with the worst kept value keep the earlier architecture. The caller never inserts the
    same architecture twice (a repeated query would otherwise occupy two slots).
    """
    worst = jnp.argmin(top.value)
    better = value > top.value[worst]
    return TopK(
        point=top.point.at[worst].set(jnp.where(better, point, top.point[worst])),
        value=top.value.at[worst].set(jnp.where(better, value, top.value[worst])),
    )


def topk_state(top: TopK, start: jax.Array) -> jax.Array:
    """The state ``s``: the channel-wise average of the kept architectures' relaxations.

    On one-hot relaxations (NB201) it is the per-edge empirical distribution of ops among the
    top-K (seed 003: "the sample distribution of high-performance architectures"). Before
    anything was kept it is ``start`` (L2NAS: the domain's mean relaxation, which on a complete
    NB201 table is the uniform ``1 / 5`` per edge).
    """
    valid = jnp.isfinite(top.value)
    count = jnp.sum(valid)
    mean = jnp.sum(top.point * valid[:, None], 0) / jnp.maximum(count, 1)
    return jnp.where(count > 0, mean, start)


@struct.dataclass
class Replay:
    """Experience replay: a ring buffer of (state, action, accuracy) of fixed capacity."""

    state: jax.Array  # [C, D]
    action: jax.Array  # [C, D] the noisy alpha that was taken
    value: jax.Array  # [C] the raw search metric; the reward is computed from it when sampled
    size: jax.Array  # () int32 filled entries (<= C)
    pointer: jax.Array  # () int32 next slot


def replay_empty(capacity: int, dim: int) -> Replay:
    return Replay(
        state=jnp.zeros((capacity, dim), jnp.float32),
        action=jnp.zeros((capacity, dim), jnp.float32),
        value=jnp.zeros((capacity,), jnp.float32),
        size=jnp.zeros((), jnp.int32),
        pointer=jnp.zeros((), jnp.int32),
    )


def replay_add(buf: Replay, state: jax.Array, action: jax.Array, value: jax.Array) -> Replay:
    """Write one transition over the oldest slot once the buffer is full."""
    capacity = buf.value.shape[0]
    p = buf.pointer
    return Replay(
        state=buf.state.at[p].set(state),
        action=buf.action.at[p].set(action),
        value=buf.value.at[p].set(value.astype(jnp.float32)),
        size=jnp.minimum(buf.size + 1, capacity),
        pointer=(p + 1) % capacity,
    )


def replay_sample(key: jax.Array, buf: Replay, batch: int) -> tuple[jax.Array, ...]:
    """``batch`` transitions drawn uniformly with replacement from the filled part."""
    i = jax.random.randint(key, (batch,), 0, jnp.maximum(buf.size, 1))
    return buf.state[i], buf.action[i], buf.value[i]


class MLP(nn.Module):
    """ReLU hidden layers, then a linear output of width ``out``."""

    hidden: Sequence[int]
    out: int

    @nn.compact
    def __call__(self, x):
        for width in self.hidden:
            x = nn.relu(nn.Dense(width)(x))
        return nn.Dense(self.out)(x)


class Actor(nn.Module):
    """``mu(s)``: state ``[D]`` -> continuous architecture ``alpha`` in ``[-1, 1]^D`` (tanh)."""

    hidden: Sequence[int]
    dim: int

    @nn.compact
    def __call__(self, s):
        return jnp.tanh(MLP(self.hidden, self.dim)(s))


class Critic(nn.Module):
    """``Q(alpha)``: the tau-quantile of the reward of the architectures ``alpha`` leads to.

    Seed 003 writes the critic as a function of the action only (``Q(alpha_i)``): an episode is
    one query, so there is no bootstrapped next-state value.
    """

    hidden: Sequence[int]

    @nn.compact
    def __call__(self, alpha):
        return MLP(self.hidden, 1)(alpha)[..., 0]


def normalized_reward(acc: jax.Array, acc_env: jax.Array) -> jax.Array:
    """Seed 003 (Transferability): ``r = 100^(Acc / Acc(Env)) / 100 - 1``, in ``(-1, 0]`` for
    ``Acc <= Acc(Env)``; it maps every dataset's accuracy range onto the same scale."""
    return jnp.power(100.0, acc / acc_env) / 100.0 - 1.0


def propose(
    scores: jax.Array, seen: jax.Array, features: jax.Array, num_ops: int
) -> tuple[jax.Array, jax.Array]:
    """The table row of ``Discretize(scores)`` and the unseen row with the best total score.

    A row's total score is ``features[row] . scores`` (the sum over edges of its op's score), so
    ``Discretize(scores)`` is the row maximising it; the second output is the row maximising it
    among the unseen ones, i.e. what Discretize returns once the queried cells are removed. Both
    are int32; the first may be already seen. The row of a discretised cell is found by matching
    its one-hot against the table (a row matches it in all ``E`` edges), so any table of one-hot
    cells works whatever its row order.
    """
    cell = discretize(scores, num_ops)
    both = features @ jnp.stack([cell, scores], -1)  # [N, 2]
    raw = jnp.argmax(both[:, 0]).astype(jnp.int32)
    unseen = jnp.argmax(jnp.where(seen, -jnp.inf, both[:, 1])).astype(jnp.int32)
    return raw, unseen


def check_one_hot_cells(features, num_ops: int, who: str) -> None:
    """Raise ValueError unless every row is one one-hot group of ``num_ops`` per edge."""
    features = np.asarray(features)
    d = features.shape[1]
    if num_ops < 2 or d % num_ops:
        raise ValueError(
            f"{who} needs features made of one-hot groups of num_ops={num_ops} (one per edge), "
            f"but the table's feature width {d} is not a multiple of it"
        )
    groups = features.reshape(features.shape[0], d // num_ops, num_ops)
    binary = np.all((groups == 0) | (groups == 1))
    if not binary or not np.all(groups.sum(-1) == 1):
        raise ValueError(
            f"{who} needs features that are one one-hot of {num_ops} ops per edge "
            "(NB201's 30-d encoding); this table's features are not"
        )
