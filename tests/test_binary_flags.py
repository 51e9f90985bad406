"""The binaries' flags: several binaries import into one process and keep their own defaults;
every strategy's generated flags default to its config class's defaults."""

from __future__ import annotations

import importlib

import pytest
from absl import flags

from experiments import algos, common_flags

BINARIES = ("search", "fig5", "build_convnet_table", "vaenas_table4", "fig4", "fig6", "fig7a",
            "sec2", "l2nas_table", "l2nas_transfer")


@pytest.fixture
def parsed():
    """Parse the global flags with ``argv`` (every binary imported first); unparse after."""
    mods = {name: importlib.import_module(f"experiments.{name}") for name in BINARIES}

    def parse(*argv):
        flags.FLAGS.unparse_flags()
        flags.FLAGS(["prog", *argv])
        return mods

    yield parse
    flags.FLAGS.unparse_flags()


def test_binaries_import_together_and_keep_their_own_defaults(parsed):
    mods = parsed()
    assert mods["search"]._SEEDS.value == 100 and mods["build_convnet_table"]._SEEDS.value == 2
    assert mods["search"]._BUDGET.value == 3000 and mods["fig6"]._BUDGET.value == 0
    assert mods["build_convnet_table"]._POOL.value == 1
    assert mods["vaenas_table4"]._POOL.value == 6000
    assert mods["fig5"]._OUTPUT_DIR.value == "results/fig5"
    mods = parsed("--seeds=7", "--output_dir=/tmp/x")
    assert mods["search"]._SEEDS.value == mods["build_convnet_table"]._SEEDS.value == 7
    assert mods["fig5"]._OUTPUT_DIR.value == mods["sec2"]._OUTPUT_DIR.value == "/tmp/x"


def test_fig4_lanas_defaults_do_not_leak_into_other_binaries(parsed):
    mods = parsed()
    lanas, _ = algos.build("lanas")  # what search builds
    fig4_lanas, _ = algos.build("lanas", mods["fig4"].LANAS_DEFAULTS)
    assert (lanas.num_init, lanas.num_selects) == (10, 20)
    assert (fig4_lanas.num_init, fig4_lanas.num_selects) == (200, 100)
    parsed("--lanas_init=30")
    assert algos.build("lanas", mods["fig4"].LANAS_DEFAULTS)[0].num_init == 30


@pytest.mark.parametrize("name", algos.names())
def test_flag_defaults_are_the_config_defaults(parsed, name):
    parsed()
    strategy, params = algos.build(name)
    assert strategy == type(strategy)(**algos.preset(name))  # a variant's preset on top
    assert params == strategy.default_params()


def test_flags_reach_the_config_fields(parsed):
    parsed("--lanas_height=3", "--leaf_sampler=nuts", "--lanas_cp=0.5", "--l2nas_hidden=8,4",
           "--vaenas_iters=7", "--evolution_tournament=3", "--bo_keep=best")
    lanas, lanas_params = algos.build("lanas")
    assert (lanas.tree_height, lanas.leaf_sampler, lanas_params.cp) == (3, "nuts", 0.5)
    assert algos.build("l2nas")[0].hidden == (8, 4)
    assert algos.build("vaenas")[0].n_iters == 7
    assert algos.build("evolution")[0].tournament_size == 3
    assert algos.build("bo")[0].keep == "best"


@pytest.mark.parametrize("argv, message", [
    (["--l2nas_tau=1.5"], "--l2nas_tau must be in"),
    (["--l2nas_hidden=8,wide"], "--l2nas_hidden must be a comma-separated list of int"),
    (["--reinforce_ema=1"], "--reinforce_ema must be in"),
])
def test_bad_strategy_flags_are_refused_naming_the_flag(parsed, argv, message):
    parsed(*argv)
    name = argv[0][2:].split("_")[0]
    with pytest.raises(ValueError, match=message):
        algos.build(name)


def test_build_refuses_defaults_that_are_not_fields(parsed):
    parsed()
    with pytest.raises(ValueError, match="not fields"):
        algos.build("lanas", {"num_inits": 3})


def test_shared_flag_of_another_type_is_refused():
    fv = flags.FlagValues()
    first = common_flags.DEFINE_integer("epochs", 4, "Epochs.", flag_values=fv)
    again = common_flags.DEFINE_integer("epochs", 9, "Other help.", flag_values=fv)
    with pytest.raises(ValueError, match="--epochs: .* as string, but .* already did as int"):
        common_flags.DEFINE_string("epochs", "108", "Budgets.", flag_values=fv)
    fv(["prog"])
    assert (first.value, again.value) == (4, 9)
