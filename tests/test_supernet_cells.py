"""Cell-space supernets (issue 14): with an architecture fixed, the supernet computes the
stand-alone network's function from the same weights, its path mask is exactly the set of
parameters that get gradient, and one compiled program serves every architecture."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lanas_jax.spaces import nb201
from lanas_jax.supernet.nb201 import Nb201Supernet

CELL = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|none~0|avg_pool_3x3~1|nor_conv_3x3~2|"
# every op a convolution where CELL's is not, and every selected convolution has a live input
OTHER = ("|nor_conv_1x1~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|"
         "avg_pool_3x3~2|")


def _images(seed=0):
    return jax.random.normal(jax.random.PRNGKey(seed), (4, 8, 8, 1))


def _flat(tree):
    return {tuple(str(getattr(k, "key", k)) for k in path): leaf
            for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


def _unflat_like(tree, flat):
    paths = [tuple(str(getattr(k, "key", k)) for k in p)
             for p, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]
    return jax.tree.unflatten(jax.tree.structure(tree), [flat[p] for p in paths])


def _static_to_supernet_names(path, ops):
    """The supernet's name of a stand-alone NB201 network's variable (same nesting, the cells'
    ``ReLUConvBN_k`` renamed to the edge and op they sit on)."""
    path = list(path)
    if path[0].startswith("Nb201Cell_"):
        path[0] = path[0].replace("Nb201Cell_", "MaskedCell_")
        convs = [(e, "conv1" if nb201.OPS[o] == "nor_conv_1x1" else "conv3")
                 for e, o in enumerate(ops) if nb201.OPS[o] in ("nor_conv_1x1", "nor_conv_3x3")]
        e, kind = convs[int(path[1].removeprefix("ReLUConvBN_"))]
        path[1] = f"edge{e}_{kind}"
    return tuple(path)


def _copy_static(supernet_tree, static_tree, ops):
    """``supernet_tree`` with the stand-alone network's values in place of the leaves the
    architecture uses (the others keep their own, random values); BN scales and biases, which
    the affine-free supernet lacks, are left out."""
    flat = _flat(supernet_tree)
    for path, leaf in _flat(static_tree).items():
        if path[-1] in ("scale", "bias") and "BatchNorm" in path[-2]:
            continue
        name = _static_to_supernet_names(path, ops)
        assert flat[name].shape == leaf.shape, name
        flat[name] = leaf
    return _unflat_like(supernet_tree, flat)


def _unit_affine(params):
    """The stand-alone network's params with every BatchNorm scale 1 and bias 0."""
    return _unflat_like(params, {
        p: (jnp.ones_like(v) if p[-1] == "scale" else jnp.zeros_like(v))
        if "BatchNorm" in p[-2] else v for p, v in _flat(params).items()})


def _random_like(shapes, seed):
    """Random values of the shapes of ``init``'s (running the inits costs tens of seconds on a
    CPU); positive vectors, so that BatchNorm variances are valid."""
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda s: jnp.asarray(0.5 + 0.5 * rng.random(s.shape), s.dtype)
                        if s.ndim == 1 else jnp.asarray(0.5 * rng.normal(size=s.shape), s.dtype),
                        shapes)


@pytest.fixture(scope="module")
def nb201_setup():
    supernet = Nb201Supernet(num_classes=10, channels=4, cells=1, bn="recalibrate")
    x = _images()
    variables = _random_like(jax.eval_shape(supernet.init, jax.random.PRNGKey(0), x), 0)
    return supernet, x, variables


