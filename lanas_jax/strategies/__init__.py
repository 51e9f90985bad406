"""Search strategies sharing the init/ask/tell protocol of :mod:`lanas_jax.strategies.base`.

``make(name, **config)`` builds any registered strategy (the LaNAS strategy lives in
:mod:`lanas_jax.partition`); ``registered()`` lists their names.
"""

from lanas_jax.strategies.base import make, registered
from lanas_jax.strategies.core import Strategy

__all__ = ["Strategy", "make", "registered"]
