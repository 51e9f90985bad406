"""Bridges to other tools: :mod:`lanas_jax.integrations.tune` (a Ray Tune searcher).

Each submodule imports its tool on import; ``import lanas_jax.integrations`` imports none.
"""
