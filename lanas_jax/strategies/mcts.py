"""MCTS over a hand-designed action space: the AlphaX-style baseline of seed 000 (LaNAS).

Seed 000, Sec. 2 (the motivating example) and Sec. 4.2 ("Baselines": MCTS as in AlphaX, Wang
et al. 2018, with one rollout per iteration). An architecture is built by a fixed sequence of
actions; the search tree's nodes are the action prefixes. One ``ask`` is one MCTS iteration:

1. *selection*: from the root, move to the child with the largest UCT score
   ``X̄ + 2 Cp sqrt(2 ln n_parent / n)`` (the same rule as LaNAS's, ``partition/ucb.py``),
   ``+inf`` for an unvisited child, ties broken at random, until an unvisited child is taken
   (*expansion*: that child joins the tree) or a complete architecture is reached;
2. *rollout*: below the expanded node, each remaining action is drawn uniformly at random;
3. the completed architecture is queried; ``tell`` *back-propagates* its metric to the
   expanded node and its ancestors (``n += 1``, ``X̄`` the running mean).

No architecture is proposed twice: every node keeps the number of pool rows below it not yet
proposed (decremented at ``ask``, so a batch or an asynchronous farm never gets a pending one
again), and selection and rollout only move into children that still hold one; the leaf's row
is the unseen one (by the archive) with the largest fixed random priority. The rollout is
therefore a uniformly random completion among the branches with an unseen completion left,
never a resample; an exhausted subtree drops out of the tree search. AlphaX's learned value
predictor for rollouts (#prediction = 1 in the paper) is not used: rollouts are plain random
completions, queried for real.

The tree is dense: every prefix of every length has a slot in the ``visits`` / ``value_sum`` /
``unproposed`` arrays (``sum_d prod_{k<d} b_k`` nodes), and every pool row's path of node ids is
computed once at ``init`` from the pool's features, so the tree is a fixed-shape pytree. The
action spaces are hand-made for particular spaces, so MCTS runs on a pool domain (a table, or a
small dense space such as NB201 or ConvNet enumerated by ``domain.open_domain``) whose features
fit the chosen action space; ``validate`` refuses an open domain or a mismatched pool.

Action spaces (``action_space``):
  ``onehot``: the features are ``S`` one-hot groups of ``choices`` columns (NAS-Bench-201: 6
    edges x 5 ops, edge-major); action ``d`` sets group ``d``'s choice (one edge's op).
  ``convnet_sequential`` / ``convnet_global``: the ConvNet space of Sec. 2 (a pool of
    :class:`~lanas_jax.spaces.convnet.ConvNet` architectures; features
    ``[present, wide, large]`` per layer slot, ``lanas_jax/spaces/convnet.py``).
    ``sequential``: for each layer slot, (add the layer or stop, set its kernel, set its
    channels), 15 binary actions; ``global``: set the depth (5 choices), then the 5 kernels,
    then the 5 channel counts. Slots past the depth take the single action 0 (a forced move).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from lanas_jax.archive import unseen_rows
from lanas_jax.domain import Domain
from lanas_jax.partition.ucb import ucb_scores
from lanas_jax.spaces.convnet import ConvNet
from lanas_jax.strategies.base import register
from lanas_jax.strategies.core import Strategy, draw

ACTION_SPACES = ("onehot", "convnet_sequential", "convnet_global")
_CONVNET_SLOTS = 5


@struct.dataclass
class MCTSParams:
    """Numbers a user may vmap over."""

    cp: float = 0.1  # UCT exploration constant, for a metric in [0, 1] (as LaNAS's Cp)


@struct.dataclass
class MCTSState:
    node_of: jax.Array  # [N, depth + 1] int32, the node ids of each pool row's action prefixes
    unproposed: jax.Array  # [M] int32, pool rows below each node neither evaluated nor pending
    visits: jax.Array  # [M] float32, UCT's n (tree nodes only)
    value_sum: jax.Array  # [M] float32, n * X̄
    expand_depth: jax.Array  # [N] int32, depth of the node expanded by the ask of each row


def radices(action_space: str, dim: int, choices: int) -> tuple[int, ...]:
    """Branching factor of each action level."""
    if action_space == "onehot":
        return (choices,) * (dim // choices)
    if action_space == "convnet_sequential":
        return (2,) * (3 * _CONVNET_SLOTS)
    return (_CONVNET_SLOTS,) + (2,) * (2 * _CONVNET_SLOTS)


def offsets(radix: tuple[int, ...]) -> tuple[int, ...]:
    """First node id of each level 0..depth, and the total node count last."""
    out, size, start = [0], 1, 0
    for b in radix:
        start += size
        size *= b
        out.append(start)
    return tuple(out) + (start + size,)


def actions_of(features: jax.Array, action_space: str, choices: int) -> jax.Array:
    """``[N, depth]`` int32: the action sequence that builds each table entry."""
    n, dim = features.shape
    if action_space == "onehot":
        return jnp.argmax(features.reshape(n, dim // choices, choices), -1).astype(jnp.int32)
    slots = features.reshape(n, _CONVNET_SLOTS, 3) > 0.5  # [present, wide, large]
    present = slots[..., 0]
    wide, large = slots[..., 1] & present, slots[..., 2] & present
    if action_space == "convnet_sequential":
        return jnp.stack([present, large, wide], -1).reshape(n, -1).astype(jnp.int32)
    depth = jnp.sum(present, -1, dtype=jnp.int32) - 1
    return jnp.concatenate([depth[:, None], large, wide], -1).astype(jnp.int32)


def node_ids(actions: jax.Array, radix: tuple[int, ...]) -> jax.Array:
    """``[N, depth + 1]`` node id of every prefix (the root, id 0, first)."""
    starts = offsets(radix)
    code = jnp.zeros(actions.shape[:1], jnp.int32)
    ids = [code]
    for d, b in enumerate(radix):
        code = code * b + actions[:, d]
        ids.append(starts[d + 1] + code)
    return jnp.stack(ids, -1)


@register("mcts")
@dataclasses.dataclass(frozen=True)
class MCTS(Strategy):
    """UCT over a fixed action space with random rollouts (see the module doc), on a pool
    domain (a table, or a small dense space enumerated as its own pool).

    Attributes:
      action_space: one of :data:`ACTION_SPACES`.
      choices: the width of one one-hot group (``onehot`` only; NAS-Bench-201: 5 ops).
    """

    action_space: str = "onehot"
    choices: int = 5

    def default_params(self) -> MCTSParams:
        return MCTSParams()

    def validate(self, domain: Domain, budget: int) -> None:
        if self.action_space not in ACTION_SPACES:
            raise ValueError(f"action_space must be one of {ACTION_SPACES}, "
                             f"got {self.action_space!r}")
        if not domain.is_pool:
            raise ValueError(
                f"mcts needs a pool domain (a table, or a dense space of at most a few "
                f"thousand architectures): its tree counts the unproposed architectures under "
                f"every node, and the {domain.space.name} space is not enumerated")
        feats = np.asarray(domain.features)
        n, dim = feats.shape
        if self.action_space == "onehot":
            if self.choices < 2 or dim % self.choices:
                raise ValueError(
                    f"action_space 'onehot' needs the {dim} features of the "
                    f"{domain.space.name} pool to be groups of choices={self.choices} columns"
                )
            groups = feats.reshape(n, -1, self.choices)
            if not (np.isin(groups, (0.0, 1.0)).all() and (groups.sum(-1) == 1).all()):
                raise ValueError(
                    f"action_space 'onehot': the {domain.space.name} pool's features are not "
                    f"one-hot groups of {self.choices} (one op per edge); use the space's own "
                    "action space"
                )
        elif not isinstance(domain.space, ConvNet):
            raise ValueError(f"action_space {self.action_space!r} needs a ConvNet table or the "
                             f"ConvNet space (lanas_jax.spaces.convnet); the "
                             f"{domain.space.name} pool is neither")
        size = offsets(radices(self.action_space, dim, self.choices))[-1]
        if size > 2_000_000:
            raise ValueError(f"the dense search tree would hold {size} nodes; at most 2,000,000")

    def _radix(self, domain: Domain) -> tuple[int, ...]:
        return radices(self.action_space, domain.features.shape[1], self.choices)

    def _init(self, key, domain, budget, params):
        radix = self._radix(domain)
        num_nodes = offsets(radix)[-1]
        node_of = node_ids(actions_of(domain.features, self.action_space, self.choices), radix)
        return MCTSState(
            node_of=node_of,
            unproposed=jnp.zeros((num_nodes,), jnp.int32).at[node_of.reshape(-1)].add(1),
            visits=jnp.zeros((num_nodes,), jnp.float32),
            value_sum=jnp.zeros((num_nodes,), jnp.float32),
            expand_depth=jnp.zeros((domain.size,), jnp.int32),
        )

    def _ask_one(self, key, state, domain, params):
        inner = state.inner
        radix = self._radix(domain)
        starts = offsets(radix)
        depth = len(radix)
        keys = jax.random.split(key, depth)
        node = jnp.zeros((), jnp.int32)
        code = jnp.zeros((), jnp.int32)
        rolling_out = jnp.zeros((), bool)
        expand_depth = jnp.asarray(depth, jnp.int32)
        for d, b in enumerate(radix):
            children = starts[d + 1] + code * b + jnp.arange(b)
            available = inner.unproposed[children] > 0
            n = inner.visits[children]
            u = ucb_scores(n, inner.value_sum[children], inner.visits[node], params.cp)
            u = jnp.where(available, u, -jnp.inf)
            best = available & (u >= jnp.max(u))
            candidates = jnp.where(rolling_out, available, best)
            noise = jax.random.uniform(keys[d], (b,))
            action = jnp.argmax(jnp.where(candidates, noise, -1.0)).astype(jnp.int32)
            expanded = ~rolling_out & (n[action] == 0)
            expand_depth = jnp.where(expanded, d + 1, expand_depth)
            rolling_out = rolling_out | expanded
            code = code * b + action
            node = starts[d + 1] + code
        leaf_rows = unseen_rows(state.archive) & (inner.node_of[:, depth] == node)
        row = draw(state.priority, leaf_rows)
        inner = inner.replace(
            unproposed=inner.unproposed.at[inner.node_of[row]].add(-1),
            expand_depth=inner.expand_depth.at[row].set(expand_depth),
        )
        return domain.arch(row), state.replace(inner=inner)

    def _tell(self, state, archs, values, domain, params):
        def one(inner, item):
            arch, value = item
            row, _ = domain.row(arch)
            path = inner.node_of[row]
            in_tree = (jnp.arange(path.shape[0]) <= inner.expand_depth[row]).astype(jnp.float32)
            return inner.replace(
                visits=inner.visits.at[path].add(in_tree),
                value_sum=inner.value_sum.at[path].add(in_tree * value.astype(jnp.float32)),
            ), None

        inner, _ = jax.lax.scan(one, state.inner, (archs, values))
        return state.replace(inner=inner)
