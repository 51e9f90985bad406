"""A strategy's configuration is a frozen dataclass: its absl flags are generated from the
fields, and it is written to results one way (:func:`config_dict`).

Issue 12 item 5: the binaries used to forward 21 LaNAS fields from hand-written flags, and
wrote a configuration three different ways. Here a field ``f`` of type ``bool`` / ``int`` /
``float`` / ``str`` / ``tuple[int | float | str, ...]`` (optionally ``| None``) becomes the flag
``prefix + f``; a ``str`` field with a fixed set of values becomes an enum flag (the values from
``dataclasses.field(metadata={"choices": ...})``, a ``typing.Literal`` annotation or a
:class:`FlagSpec`); a nested dataclass's fields become ``prefix + f + "_" + g``. The help text is
the field's entry in the class docstring's ``Attributes:`` section (or ``metadata["help"]``).
``rename`` keeps a flag name a user already types (LaNAS's ``--lanas_height`` for
``tree_height``).

    names = define_flags(LaNAS, "lanas_", rename={"tree_height": "lanas_height"})
    ...  # absl parses the command line
    strategy = from_flags(LaNAS, "lanas_", rename={"tree_height": "lanas_height"})

Defining the same flags twice in one ``FlagValues`` (two binaries imported together) reuses the
existing definitions when they have the same type, default and choices, and raises a
ValueError naming both definitions otherwise.
"""

from __future__ import annotations

import dataclasses
import enum
import fnmatch
import re
import sys
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from absl import flags

_MISSING = dataclasses.MISSING
_UNSET: Any = type("Unset", (), {"__repr__": lambda self: "<unset>"})()  # FlagSpec.default
_SCALARS = (bool, int, float, str)


@dataclasses.dataclass(frozen=True)
class FlagSpec:
    """How one field's flag departs from what the field itself implies.

    Attributes:
      help: the flag's help text (default: the docstring's or the field metadata's).
      choices: the accepted values of a ``str`` field (makes the flag an enum).
      default: the flag's default when it differs from the field's.
    """

    help: str | None = None
    choices: Sequence[str] | None = None
    default: Any = _UNSET


@dataclasses.dataclass(frozen=True)
class _Leaf:
    path: str  # dotted field path, "sizes.embed"
    flag: str  # the flag's name
    kind: type  # bool, int, float, str, or tuple (a list flag)
    item: type | None  # element type of a list flag
    optional: bool
    default: Any
    choices: tuple[str, ...] | None
    help: str


def define_flags(
    cls: type,
    prefix: str,
    flag_values: flags.FlagValues = flags.FLAGS,
    *,
    rename: Mapping[str, str] | None = None,
    overrides: Mapping[str, FlagSpec] | None = None,
    exclude: Iterable[str] = (),
    module_name: str | None = None,
) -> dict[str, str]:
    """Define one absl flag per field of the dataclass ``cls``; returns ``{field path: flag}``.

    Args:
      cls: a dataclass (frozen or a flax struct); nested dataclass fields are flattened.
      prefix: prepended to every field name to make the flag name.
      flag_values: where the flags go (absl's global ``FLAGS`` by default).
      rename: field path -> full flag name, for names that do not follow ``prefix + field``.
      overrides: field path -> :class:`FlagSpec` (help, choices or default of the flag).
      exclude: field paths (or fnmatch patterns) that get no flag; they keep the field's
        default in :func:`from_flags`.
      module_name: the module the flags are listed under in ``--helpfull`` (default: the
        caller's).

    Raises:
      TypeError: a field type without a flag type.
      ValueError: a name in ``rename`` / ``overrides`` that is not a field, or a flag of the
        same name already defined differently.
    """
    module_name = module_name or _caller_module(2)
    leaves = _leaves(cls, prefix, rename or {}, overrides or {}, tuple(exclude))
    for leaf in leaves:
        _define(leaf, flag_values, module_name, cls)
    return {leaf.path: leaf.flag for leaf in leaves}


