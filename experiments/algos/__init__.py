"""Per-strategy absl flags for the experiment binaries, generated from the configs' fields.

Each module here registers its strategy with :func:`register`: the strategy's frozen config
class and its params class, as :class:`lanas_jax.config.ConfigFlags` (a prefix, the renames
that keep the flag names users already type, the choices of the string fields, the fields
without a flag). A binary imports this package (which imports every module, so every flag
exists) and calls :func:`build`. Adding a strategy to the binaries = one module + one line in
``_MODULES``.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

from lanas_jax.config import ConfigFlags

_BUILDERS: dict[str, Callable[[Mapping[str, Any]], tuple[Any, Any]]] = {}
_PRESETS: dict[str, dict[str, Any]] = {}

_MODULES = (
    "experiments.algos.lanas",
    "experiments.algos.random_search",
    "experiments.algos.evolution",
    "experiments.algos.l2nas",
    "experiments.algos.reinforce",
    "experiments.algos.predictor",
    "experiments.algos.bo",
    "experiments.algos.mcts",
    "experiments.algos.lamcts",
    "experiments.algos.vaenas",
)


def register(
    name: str,
    strategy: ConfigFlags,
    params: ConfigFlags | None = None,
    check: Callable[[Any, Any], None] | None = None,
    make: Callable[[Any], Any] | None = None,
    preset: Mapping[str, Any] | None = None,
) -> None:
    """Define the flags of ``strategy`` (and ``params``) and register the builder ``name``.

    ``check(strategy, params)`` raises ValueError for flag values the strategy itself would
    only refuse late (inside a compiled search). ``make(config)`` turns a flat config into
    the strategy (LaNAS's flags name the parts it composes). ``preset`` (field name -> value)
    names a variant sharing another name's flags: its values replace the flag defaults (a
    binary's own ``defaults`` and the command line still win), e.g. ``lanas_tailfree``.
    """
    module = sys._getframe(1).f_globals.get("__name__", "__main__")
    module = sys.argv[0] if module == "__main__" else module  # where absl lists it
    strategy.define(module_name=module)
    if params is not None:
        params.define(module_name=module)

    def build(defaults: Mapping[str, Any], flat: bool = False) -> tuple[Any, Any]:
        defaults = {**(preset or {}), **defaults}
        own = {f.name for f in dataclasses.fields(strategy.cls)}
        unknown = set(defaults) - own - (
            {f.name for f in dataclasses.fields(params.cls)} if params else set())
        if unknown:
            raise ValueError(f"{name}: {sorted(unknown)} are not fields of its config")
        s = strategy.parse(defaults={k: v for k, v in defaults.items() if k in own})
        if make is not None and not flat:
            s = make(s)
        p = (params.parse(defaults={k: v for k, v in defaults.items() if k not in own})
             if params is not None else s.default_params())
        if check is not None:
            check(s, p)
        return s, p

    _BUILDERS[name] = build
    _PRESETS[name] = dict(preset or {})


def preset(name: str) -> dict[str, Any]:
    """The field values the variant ``name`` sets over its flags' defaults (``{}``: none)."""
    return dict(_PRESETS[name])


def names() -> list[str]:
    """The strategies the binaries can build, sorted."""
    return sorted(_BUILDERS)


def build(name: str, defaults: Mapping[str, Any] | None = None,
          flat: bool = False) -> tuple[Any, Any]:
    """The strategy ``name`` and its params, configured from the parsed flags.

    ``defaults`` (field name -> value, of the strategy or of its params) replaces the flag
    defaults of this one binary for flags not given on the command line. ``flat`` returns a
    strategy's flat config (one field per flag) instead of building it (LaNAS: a
    ``LaNASConfig``, whose ``build()`` composes the strategy), for binaries that vary fields.

    Raises:
      ValueError: for an unknown name (the message lists the known ones) or flag values the
        strategy refuses.
    """
    if name not in _BUILDERS:
        raise ValueError(f"unknown strategy {name!r}; known: {', '.join(names())}")
    return _BUILDERS[name](defaults or {}, flat)


for _module in _MODULES:
    importlib.import_module(_module)
