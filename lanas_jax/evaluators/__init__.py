"""Evaluators: what an architecture is worth (table lookup; training, supernet and farm
evaluators join them behind the same protocol)."""

from lanas_jax.evaluators.base import Evaluation, Evaluator
from lanas_jax.evaluators.table import TableEvaluator, from_benchmark

__all__ = ["Evaluation", "Evaluator", "TableEvaluator", "from_benchmark"]