def from_flags(
    cls: type,
    prefix: str,
    flag_values: flags.FlagValues = flags.FLAGS,
    *,
    rename: Mapping[str, str] | None = None,
    exclude: Iterable[str] = (),
    defaults: Mapping[str, Any] | None = None,
) -> Any:
    """An instance of ``cls`` from the parsed flags :func:`define_flags` defined (same
    ``prefix`` / ``rename`` / ``exclude``); excluded fields keep their defaults.

    ``defaults`` (field path -> value) replaces the flag's default for a flag not given on the
    command line: a binary's own setting (Fig. 4 runs LaNAS with 200 initial samples) without
    changing the flag other binaries in the process share.

    Raises:
      ValueError: a flag that was never defined, a list flag whose items do not convert to the
        field's element type, a required field left unset, or a ``defaults`` key that is not a
        field.
    """
    defaults = dict(defaults or {})
    _check_names(cls, defaults, "defaults")
    values = {}
    for leaf in _leaves(cls, prefix, rename or {}, {}, tuple(exclude)):
        if leaf.flag not in flag_values:
            raise ValueError(f"--{leaf.flag} ({cls.__name__}.{leaf.path}) is not defined; call "
                             f"define_flags({cls.__name__}, {prefix!r}, ...) first")
        flag = flag_values[leaf.flag]
        if leaf.path in defaults and flag.using_default_value:
            values[leaf.path] = defaults.pop(leaf.path)
        else:
            defaults.pop(leaf.path, None)
            values[leaf.path] = _convert(leaf, flag.value)
    values.update(defaults)  # excluded fields the caller set
    return _build(cls, values, "")


@dataclasses.dataclass(frozen=True)
class ConfigFlags:
    """One config class's flags: :func:`define_flags` and :func:`from_flags` with the same
    arguments, so a binary states the prefix, renames and exclusions once."""

    cls: type
    prefix: str
    rename: Mapping[str, str] = dataclasses.field(default_factory=dict)
    overrides: Mapping[str, FlagSpec] = dataclasses.field(default_factory=dict)
    exclude: tuple[str, ...] = ()

    def flag_name(self, path: str) -> str:
        """The flag of the field ``path`` (``"sizes.embed"`` for a nested one)."""
        return self.rename.get(path, self.prefix + path.replace(".", "_"))

    def define(self, flag_values: flags.FlagValues = flags.FLAGS,
               module_name: str | None = None) -> dict[str, str]:
        """Define the flags (see :func:`define_flags`); returns ``{field path: flag}``."""
        module_name = module_name or _caller_module(2)
        return define_flags(self.cls, self.prefix, flag_values, rename=self.rename,
                            overrides=self.overrides, exclude=self.exclude,
                            module_name=module_name)

    def parse(self, flag_values: flags.FlagValues = flags.FLAGS,
              defaults: Mapping[str, Any] | None = None) -> Any:
        """The config from the parsed flags (see :func:`from_flags`)."""
        return from_flags(self.cls, self.prefix, flag_values, rename=self.rename,
                          exclude=self.exclude, defaults=defaults)


