"""Cell-space supernets (issue 14): with an architecture fixed, the supernet computes the
stand-alone network's function from the same weights, its path mask is exactly the set of
parameters that get gradient, and one compiled program serves every architecture."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lanas_jax.spaces import nasnet, nb201
from lanas_jax.supernet.nasnet import NasnetSupernet, SupernetCell, cell_layout
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

    # bn="recalibrate" has the same params (affine-free BN) and the same train-mode function
    supernet = Nb201Supernet(num_classes=10, channels=4, cells=1, bn="batch")
    for text in (CELL, OTHER):
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


# -- NASNet -----------------------------------------------------------------------------------
NASNET_CELL = ("b0: sep_conv_3x3(c_{k-2}) + identity(c_{k-1}) | "
               "b1: conv_1x1(b0) + max_pool_3x3(c_{k-1}) | "
               "b2: sep_conv_5x5(b0) + identity(b1) | "
               "b3: identity(c_{k-2}) + sep_conv_7x7(b1) | "
               "b4: max_pool_5x5(b2) + conv_1x1(c_{k-1})")  # loose: b3, b4
NASNET_OPTIONS = dict(channels=4, cells=1, stages=2, sep_repeats=1)  # normal, reduction, normal


def _nasnet_renames(supernet, cells):
    """Per cell position ``k``: the stand-alone NASNetCell_k's module names -> the supernet's,
    in the order the stand-alone cell creates its modules."""
    counts = {}

    def name(cls):
        counts[cls] = counts.get(cls, -1) + 1
        return f"{cls}_{counts[cls]}"

    out = []
    for _, reduction, reduce_prev in cell_layout(supernet.module):
        counts.clear()
        ren = {name("_FactorizedReduce" if reduce_prev else "_ReLUConvBN"): "pre0",
               name("_ReLUConvBN"): "pre1"}
        for b, block in enumerate(cells):
            for br, (inp, op) in enumerate(block):
                op = nasnet.OPS[op]
                stride2 = reduction and inp < 2
                cls = {"conv_1x1": "_ReLUConvBN", "identity": "_FactorizedReduce" if stride2
                       else None}.get(op, "_SepConv" if op.startswith("sep") else None)
                if cls:
                    ren[name(cls)] = f"b{b}_{br}_{op}" + ("_s2" if stride2 else "")
        out.append(ren)
    return out


def _nasnet_copy(supernet_tree, static_tree, renames, rows):
    """The stand-alone values in place of the supernet leaves the arch uses; a kernel reading a
    cell's output goes into the rows of that cell's loose blocks (``rows[k]``, or all rows of
    the stem's output for ``k < 0``)."""
    flat = _flat(supernet_tree)
    n = len(renames)
    for path, leaf in _flat(static_tree).items():
        if path[-1] in ("scale", "bias") and "BatchNorm" in path[-2]:
            continue
        source = None
        if path[0].startswith("NASNetCell_"):
            k = int(path[0].removeprefix("NASNetCell_"))
            path = (f"cell{k}", renames[k][path[1]]) + path[2:]
            if path[1] in ("pre0", "pre1") and path[-1] == "kernel":
                source = k - 2 if path[1] == "pre0" else k - 1
        elif path[0] == "Dense_0":
            path = ("head",) + path[1:]
            source = n - 1 if path[-1] == "kernel" else None
        elif path[0] == "Conv_0":
            path = ("stem",) + path[1:]
        if source is not None and source >= 0:
            leaf = flat[path].at[..., rows[source], :].set(leaf)
        assert flat[path].shape == leaf.shape, path
        flat[path] = leaf
    return _unflat_like(supernet_tree, flat)


def _nasnet_parity_variables(net, static, arch, x):
    """(supernet variables with the stand-alone's copied in, the stand-alone's variables with BN
    scale 1 / bias 0)."""
    variables = _random_like(jax.eval_shape(net.init, jax.random.PRNGKey(0), x), 0)
    ref = _random_like(jax.eval_shape(static.init, jax.random.PRNGKey(1), x), 1)
    ref = {"params": _unit_affine(ref["params"]), "batch_stats": ref["batch_stats"]}
    cells = np.asarray(arch.cells)
    renames = _nasnet_renames(net, cells)
    read = set(cells[:, :, 0].ravel())
    blocks = [b for b in range(cells.shape[0]) if b + 2 not in read]
    rows = [np.concatenate([np.arange(b * c, (b + 1) * c) for b in blocks])
            for c, _, _ in cell_layout(net.module)]
    return {key: _nasnet_copy(variables[key], ref[key], renames, rows)
            for key in variables}, ref


def _close(got, want):
    # logits reach ~10 here: 1e-5 relative to the largest (float32 sums in another order)
    np.testing.assert_allclose(got, want, atol=1e-5 * np.abs(want).max(), rtol=1e-5)


def test_nasnet_supernet_computes_the_stand_alone_network():
    """Compared as for NB201: the stand-alone NASNetNetwork with BN scale 1 / bias 0 and the
    supernet (``op_select="onehot"``, eager) with its weights copied onto the chosen ops and the
    loose blocks' rows of the kernels that read a cell's output; train mode for both BN modes
    and eval mode with copied running statistics for ``bn="recalibrate"``."""
    space = nasnet.NASNet()
    x = _images()
    for text in (NASNET_CELL,):
        arch = space.parse(text)
        static = space.network(arch, 10, channels=4, cells_per_stage=1, stages=2, sep_repeats=1)
        for bn in ("batch", "recalibrate"):
            net = NasnetSupernet(num_classes=10, bn=bn, op_select="onehot", **NASNET_OPTIONS)
            v, ref = _nasnet_parity_variables(net, static, arch, x)
            got, stats = net.apply(v, arch, x, train=True)
            _close(got, static.apply(ref, x, train=True, mutable=["batch_stats"])[0])
            assert (stats is None) == (bn == "batch")
            if bn == "recalibrate":
                _close(net.apply(v, arch, x, train=False)[0], static.apply(ref, x, train=False))


# a 2-block cell keeps the eager lax.switch and the gradient cheap on a CPU
SMALL = nasnet.NASNet(num_blocks=2)
SMALL_CELL = "b0: sep_conv_3x3(c_{k-2}) + identity(c_{k-1}) | b1: conv_1x1(b0) + max_pool_3x3(b0)"


def test_nasnet_switch_and_onehot_agree():
    """One reduction cell (branches reading cell inputs at stride 2 and blocks at stride 1):
    the same output in train mode; the switch updates only the chosen ops' running statistics,
    the one-hot every op's, and eval mode (which reads only the chosen ops') agrees after."""
    h = _images()
    cells = SMALL.parse(SMALL_CELL).cells
    switch, onehot = (SupernetCell(2, 4, True, False, 1, "recalibrate", s)
                      for s in ("switch", "onehot"))
    init = functools.partial(onehot.init, train=False)
    v = _random_like(jax.eval_shape(init, jax.random.PRNGKey(0), h, h, cells), 0)
    (out_s, new_s), (out_o, new_o) = (m.apply(v, h, h, cells, True, mutable=["batch_stats"])
                                      for m in (switch, onehot))
    _close(out_s, out_o)
    moved = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), new_s["batch_stats"],
                         v["batch_stats"])
    assert not moved["b0_0_conv_1x1_s2"]["BatchNorm_0"]["mean"]  # not chosen
    assert moved["b0_0_sep_conv_3x3_s2"]["BatchNorm_0"]["mean"]  # chosen
    assert moved["b1_1_conv_1x1"]["BatchNorm_0"]["mean"]  # chosen (branch 1: canonical order)
    _close(switch.apply({**v, **new_s}, h, h, cells, False),
           onehot.apply({**v, **new_o}, h, h, cells, False))


