"""Which compiled program trains an architecture of each space.

:func:`trainer_for` gives a :class:`SpaceTrainer`: ``group(arch)`` is a hashable key such that
architectures with equal keys train in one compiled program (``model(group)``), and
``param_count(arch)`` is the *true* network's parameter count (never the masked one's).

* ``convnet`` (masked, :mod:`lanas_jax.training.convnet`): one program per depth (5 at most);
* ``mlp`` (masked, :mod:`lanas_jax.training.masked_mlp`): one per widest layer (7 at most), so
  small networks do not pay for 512-wide matmuls;
* ``nb201`` (masked, :mod:`lanas_jax.training.masked_nb201`): one program for the whole space;
* ``nasnet``, ``nb101`` and any other space with a flax ``network``: **static** — each
  architecture is its own program (``space.network(arch)``, compiled separately), because a
  masked form of their cell DAGs (variable inputs per node, NB101's channel splits by in-degree)
  would cost far more than it saves at their sizes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Hashable
from typing import Any

from lanas_jax.spaces import convnet as convnet_space
from lanas_jax.spaces.base import Space
from lanas_jax.training import convnet as convnet_training
from lanas_jax.training import masked_mlp
from lanas_jax.training.masked_nb201 import MaskedNb201
from lanas_jax.training.recipe import Recipe
from lanas_jax.training.static import FlaxModel, count_params

#: Spaces trained masked (a batch of one group = one program); the rest train statically.
MASKED_SPACES = ("convnet", "mlp", "nb201")
# Recipe.channels / Recipe.cells under each cell space's own option names.
_OPTION_NAMES = {
    "nb201": ("channels", "cells"),
    "nasnet": ("channels", "cells_per_stage"),
    "nb101": ("stem_channels", "cells_per_stack"),
}


def network_options(space_name: str, recipe: Recipe) -> dict[str, int]:
    """The recipe's ``channels`` / ``cells`` as keyword options of ``space.network``."""
    names = _OPTION_NAMES.get(space_name)
    if names is None:
        return {}
    return {n: v for n, v in zip(names, (recipe.channels, recipe.cells), strict=True)
            if v is not None}


@dataclasses.dataclass(frozen=True)
class SpaceTrainer:
    """Groups, models and parameter counts of one space for one input shape and recipe."""

    space: Space
    image_shape: tuple[int, ...]
    num_classes: int
    recipe: Recipe

    @property
    def masked(self) -> bool:
        return self.space.name in MASKED_SPACES

    def group(self, arch: Any) -> Hashable:
        """The compiled program ``arch`` (one host architecture) trains in."""
        name = self.space.name
        if name == "convnet":
            return len(convnet_space.layers_of(arch))  # raises for an invalid architecture
        if name == "mlp":
            return masked_mlp.max_width(arch)
        if name == "nb201":
            self.space.describe(arch)  # raises for op ids outside the space
            return "nb201"
        return self.space.network(arch, self.num_classes,
                                  **network_options(name, self.recipe))

    def model(self, group: Hashable):
        name = self.space.name
        if name == "convnet":
            return convnet_training.MaskedConvNet(group, self.image_shape[-1], self.num_classes,
                                                  self.recipe.width)
        if name == "mlp":
            return masked_mlp.MaskedMLP(self.space.max_layers, math.prod(self.image_shape),
                                        self.num_classes, max_width=group)
        if name == "nb201":
            return MaskedNb201.build(self.image_shape, self.num_classes,
                                     **network_options(name, self.recipe))
        return FlaxModel(group)

    def param_count(self, arch: Any) -> int:
        """Parameters of the true network of ``arch`` (one host architecture)."""
        if self.masked:
            return self.model(self.group(arch)).param_count(arch)
        return count_params(self.group(arch), self.image_shape)


def check_images(space: Space, image_shape: tuple[int, ...]) -> None:
    """Raise a ValueError when ``space``'s networks cannot take images of ``image_shape``."""
    if space.name == "mlp":
        if not image_shape:
            raise ValueError("the mlp space needs inputs with at least one feature axis")
        return
    if len(image_shape) != 3:
        raise ValueError(f"the {space.name} space trains on images [N, H, W, C]; got inputs "
                         f"of per-example shape {image_shape}")
    if space.name == "nb201" and (image_shape[0] % 4 or image_shape[1] % 4):
        raise ValueError(f"NB201 networks halve the resolution twice: image height and width "
                         f"must be multiples of 4, got {image_shape[:2]}")
    if space.name not in MASKED_SPACES and not hasattr(space, "network"):
        raise ValueError(f"the {space.name} space has no network to train")


def trainer_for(space: Space, image_shape: tuple[int, ...], num_classes: int,
                recipe: Recipe) -> SpaceTrainer:
    """The :class:`SpaceTrainer` of ``space`` on images of ``image_shape`` (checked)."""
    check_images(space, tuple(image_shape))
    if num_classes < 2:
        raise ValueError(f"training needs at least 2 classes, got {num_classes}")
    return SpaceTrainer(space, tuple(int(d) for d in image_shape), num_classes, recipe)