def config_dict(obj: Any) -> Any:
    """``obj`` (a dataclass, possibly nested, or a container of them) as JSON-safe values:
    dataclasses -> dicts of their fields, tuples -> lists, numpy / jax scalars -> Python
    numbers, small arrays -> lists, enums -> their values. The one form a configuration is
    written to results in."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: config_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return config_dict(obj.value)
    if obj is None or type(obj) in (bool, int, float, str):
        return obj
    if isinstance(obj, Mapping):
        return {str(k): config_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [config_dict(v) for v in obj]
    if isinstance(obj, np.generic) or hasattr(obj, "__array__"):
        arr = np.asarray(obj)
        return arr.item() if arr.ndim == 0 else arr.tolist()
    raise TypeError(f"config_dict: cannot write a {type(obj).__name__} ({obj!r}) as JSON")


def _caller_module(depth: int) -> str:
    """The name absl lists a flag under in ``--helpfull``: the defining module's, and for the
    program's own module (``__main__``) ``sys.argv[0]``, as absl's DEFINE_* do."""
    name = sys._getframe(depth).f_globals.get("__name__", "__main__")
    return sys.argv[0] if name == "__main__" else name


def _leaves(cls, prefix, rename, overrides, exclude, path="", base=None) -> list[_Leaf]:
    """The flags of ``cls``'s fields; ``base``: the default instance of a nested config."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    fields = dataclasses.fields(cls)
    if not path:
        _check_names(cls, rename, "rename")
        _check_names(cls, overrides, "overrides")
    hints = typing.get_type_hints(cls, include_extras=True)
    docs = attribute_docs(cls)
    out = []
    for f in fields:
        full = path + f.name
        if any(fnmatch.fnmatchcase(full, pattern) for pattern in exclude):
            continue
        if f.metadata.get("flag") is False:  # e.g. a strategy's batch_size: set by the caller
            continue
        tp, optional = _unwrap_optional(hints[f.name])
        default = getattr(base, f.name) if base is not None else _field_default(f)
        if dataclasses.is_dataclass(tp):
            out += _leaves(tp, f"{prefix}{f.name}_", rename, overrides, exclude, full + ".",
                           default)
            continue
        spec = overrides.get(full, FlagSpec())
        kind, item, literal = _flag_type(cls, f.name, tp)
        choices = spec.choices or f.metadata.get("choices") or literal
        if choices is not None and kind is not str:
            raise TypeError(f"{cls.__name__}.{f.name}: choices need a str field, not {tp}")
        default = spec.default if spec.default is not _UNSET else default
        help_text = spec.help or f.metadata.get("help") or docs.get(f.name) or (
            f"{cls.__name__}.{full}.")
        out.append(_Leaf(full, rename.get(full, prefix + f.name), kind, item, optional,
                         default, tuple(choices) if choices is not None else None, help_text))
    return out


def _check_names(cls, mapping, what) -> None:
    known = set(_all_paths(cls))
    bad = sorted(set(mapping) - known)
    if bad:
        raise ValueError(f"{what}: {bad} are not fields of {cls.__name__} "
                         f"(fields: {', '.join(sorted(known))})")


def _all_paths(cls, path=""):
    hints = typing.get_type_hints(cls, include_extras=True)
    for f in dataclasses.fields(cls):
        tp, _ = _unwrap_optional(hints[f.name])
        if dataclasses.is_dataclass(tp):
            yield from _all_paths(tp, path + f.name + ".")
        else:
            yield path + f.name


def _unwrap_optional(tp) -> tuple[Any, bool]:
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return rest[0], True
    return tp, False


def _flag_type(cls, name, tp) -> tuple[type, type | None, tuple[str, ...] | None]:
    """(flag kind, list item type, Literal choices) of a field type, or a TypeError."""
    if typing.get_origin(tp) is typing.Literal:
        values = typing.get_args(tp)
        if all(isinstance(v, str) for v in values):
            return str, None, tuple(values)
    elif tp in _SCALARS:
        return tp, None, None
    elif typing.get_origin(tp) is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis and args[0] in (int, float, str):
            return tuple, args[0], None
    raise TypeError(f"{cls.__name__}.{name}: no flag type for {tp!r} (supported: bool, int, "
                    "float, str, Literal[str, ...], tuple[int|float|str, ...], X | None, "
                    "nested dataclasses)")


def _field_default(f: dataclasses.Field) -> Any:
    if f.default is not _MISSING:
        return f.default
    if f.default_factory is not _MISSING:
        return f.default_factory()
    return None  # a required field: from_flags refuses it unless the flag is given


