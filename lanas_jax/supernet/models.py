"""The supernet of each space, built from a training recipe's network options."""

from __future__ import annotations

from lanas_jax.supernet.convnet import ConvNetSupernet
from lanas_jax.supernet.nasnet import NasnetSupernet
from lanas_jax.supernet.nb201 import Nb201Supernet


def build_supernet(space, num_classes: int, recipe, *, bn: str = "batch"):
    """The weight-sharing supernet of ``space``: ``recipe.width`` for the ConvNet chain,
    ``recipe.channels`` / ``recipe.cells`` (None: the space's benchmark sizes) for the cell
    spaces; ValueError for a space without one."""
    if space.name == "convnet":
        return ConvNetSupernet(num_classes=num_classes, width=recipe.width)
    sizes = {k: v for k, v in (("channels", recipe.channels), ("cells", recipe.cells))
             if v is not None}
    if space.name == "nb201":
        return Nb201Supernet(num_classes=num_classes, bn=bn, space=space, **sizes)
    if space.name == "nasnet":
        return NasnetSupernet(num_classes=num_classes, bn=bn, space=space, **sizes)
    raise ValueError(f"no supernet for the {space.name!r} space (have: convnet, nb201, nasnet)")
