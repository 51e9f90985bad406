"""The per-space training programs: NB201's masked network computes the static network's
function and counts its parameters; NASNet / NB101 train statically (tiny options)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lanas_jax.spaces import nb201
from lanas_jax.spaces.base import get_space
from lanas_jax.training.masked_nb201 import MaskedNb201
from lanas_jax.training.models import network_options, trainer_for
from lanas_jax.training.recipe import Recipe
from lanas_jax.training.static import FlaxModel

TINY = Recipe(channels=4, cells=1)
CELL = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|"


def _count(tree) -> int:
    return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(tree))


def _static_count(space, arch, shape, recipe=TINY) -> int:
    net = space.network(arch, 10, **network_options(space.name, recipe))
    x = jax.ShapeDtypeStruct((1,) + shape, jnp.float32)
    return _count(jax.eval_shape(lambda x: net.init(jax.random.PRNGKey(0), x), x)["params"])


def test_nb201_masked_count_is_the_selected_ops_count():
    space = nb201.NB201()
    trainer = trainer_for(space, (8, 8, 1), 10, TINY)
    counts = set()
    for text in (CELL, "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                 "|nor_conv_1x1~0|+|nor_conv_1x1~0|nor_conv_1x1~1|+|nor_conv_1x1~0|"
                 "nor_conv_1x1~1|nor_conv_1x1~2|"):
        arch = space.parse(text)
        got = trainer.param_count(arch)
        assert got == _static_count(space, arch, (8, 8, 1))
        counts.add(got)
    assert len(counts) == 3
    # one cell per stage, C = 4: CELL has two 3x3 and one 1x1 ReLUConvBN per cell; a 3x3 one
    # at width w has 9 w^2 + 2 w parameters, a 1x1 one w^2 + 2 w.
    none = trainer.param_count(space.parse("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"))
    per_cell = sum(2 * (9 * w * w + 2 * w) + (w * w + 2 * w) for w in (4, 8, 16))
    assert trainer.param_count(space.parse(CELL)) - none == per_cell


def _to_masked(static_params, ops):
    """The static network's parameters under the masked network's names."""
    out = {}
    for name, sub in static_params.items():
        if not name.startswith("Nb201Cell_"):
            out[name] = sub
            continue
        cell, k = {}, 0
        # static modules are numbered in node-then-edge order, which is the order of EDGES
        for e, op in enumerate(ops):
            if nb201.OPS[op] in ("nor_conv_1x1", "nor_conv_3x3"):
                kind = "conv1" if nb201.OPS[op] == "nor_conv_1x1" else "conv3"
                cell[f"edge{e}_{kind}"] = sub[f"ReLUConvBN_{k}"]
                k += 1
        out[name.replace("Nb201Cell_", "MaskedCell_")] = cell
    return out


def test_nb201_masked_network_computes_the_static_network():
    space = nb201.NB201()
    arch = space.parse(CELL)
    static = space.network(arch, 10, channels=4, cells=1)
    masked = MaskedNb201.build((8, 8, 1), 10, channels=4, cells=1)
    x = jax.random.normal(jax.random.PRNGKey(0), (6, 8, 8, 1))
    # random values in place of running the inits (op by op, they cost seconds on a CPU)
    ref = _random_like(jax.eval_shape(static.init, jax.random.PRNGKey(1), x), 1)
    params, state = _random_like(jax.eval_shape(masked.init, jax.random.PRNGKey(2), arch, x), 2)
    # unselected convolutions keep their own values: they must not reach the output
    params = _merge(params, _to_masked(ref["params"], np.asarray(arch.ops)))
    stats = {"batch_stats": _merge(state["batch_stats"],
                                   _to_masked(ref["batch_stats"], np.asarray(arch.ops)))}
    for train in (False, True):
        want = static.apply(ref, x, train=train, mutable=["batch_stats"] if train else False)
        got = masked.apply(params, stats, arch, x, train, jax.random.PRNGKey(3))[0]
        want = want[0] if train else want
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def _random_like(shapes, seed):
    rng = np.random.default_rng(seed)
    # variances must stay positive for BatchNorm's running statistics
    return jax.tree.map(lambda s: jnp.asarray(0.5 + 0.5 * rng.random(s.shape), s.dtype)
                        if s.ndim == 1 else jnp.asarray(0.5 * rng.normal(size=s.shape), s.dtype),
                        shapes)


def _merge(base, new):
    if isinstance(base, dict):
        return {k: _merge(base[k], new[k]) if k in new else base[k] for k in base}
    return new


@pytest.mark.parametrize("name", ["nasnet", "nb101"])
def test_static_spaces_count_their_flax_network(name):
    space = get_space(name)
    trainer = trainer_for(space, (8, 8, 3), 10, TINY)
    assert not trainer.masked
    a, b = (space.sample(jax.random.PRNGKey(k)) for k in (0, 1))
    assert trainer.group(a) != trainer.group(b)  # each architecture is its own program
    assert isinstance(trainer.model(trainer.group(a)), FlaxModel)
    for arch in (a, b):
        assert trainer.param_count(arch) == _static_count(space, arch, (8, 8, 3)) > 0


def test_nb201_refuses_images_it_cannot_halve_twice():
    with pytest.raises(ValueError, match="multiples of 4"):
        trainer_for(nb201.NB201(), (6, 6, 1), 10, TINY)


def test_masked_mlp_computes_the_flax_mlp():
    from lanas_jax.spaces.mlp import MLPStack
    from lanas_jax.training.masked_mlp import MaskedMLP

    space = MLPStack(max_layers=4)
    arch = space.parse("(16, tanh), dropout, (8, sigmoid), (16, elu)")  # sigmoid(0) != 0
    net = space.network(arch, 10)
    x = jax.random.normal(jax.random.PRNGKey(0), (5, 4, 4, 1))
    ref = _random_like(jax.eval_shape(net.init, jax.random.PRNGKey(1), x), 1)["params"]
    model = MaskedMLP(4, 16, 10, max_width=16)
    params, _ = _random_like(jax.eval_shape(model.init, jax.random.PRNGKey(2), arch, x), 2)
    # the true layers in the top-left corners; the dropout slot's weights stay random (unused)
    dense = [0, 2, 3]
    for k, slot in enumerate(dense):
        w = ref[f"Dense_{k}"]["kernel"]
        params["layers"][slot]["w"] = params["layers"][slot]["w"].at[: w.shape[0], : w.shape[1]] \
            .set(w)
        params["layers"][slot]["b"] = params["layers"][slot]["b"].at[: w.shape[1]].set(
            ref[f"Dense_{k}"]["bias"])
    # masked units are zero, so the rows below the true fan-in must not matter: keep them random
    params["head"] = {"w": params["head"]["w"].at[:16].set(ref["Dense_3"]["kernel"]),
                      "b": ref["Dense_3"]["bias"]}
    got = model.apply(params, {}, arch, x, False, jax.random.PRNGKey(3))[0]
    np.testing.assert_allclose(got, net.apply({"params": ref}, x), rtol=1e-5, atol=1e-5)
    assert model.param_count(arch) == _count(ref) == 16 * 16 + 16 + 16 * 8 + 8 + 8 * 16 + 16 + 170

