"""The supernet of each space, built from a training recipe's network options."""

from __future__ import annotations

from lanas_jax.supernet.convnet import ConvNetSupernet


def build_supernet(space, num_classes: int, recipe, *, bn: str = "batch"):
    """The weight-sharing supernet of ``space`` (``recipe.width`` for the ConvNet chain,
    ``recipe.channels`` / ``recipe.cells`` for cell spaces); ValueError for a space without
    one."""
    if space.name == "convnet":
        return ConvNetSupernet(num_classes=num_classes, width=recipe.width)
    raise ValueError(f"no supernet for the {space.name!r} space (have: convnet)")
