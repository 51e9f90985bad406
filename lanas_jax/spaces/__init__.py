"""Architecture spaces (one module each) behind the :class:`~lanas_jax.spaces.base.Space`
protocol; ``get_space(name)`` builds one (``nb201``, ``nb101``, ``convnet``, ``nasnet``,
``mlp``)."""

from lanas_jax.spaces.base import Space, SpaceSize, get_space, space_names

__all__ = ["Space", "SpaceSize", "get_space", "space_names"]
