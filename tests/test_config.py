"""lanas_jax.config: flags generated from a frozen dataclass, parsed back, and a config written
as JSON one way."""

from __future__ import annotations

import dataclasses
import json
from typing import Literal

import jax.numpy as jnp
import numpy as np
import pytest
from absl import flags

from lanas_jax import config
from lanas_jax.config import ConfigFlags, FlagSpec


@dataclasses.dataclass(frozen=True)
class Inner:
    """Attributes:
      width: hidden units.
    """

    width: int = 8


@dataclasses.dataclass(frozen=True)
class Toy:
    """A toy strategy config.

    Attributes:
      height: levels of the tree.
      rate, decay: the optimiser's step size and
        its decay per step.
      mode: how leaves are drawn.
      vae_*: VAE settings.
    """

    height: int = 5
    rate: float = 1e-3
    decay: float = 0.5
    mode: Literal["table", "walk"] = "table"
    rule: str = dataclasses.field(default="first",
                                  metadata={"choices": ("first", "skip"), "help": "empty rule."})
    name: str = "toy"
    on: bool = True
    hidden: tuple[int, ...] = (64, 64)
    limit: int | None = None
    vae_tries: int = 4
    inner: Inner = Inner(width=16)


def _parse(cls, prefix, argv, **kwargs):
    fv = flags.FlagValues()
    names = config.define_flags(cls, prefix, fv, **kwargs)
    fv(["prog", *argv])
    return fv, names


def test_round_trip_of_defaults_and_given_values():
    fv, names = _parse(Toy, "toy_", [])
    assert config.from_flags(Toy, "toy_", fv) == Toy()
    assert names["inner.width"] == "toy_inner_width" and fv["toy_inner_width"].value == 16
    fv(["prog", "--toy_height=3", "--toy_rate=0.5", "--toy_mode=walk", "--toy_rule=skip",
        "--notoy_on", "--toy_hidden=1,2,3", "--toy_limit=7", "--toy_inner_width=4"])
    got = config.from_flags(Toy, "toy_", fv)
    assert got == Toy(height=3, rate=0.5, mode="walk", rule="skip", on=False, hidden=(1, 2, 3),
                      limit=7, inner=Inner(width=4))
    assert isinstance(got.hidden, tuple)


@pytest.mark.parametrize("flag, choices", [("toy_mode", "table|walk"), ("toy_rule", "first|skip")])
def test_enum_flags_refuse_unknown_values_naming_the_choices(flag, choices):
    fv = flags.FlagValues()
    config.define_flags(Toy, "toy_", fv)
    with pytest.raises(flags.IllegalFlagValueError, match=choices):
        fv(["prog", f"--{flag}=bogus"])


def test_flagspec_choices_make_a_plain_str_field_an_enum():
    fv = flags.FlagValues()
    config.define_flags(Toy, "toy_", fv, overrides={"name": FlagSpec(choices=("toy", "big"))})
    assert fv["toy_name"].parser.enum_values == ["toy", "big"]
    with pytest.raises(flags.IllegalFlagValueError, match="toy|big"):
        fv(["prog", "--toy_name=small"])


def test_help_text_comes_from_the_docstring_metadata_or_override():
    fv, _ = _parse(Toy, "toy_", [], overrides={"height": FlagSpec(help="Tree height.")})
    assert fv["toy_height"].help == "Tree height."
    assert fv["toy_rate"].help == "the optimiser's step size and its decay per step."
    assert fv["toy_decay"].help == fv["toy_rate"].help  # one entry naming two fields
    assert fv["toy_mode"].help.endswith(": how leaves are drawn.")  # absl adds the choices
    assert fv["toy_vae_tries"].help == "VAE settings."  # a pattern entry
    assert fv["toy_rule"].help.endswith(": empty rule.")  # field metadata
    assert fv["toy_inner_width"].help == "hidden units."  # the nested class's docstring
    assert fv["toy_name"].help == "Toy.name."  # undocumented: still says what it is


