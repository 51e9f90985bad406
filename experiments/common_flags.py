"""Flag definitions that several binaries may share in one process.

Many binaries define ``--seeds``, ``--seed``, ``--budget``, ``--benchmark``, ``--output_dir``
..., each with its own default and help. absl refuses a second definition of a name, so two
binaries could not be imported together (a test driving both in one process, a notebook).
``common_flags.DEFINE_*`` defines the flag once (the first binary imported supplies the help
text) and returns a holder whose ``.value`` is the command line's value when it was given and
*this binary's* default otherwise, so every binary keeps its defaults whichever was imported
first. A second definition of a different type or enum choices is a ValueError naming both.

Run as ``python -m experiments.X``, the binary itself defines its flags first, so ``--helpfull``
shows its own defaults and help.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from absl import flags


class BinaryFlag:
    """A binary's view of a possibly shared flag (the ``FlagHolder`` API binaries use)."""

    def __init__(self, flag_values: flags.FlagValues, name: str, default: Any):
        self._flag_values = flag_values
        self.name = name
        self.default = default

    @property
    def present(self) -> bool:
        """Whether the flag was given on the command line."""
        return bool(self._flag_values[self.name].present)

    @property
    def value(self) -> Any:
        """The given value, or this binary's default."""
        if not self._flag_values.is_parsed():
            raise flags.UnparsedFlagAccessError(f"--{self.name} read before flags were parsed")
        flag = self._flag_values[self.name]
        return self.default if flag.using_default_value else flag.value


def _define(define: Callable, name: str, default: Any, help: str, flag_values, **kwargs
            ) -> BinaryFlag:
    module = sys._getframe(2).f_globals.get("__name__", "__main__")
    module = sys.argv[0] if module == "__main__" else module  # where absl lists it
    if name not in flag_values:
        define(name, default, help, flag_values=flag_values, module_name=module, **kwargs)
        return BinaryFlag(flag_values, name, flag_values[name].default)
    scratch = flags.FlagValues()
    define(name, default, help, flag_values=scratch, **kwargs)
    old, new = flag_values[name], scratch[name]
    old_choices = getattr(old.parser, "enum_values", None)
    new_choices = getattr(new.parser, "enum_values", None)
    if old.flag_type() != new.flag_type() or old_choices != new_choices:
        first = flag_values.find_module_defining_flag(name) or "?"
        raise ValueError(f"--{name}: {module} defines it as {new.flag_type()}"
                         f"{'' if new_choices is None else f' of {new_choices}'}, but {first} "
                         f"already did as {old.flag_type()}"
                         f"{'' if old_choices is None else f' of {old_choices}'}; the two "
                         "binaries cannot be imported together")
    return BinaryFlag(flag_values, name, new.default)


def DEFINE_string(name: str, default: str | None, help: str,  # noqa: N802 (absl's names)
                  flag_values: flags.FlagValues = flags.FLAGS) -> BinaryFlag:
    return _define(flags.DEFINE_string, name, default, help, flag_values)


def DEFINE_integer(name: str, default: int | None, help: str,  # noqa: N802
                   flag_values: flags.FlagValues = flags.FLAGS) -> BinaryFlag:
    return _define(flags.DEFINE_integer, name, default, help, flag_values)


def DEFINE_float(name: str, default: float | None, help: str,  # noqa: N802
                 flag_values: flags.FlagValues = flags.FLAGS) -> BinaryFlag:
    return _define(flags.DEFINE_float, name, default, help, flag_values)


def DEFINE_bool(name: str, default: bool | None, help: str,  # noqa: N802
                flag_values: flags.FlagValues = flags.FLAGS) -> BinaryFlag:
    return _define(flags.DEFINE_bool, name, default, help, flag_values)


def DEFINE_list(name: str, default: list[str] | None, help: str,  # noqa: N802
                flag_values: flags.FlagValues = flags.FLAGS) -> BinaryFlag:
    return _define(flags.DEFINE_list, name, default, help, flag_values)


def DEFINE_enum(name: str, default: str | None, enum_values: list[str], help: str,  # noqa: N802
                flag_values: flags.FlagValues = flags.FLAGS) -> BinaryFlag:
    def define(name, default, help, **kwargs):
        return flags.DEFINE_enum(name, default, enum_values, help, **kwargs)

    return _define(define, name, default, help, flag_values)


def DEFINE_multi_string(name: str, default: list[str] | None, help: str,  # noqa: N802
                        flag_values: flags.FlagValues = flags.FLAGS) -> BinaryFlag:
    return _define(flags.DEFINE_multi_string, name, default, help, flag_values)
