"""A table is one way to evaluate a space: :class:`TableEvaluator` looks architectures up.

Built from any :class:`~lanas_jax.benchmarks.base.Benchmark` by :func:`from_benchmark`; its
domain is the table's rows (a pool), so a search over it proposes only what the table holds.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from lanas_jax.domain import Domain, RowSpace, pool_domain
from lanas_jax.evaluators.base import Evaluation, Evaluator


@struct.dataclass
class TableEvaluator(Evaluator):
    """Looks architectures up in a table held on device (jittable).

    Attributes:
      pool: the table's rows as a pool :class:`~lanas_jax.domain.Domain`.
      metric / test_metric: ``[N]`` float32 per row (test NaN where the table has none).
      name, has_test, metric_name, test_metric_name: static metadata.
    """

    pool: Domain
    metric: jax.Array
    test_metric: jax.Array
    name: str = struct.field(pytree_node=False, default="table")
    has_test: bool = struct.field(pytree_node=False, default=False)
    metric_name: str = struct.field(pytree_node=False, default="metric")
    test_metric_name: str = struct.field(pytree_node=False, default="test_metric")

    jittable = True

    @property
    def domain(self) -> Domain:
        return self.pool

    @property
    def size(self) -> int:
        return int(self.metric.shape[0])

    @property
    def optimum(self) -> float:
        return float(np.max(np.asarray(self.metric)))

    def evaluate(self, archs: Any, key: jax.Array | None = None) -> Evaluation:
        """Values of a batch of architectures; NaN (row ``-1``) for one the table lacks."""
        rows, found = jax.vmap(self.pool.row)(archs)
        return Evaluation(
            value=jnp.where(found, self.metric[rows], jnp.nan),
            test=jnp.where(found, self.test_metric[rows], jnp.nan),
            row=jnp.where(found, rows, -1),
        )

    def describe(self, arch) -> str:
        return self.pool.space.describe(jax.tree.map(np.asarray, arch))


def from_benchmark(bench) -> TableEvaluator:
    """The evaluator of a tabular benchmark; its rows become a pool domain.

    A table whose metadata names its architecture space (NAS-Bench-201, NAS-Bench-101, the
    ConvNet tables) is a pool of that space's architectures; a plain table (a user's ``.npz``)
    is a pool of :class:`~lanas_jax.domain.RowSpace` rows that mutate through its
    ``neighbors``.
    """
    space, archs = _space_and_archs(bench)
    pool = pool_domain(space, archs, bench.features, bench.neighbors)
    return TableEvaluator(
        pool=pool,
        metric=bench.metric,
        test_metric=bench.test_metric,
        name=bench.name,
        has_test=bench.has_test,
        metric_name=bench.metric_name,
        test_metric_name=bench.test_metric_name,
    )


def _space_and_archs(bench):
    """The architecture space a table's metadata names, and its rows as architectures."""
    from lanas_jax.domain import RowArch
    from lanas_jax.spaces import convnet, nb201
    from lanas_jax.spaces.nb101 import Nb101Space, matrices
    from lanas_jax.spaces.nb101.space import NB101, Nb101Arch

    meta = bench.space
    if isinstance(meta, nb201.Nb201Space):
        return nb201.NB201(), nb201.Nb201Arch(jnp.asarray(meta.ops, jnp.int32))
    if isinstance(meta, convnet.ConvNetSpace):
        codes = np.asarray(meta.codes, np.int32)
        depth = (codes >= 0).sum(1).astype(np.int32)
        return convnet.ConvNet(), convnet.ConvNetArch(
            depth=jnp.asarray(depth), choice=jnp.asarray(np.maximum(codes, 0)))
    if isinstance(meta, Nb101Space):
        n = len(meta)
        bits = np.frombuffer(meta.bits_bytes, np.uint8).reshape(n, -1)
        labels = np.frombuffer(meta.labels_bytes, np.int8).reshape(n, -1)
        return NB101(), Nb101Arch(jnp.asarray(matrices(bits), jnp.int32),
                                  jnp.asarray(labels, jnp.int32))
    n = bench.size
    return (RowSpace(num_rows=n, table=bench.name),
            RowArch(jnp.arange(n, dtype=jnp.int32)))