def test_rename_keeps_an_existing_flag_name():
    fv, names = _parse(Toy, "toy_", ["--toy_levels=2", "--mode=walk"],
                       rename={"height": "toy_levels", "mode": "mode"})
    assert names["height"] == "toy_levels" and "toy_height" not in fv and "toy_mode" not in fv
    got = config.from_flags(Toy, "toy_", fv, rename={"height": "toy_levels", "mode": "mode"})
    assert got.height == 2 and got.mode == "walk"
    with pytest.raises(ValueError, match="heigth"):
        config.define_flags(Toy, "toy_", flags.FlagValues(), rename={"heigth": "x"})


def test_excluded_fields_get_no_flag_and_keep_their_default():
    fv, names = _parse(Toy, "toy_", [], exclude=("vae_*", "inner.width"))
    assert "toy_vae_tries" not in fv and "toy_inner_width" not in fv
    assert "vae_tries" not in names
    assert config.from_flags(Toy, "toy_", fv, exclude=("vae_*", "inner.width")) == Toy()


def test_identical_second_definition_is_reused_and_a_conflicting_one_refused():
    fv = flags.FlagValues()
    first = config.define_flags(Toy, "toy_", fv)
    assert config.define_flags(Toy, "toy_", fv) == first  # two binaries, one config

    @dataclasses.dataclass(frozen=True)
    class Other:
        height: int = 6  # same flag name, another default

    with pytest.raises(ValueError, match=r"--toy_height for Other.height .*default '6'.* "
                                         r"conflicts .*default '5'"):
        config.define_flags(Other, "toy_", fv)

    @dataclasses.dataclass(frozen=True)
    class Moded:
        mode: Literal["table", "tree"] = "table"  # same default, other choices

    with pytest.raises(ValueError, match="one of"):
        config.define_flags(Moded, "toy_", fv)


def test_list_flag_items_of_the_wrong_type_are_refused_naming_the_flag():
    fv, _ = _parse(Toy, "toy_", ["--toy_hidden=64,wide"])
    with pytest.raises(ValueError, match="--toy_hidden must be a comma-separated list of int"):
        config.from_flags(Toy, "toy_", fv)


def test_binary_defaults_apply_only_to_flags_not_given():
    fv, _ = _parse(Toy, "toy_", ["--toy_rate=0.25"])
    got = config.from_flags(Toy, "toy_", fv, defaults={"height": 9, "rate": 0.75})
    assert got.height == 9 and got.rate == 0.25  # the command line wins
    with pytest.raises(ValueError, match="hieght"):
        config.from_flags(Toy, "toy_", fv, defaults={"hieght": 9})


def test_unsupported_field_types_and_undefined_flags_are_clear_errors():
    @dataclasses.dataclass(frozen=True)
    class Bad:
        table: dict = dataclasses.field(default_factory=dict)

    with pytest.raises(TypeError, match="Bad.table: no flag type"):
        config.define_flags(Bad, "bad_", flags.FlagValues())
    with pytest.raises(ValueError, match="--toy_height .* is not defined"):
        config.from_flags(Toy, "toy_", flags.FlagValues())


def test_config_flags_binds_the_arguments_once():
    spec = ConfigFlags(Toy, "toy_", rename={"height": "levels"}, exclude=("inner.*",))
    fv = flags.FlagValues()
    spec.define(fv)
    fv(["prog", "--levels=4"])
    assert spec.flag_name("height") == "levels" and spec.flag_name("rate") == "toy_rate"
    assert spec.parse(fv) == Toy(height=4)


def test_config_dict_is_json_safe_and_nested():
    @dataclasses.dataclass(frozen=True)
    class Params:
        cp: object = np.float32(0.5)
        steps: object = dataclasses.field(default_factory=lambda: jnp.int32(3))
        table: object = dataclasses.field(default_factory=lambda: jnp.arange(3))

    record = {"toy": Toy(hidden=(1, 2)), "params": Params()}
    out = config.config_dict(record)
    assert json.loads(json.dumps(out)) == out
    assert out["toy"]["inner"] == {"width": 16} and out["toy"]["hidden"] == [1, 2]
    assert out["params"] == {"cp": 0.5, "steps": 3, "table": [0, 1, 2]}
    assert type(out["params"]["steps"]) is int
    with pytest.raises(TypeError, match="cannot write a object"):
        config.config_dict(object())