def _define(leaf: _Leaf, flag_values, module_name, cls) -> None:
    default = leaf.default
    if leaf.kind is tuple and default is not None:
        default = [str(v) for v in default]
    kwargs = dict(flag_values=flag_values, module_name=module_name)
    if leaf.choices is not None:
        if default is not None and default not in leaf.choices:
            raise ValueError(f"{cls.__name__}.{leaf.path}: default {default!r} is not one of "
                             f"its choices {list(leaf.choices)}")
        make = lambda: flags.DEFINE_enum(leaf.flag, default, list(leaf.choices), leaf.help,  # noqa: E731
                                         **kwargs)
    else:
        define = {bool: flags.DEFINE_bool, int: flags.DEFINE_integer,
                  float: flags.DEFINE_float, str: flags.DEFINE_string,
                  tuple: flags.DEFINE_list}[leaf.kind]
        make = lambda: define(leaf.flag, default, leaf.help, **kwargs)  # noqa: E731
    if leaf.flag not in flag_values:
        make()
        return
    # Already defined (a second binary, or this config twice): reuse it if it is the same.
    scratch = flags.FlagValues()
    kwargs["flag_values"] = scratch
    make()
    old, new = flag_values[leaf.flag], scratch[leaf.flag]
    same = (old.flag_type() == new.flag_type() and old.default == new.default
            and _choices(old) == _choices(new))
    if not same:
        where = flag_values.find_module_defining_flag(leaf.flag) or "?"
        raise ValueError(
            f"--{leaf.flag} for {cls.__name__}.{leaf.path} ({new.flag_type()}, default "
            f"{new.default_as_str}{_choice_text(new)}) conflicts with its definition in "
            f"{where} ({old.flag_type()}, default {old.default_as_str}{_choice_text(old)})")


def _choices(flag) -> tuple[str, ...] | None:
    values = getattr(flag.parser, "enum_values", None)
    return tuple(values) if values is not None else None


def _choice_text(flag) -> str:
    values = _choices(flag)
    return "" if values is None else f", one of {list(values)}"


def _convert(leaf: _Leaf, value) -> Any:
    if value is None:
        if leaf.optional:
            return None
        raise ValueError(f"--{leaf.flag} is required (its field has no default)")
    if leaf.kind is not tuple:
        return value
    try:
        return tuple(leaf.item(v) for v in value)
    except ValueError:
        raise ValueError(f"--{leaf.flag} must be a comma-separated list of "
                         f"{leaf.item.__name__}, got {','.join(map(str, value))}") from None


def _build(cls, values: dict, path: str) -> Any:
    hints = typing.get_type_hints(cls, include_extras=True)
    kwargs = {}
    for f in dataclasses.fields(cls):
        full = path + f.name
        tp, _ = _unwrap_optional(hints[f.name])
        if dataclasses.is_dataclass(tp):
            if any(p.startswith(full + ".") for p in values):
                kwargs[f.name] = _build(tp, values, full + ".")
        elif full in values:
            kwargs[f.name] = values[full]
    return cls(**kwargs)


_ENTRY = re.compile(r"^(\s*)([A-Za-z_*][\w*]*(?:\s*,\s*[A-Za-z_*][\w*]*)*)\s*:\s*(.*)$")
_ROLE = re.compile(r":\w+:`~?(?:[\w.]*\.)?([\w]+)`")


def attribute_docs(cls: type) -> dict[str, str]:
    """``{field: text}`` from the ``Attributes:`` sections of ``cls``'s docstring and its
    bases' (Google style; one entry may name several fields, ``a, b: text``, or a pattern,
    ``vae_*: text``); reST markup is dropped."""
    fields = [f.name for f in dataclasses.fields(cls)] if dataclasses.is_dataclass(cls) else []
    out: dict[str, str] = {}
    for klass in cls.__mro__:
        for names, text in _doc_entries(klass.__doc__ or ""):
            for name in names:
                for f in fnmatch.filter(fields, name) if "*" in name else [name]:
                    out.setdefault(f, text)
    return out


def _doc_entries(doc: str) -> list[tuple[list[str], str]]:
    lines = doc.expandtabs().splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Attributes:")
    except StopIteration:
        return []
    entries, indent = [], None
    for line in lines[start + 1:]:
        if not line.strip():
            if entries:
                break
            continue
        depth = len(line) - len(line.lstrip())
        match = _ENTRY.match(line)
        if indent is None:
            indent = depth
        if depth < indent:
            break
        if depth == indent and match:
            entries.append(([n.strip() for n in match.group(2).split(",")], [match.group(3)]))
        elif entries:
            entries[-1][1].append(line.strip())
    return [(names, _plain(" ".join(parts))) for names, parts in entries]


def _plain(text: str) -> str:
    text = _ROLE.sub(r"\1", text)
    return text.replace("``", "")