def test_nasnet_path_mask_is_the_gradient_support():
    """Per leaf, and per input row of the kernels that read a cell's output (the row mask)."""
    x = _images()
    net = NasnetSupernet(num_classes=10, op_select="onehot", space=SMALL, **NASNET_OPTIONS)
    params = _random_like(jax.eval_shape(net.init, jax.random.PRNGKey(0), x), 0)["params"]
    arch = SMALL.parse(SMALL_CELL)
    labels = jnp.arange(4) % 10

    def loss(p):
        logits, _ = net.apply({"params": p}, arch, x, train=True)
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], 1))

    grads, mask = _flat(jax.grad(loss)(params)), _flat(net.path_mask(arch))
    sliced = 0
    for path, g in grads.items():
        m = np.broadcast_to(np.asarray(mask[path]), g.shape)
        assert set(np.unique(m)) <= {0.0, 1.0}, path
        if np.asarray(mask[path]).ndim:  # a row mask: compare row by row
            sliced += 1
            rows = np.any(np.asarray(g).reshape(-1, g.shape[-1]) != 0, axis=-1)
            rows_m = m.reshape(-1, g.shape[-1])[:, 0] == 1
            np.testing.assert_array_equal(rows, rows_m, err_msg=str(path))
            assert 0 < rows.sum() < rows.size
        else:
            assert bool(np.any(g != 0)) == (float(m.flat[0]) == 1.0), path
    assert sliced == 5  # cell 1's pre1, cell 2's pre0 (two convs) and pre1, the head


def test_nasnet_supernet_takes_a_traced_arch():
    x = _images()
    for op_select in ("switch", "onehot"):
        net = NasnetSupernet(num_classes=10, op_select=op_select, space=SMALL, **NASNET_OPTIONS)
        v = jax.eval_shape(net.init, jax.random.PRNGKey(0), x)
        arch = nasnet.NASNetArch(jax.ShapeDtypeStruct((2, 2, 2), jnp.int32))
        out = jax.eval_shape(functools.partial(net.apply, x=x, train=True), v, arch)
        assert out[0].shape == (4, 10) and out[1] is None


def test_nasnet_supernet_refuses_bad_options():
    with pytest.raises(ValueError, match="unknown op_select"):
        NasnetSupernet(num_classes=10, op_select="mask")
    with pytest.raises(ValueError, match="unknown bn"):
        NasnetSupernet(num_classes=10, bn="affine")
    with pytest.raises(ValueError, match="NASNet space"):
        NasnetSupernet(num_classes=10, space=nb201.NB201())