@pytest.mark.parametrize("text", [CELL, OTHER])
def test_nb201_supernet_computes_the_stand_alone_network(nb201_setup, text):
    """Compared: the stand-alone Nb201Network with BN scale 1 / bias 0 and the supernet with the
    stand-alone's convolution and dense weights copied onto the arch's edges (the unselected
    edge convolutions keep other values); train mode (batch statistics) for both BN modes, and
    eval mode with the stand-alone's running statistics copied in for ``bn="recalibrate"``."""
    supernet, x, variables = nb201_setup
    space = nb201.NB201()
    arch = space.parse(text)
    ops = np.asarray(arch.ops)
    static = space.network(arch, 10, channels=4, cells=1)
    ref = _random_like(jax.eval_shape(static.init, jax.random.PRNGKey(1), x), 1)
    ref = {"params": _unit_affine(ref["params"]), "batch_stats": ref["batch_stats"]}
    params = _copy_static(variables["params"], ref["params"], ops)
    stats = _copy_static(variables["batch_stats"], ref["batch_stats"], ops)
    want_train, _ = static.apply(ref, x, train=True, mutable=["batch_stats"])
    for bn in ("batch", "recalibrate"):
        net = Nb201Supernet(num_classes=10, channels=4, cells=1, bn=bn)
        got, new_stats = net.apply({"params": params, "batch_stats": stats}, arch, x, train=True)
        np.testing.assert_allclose(got, want_train, atol=1e-5, rtol=1e-5)
        assert (new_stats is None) == (bn == "batch")
    got, same = supernet.apply({"params": params, "batch_stats": stats}, arch, x, train=False)
    np.testing.assert_allclose(got, static.apply(ref, x, train=False), atol=1e-5, rtol=1e-5)
    assert same is stats


def test_nb201_recalibrate_sets_running_stats_to_the_batch(nb201_setup):
    supernet, x, variables = nb201_setup
    arch = nb201.NB201().parse(CELL)
    logits, stats = supernet.apply(variables, arch, x, train=True)
    recal = {"params": variables["params"], "batch_stats": stats}
    # momentum 0: eval mode with the statistics of this very batch is the train-mode pass
    np.testing.assert_allclose(supernet.apply(recal, arch, x, train=False)[0], logits,
                               atol=1e-4, rtol=1e-4)


def test_nb201_path_mask_is_the_gradient_support(nb201_setup):
    _, x, variables = nb201_setup
    labels = jnp.arange(4) % 10

    def grads(supernet, params, arch):  # eager: compiling the gradient costs seconds on a CPU
        def loss(p):
            logits, _ = supernet.apply({**variables, "params": p}, arch, x, train=True)
            return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], 1))
        return jax.grad(loss)(params), supernet.path_mask(arch)

    for text, bn in ((CELL, "batch"), (OTHER, "recalibrate")):
        supernet = Nb201Supernet(num_classes=10, channels=4, cells=1, bn=bn)
        g, mask = grads(supernet, variables["params"], nb201.NB201().parse(text))
        nonzero = jax.tree.map(lambda a: bool(jnp.any(a != 0)), g)
        in_mask = jax.tree.map(lambda m: bool(m == 1.0), mask)
        assert jax.tree.all(jax.tree.map(lambda m: m in (0.0, 1.0), mask))
        assert nonzero == in_mask
        assert 0 < sum(jax.tree.leaves(in_mask)) < len(jax.tree.leaves(in_mask))


def test_nb201_supernet_compiles_once_for_every_arch(nb201_setup):
    supernet, x, variables = nb201_setup
    traces = []

    @jax.jit
    def logits(variables, arch):
        traces.append(1)
        return supernet.apply(variables, arch, x, train=False)[0]

    space = nb201.NB201()
    a, b = logits(variables, space.parse(CELL)), logits(variables, space.parse(OTHER))
    assert len(traces) == 1
    assert not np.allclose(a, b)


def test_nb201_supernet_variables_by_bn_mode():
    x = _images()
    for bn, collections in (("batch", {"params"}), ("recalibrate", {"params", "batch_stats"})):
        net = Nb201Supernet(num_classes=10, channels=4, cells=1, bn=bn)
        shapes = jax.eval_shape(net.init, jax.random.PRNGKey(0), x)
        assert set(shapes) == collections
        # affine-free BatchNorm: no scale or bias anywhere
        assert not any("BatchNorm" in "/".join(p) for p in _flat(shapes["params"]))
        # one 1x1 and one 3x3 convolution on each of a cell's 6 edges
        cell = _flat(shapes["params"]["MaskedCell_0"])
        assert sorted({p[0] for p in cell}) == sorted(
            f"edge{e}_conv{k}" for e in range(6) for k in (1, 3))


def test_nb201_supernet_refuses_bad_options():
    with pytest.raises(ValueError, match="unknown bn"):
        Nb201Supernet(num_classes=10, bn="affine")
    with pytest.raises(ValueError, match="must be >= 1"):
        Nb201Supernet(num_classes=0)
    with pytest.raises(ValueError, match="multiples of 4"):
        Nb201Supernet(num_classes=10, channels=4, cells=1).init(
            jax.random.PRNGKey(0), jnp.zeros((2, 6, 6, 1)))
