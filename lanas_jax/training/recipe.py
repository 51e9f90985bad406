"""Training recipes: how a :class:`~lanas_jax.evaluators.train.TrainEvaluator` trains a network.

A :class:`Recipe` is frozen and hashable (a static argument of the compiled trainers). It fixes
the optimiser (optax), the schedule, the seeds whose accuracies are averaged, the augmentation and
the network options of the cell spaces. Named recipes (:data:`RECIPES`, :func:`get_recipe`) let a
binary or a table record *which* recipe produced its numbers.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import optax

OPTIMIZERS = ("adam", "sgd", "momentum")
SCHEDULES = ("constant", "cosine")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """One training recipe.

    Attributes:
      epochs, batch_size: passes over the training split and the minibatch size (the last
        partial batch of an epoch is dropped; each epoch draws a fresh permutation).
      optimizer: ``adam`` (``adamw`` when ``weight_decay`` > 0), ``sgd`` or ``momentum``
        (SGD with Nesterov momentum 0.9; decoupled ``weight_decay`` added to the gradient).
      learning_rate: the peak rate; ``schedule`` keeps it (``constant``) or anneals it to 0
        over all steps (``cosine``, optax's ``cosine_decay_schedule``).
      weight_decay: L2 decay coefficient (0 = none).
      seeds: training seeds; a network's accuracy is the mean over them (per-seed values are
        reported too). Seed ``s`` trains with ``fold_in(arch_key, s)``.
      augment_pad: random-crop padding in pixels (0 = no crop); ``augment_flip``: random
        horizontal flips. Both are for natural images, not digits.
      channels, cells: cell-space network options (NB201's C and N per stage, NASNet's filters
        and cells per stage, NB101's stem channels and cells per stack); None = the space's
        default (the paper's, far too large for a CPU).
      width: the ConvNet space's wide channel count (narrow = ``width // 2``; 64 = the paper's
        32/64 choices).
      eval_batch: images per forward pass when computing accuracies (bounds memory).
    """

    epochs: int = 1
    batch_size: int = 64
    optimizer: str = "adam"
    learning_rate: float = 3e-3
    schedule: str = "constant"
    weight_decay: float = 0.0
    seeds: tuple[int, ...] = (0,)
    augment_pad: int = 0
    augment_flip: bool = False
    channels: int | None = None
    cells: int | None = None
    width: int = 64
    eval_batch: int = 128

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1 or self.eval_batch < 1:
            raise ValueError(f"recipe: epochs, batch_size and eval_batch must be >= 1, got "
                             f"{self.epochs}, {self.batch_size}, {self.eval_batch}")
        if not self.learning_rate > 0 or self.weight_decay < 0:
            raise ValueError(f"recipe: learning_rate must be > 0 and weight_decay >= 0, got "
                             f"{self.learning_rate}, {self.weight_decay}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"recipe: unknown optimizer {self.optimizer!r}; known: "
                             f"{', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"recipe: unknown schedule {self.schedule!r}; known: "
                             f"{', '.join(SCHEDULES)}")
        seeds = tuple(int(s) for s in self.seeds)
        if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
            raise ValueError(f"recipe: seeds must be distinct non-negative ints, got {self.seeds}")
        object.__setattr__(self, "seeds", seeds)  # a list would make the recipe unhashable
        if self.augment_pad < 0 or self.width < 2 or self.width % 2:
            raise ValueError(f"recipe: augment_pad must be >= 0 and width an even number >= 2, "
                             f"got {self.augment_pad}, {self.width}")
        for name in ("channels", "cells"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"recipe: {name} must be >= 1 or None, got {value}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (``seeds`` as a list); ``Recipe(**r.to_dict())`` rebuilds it."""
        d = dataclasses.asdict(self)
        d["seeds"] = list(self.seeds)
        return d

    def steps_per_epoch(self, n_train: int) -> int:
        """Minibatches per epoch on ``n_train`` images; raises when not even one fits."""
        if n_train < self.batch_size:
            raise ValueError(f"batch_size {self.batch_size} exceeds the {n_train} training "
                             f"images")
        return n_train // self.batch_size

    def optax_optimizer(self, n_train: int) -> optax.GradientTransformation:
        """The optimiser with its schedule; a constant rate is passed as a float, so a recipe
        without schedule or decay is exactly ``optax.adam(lr)`` (the old table's optimiser)."""
        lr: Any = self.learning_rate
        if self.schedule == "cosine":
            lr = optax.cosine_decay_schedule(self.learning_rate,
                                             self.epochs * self.steps_per_epoch(n_train))
        if self.optimizer == "adam":
            if self.weight_decay:
                return optax.adamw(lr, weight_decay=self.weight_decay)
            return optax.adam(lr)
        momentum = 0.9 if self.optimizer == "momentum" else None
        sgd = optax.sgd(lr, momentum=momentum, nesterov=momentum is not None)
        if self.weight_decay:
            return optax.chain(optax.add_decayed_weights(self.weight_decay), sgd)
        return sgd


#: Named recipes. ``convnet_digits_4ep`` is exactly ``experiments/build_convnet_table.py``'s
#: defaults, which built the embedded ``convnet1364_digits`` table (digits, n_val = n_test = 350,
#: split seed 0, master seed 0).
RECIPES: dict[str, Recipe] = {
    "convnet_digits_4ep": Recipe(epochs=4, batch_size=64, optimizer="adam", learning_rate=3e-3,
                                 seeds=(0, 1)),
    "tiny": Recipe(epochs=1, batch_size=16, learning_rate=1e-2, seeds=(0,), channels=4, cells=1,
                   width=8, eval_batch=64),
    "digits_small": Recipe(epochs=8, batch_size=64, learning_rate=3e-3, schedule="cosine",
                           seeds=(0, 1), channels=8, cells=1),
    # The rebuild recipe of the ConvNet table (issue 13 item 3, BUILD_NOTES 2026-11-30): width
    # 16/8, 40 epochs, cosine; two seeds averaged agree with another two at Kendall 0.62 inside
    # depth 5 (0.40 for one seed; convnet_digits_4ep: 0.0 on 6 depth-5 networks here).
    "convnet_w16_40ep": Recipe(epochs=40, batch_size=64, learning_rate=3e-3, schedule="cosine",
                               seeds=(0, 1), width=16),
    # The ConvNet-chain supernet on digits (issue 14): the convnet1364 table's width and
    # optimiser; a supernet trains one path per step, so more epochs than one network.
    "supernet_convnet_digits": Recipe(epochs=60, batch_size=64, learning_rate=3e-3,
                                      schedule="cosine", seeds=(0,), width=16),
    # NB201 cells on digits, the stand-alone ground truth of a supernet's ranking (issue 14
    # item 5). Chosen on a probe of 64 uniform cells x 2 seeds on an H200 (jax 0.11.2):
    # between-seed Kendall C=8 N=1 10 ep 0.33, 20 ep 0.40; C=16 N=1 20 ep 0.41; C=8 N=2 20 ep
    # 0.59 at 0.26 s a network and seed (vmapped, plus ~70 s compile). The second cell per stage
    # matters, channels do not; none reached the 0.6 target, this one came nearest.
    "nb201_digits": Recipe(epochs=20, batch_size=64, learning_rate=3e-3, schedule="cosine",
                           seeds=(0, 1), channels=8, cells=2),
    # The NB201 supernet on digits: the nb201_digits network (C=8, N=2) and optimiser.
    "supernet_nb201_digits": Recipe(epochs=30, batch_size=64, learning_rate=3e-3,
                                    schedule="cosine", seeds=(0,), channels=8, cells=2),
    "mnist_small": Recipe(epochs=4, batch_size=128, learning_rate=2e-3, schedule="cosine",
                          weight_decay=1e-4, seeds=(0, 1), channels=16, cells=2),
}


def get_recipe(name: str) -> Recipe:
    """The named recipe; an unknown name raises :class:`ValueError` listing the known ones."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; known: {', '.join(sorted(RECIPES))}")
    return RECIPES[name]
