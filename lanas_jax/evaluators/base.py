"""The Evaluator protocol: what an architecture is worth.

An evaluator maps a batch of architectures of its space to an :class:`Evaluation`. Kinds:

* :class:`~lanas_jax.evaluators.table.TableEvaluator` looks them up in a table; it is a pytree
  and ``jittable``, so a tabular search runs inside one compiled ``lax.scan``;
* :class:`~lanas_jax.evaluators.train.TrainEvaluator` builds and trains them on a dataset, a
  supernet evaluator scores them with shared weights, a farm evaluator sends them to workers:
  those leave the device (``jittable = False``) and are driven by the host loop of
  :mod:`lanas_jax.runner`.

Every evaluator also gives the :class:`~lanas_jax.domain.Domain` a search over it may propose
from (a table's rows; the space itself for a training evaluator).
"""

from __future__ import annotations

from typing import Any

import jax
from flax import struct

from lanas_jax.domain import Domain


@struct.dataclass
class Evaluation:
    """Values of a batch of architectures (leading axis ``B``).

    Attributes:
      value: the search signal, higher is better (validation accuracy).
      test: the held-out metric reported for the incumbent (NaN where unknown).
      row: the table row of each architecture (``-1`` where none, e.g. a trained one).
    """

    value: jax.Array
    test: jax.Array
    row: jax.Array


class Evaluator:
    """Base of every evaluator."""

    #: Whether ``evaluate`` is a pure jittable function (may run inside ``lax.scan``).
    jittable: bool = False

    @property
    def domain(self) -> Domain:
        raise NotImplementedError

    def evaluate(self, archs: Any, key: jax.Array | None = None) -> Evaluation:
        raise NotImplementedError
