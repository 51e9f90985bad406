"""The LaNAS Sec. 2 plain ConvNet space: enumeration, encoding, mutations, printing."""

import numpy as np
import pytest

from lanas_jax.spaces import convnet as space


def test_space_has_the_papers_1364_distinct_networks():
    archs = space.enumerate_space()
    assert len(archs) == space.SIZE == 1364
    assert len(set(archs)) == 1364
    depths = np.bincount([len(a) for a in archs])
    assert depths.tolist() == [0, 4, 16, 64, 256, 1024]


def test_features_are_binary_slots_and_distinct():
    f = space.features(space.enumerate_space())
    assert f.shape == (1364, 15)
    assert set(np.unique(f)) <= {0.0, 1.0}
    assert len(np.unique(f, axis=0)) == 1364
    # present flags sum to the depth; wide/large are zero for absent layers
    present = f.reshape(-1, 5, 3)[:, :, 0]
    assert np.array_equal(present.sum(1), [len(a) for a in space.enumerate_space()])
    assert not (f.reshape(-1, 5, 3)[:, :, 1:] * (1 - present[:, :, None])).any()


def test_format_parse_roundtrip_and_errors():
    arch = ((64, 5), (32, 3))
    assert space.format_arch(arch) == "conv64k5-conv32k3"
    assert space.parse_arch("conv64k5-conv32k3") == arch
    for bad in ("conv64k7", "conv48k3", "conv64x3", "", "-".join(["conv32k3"] * 6)):
        with pytest.raises(ValueError):
            space.parse_arch(bad)


def test_encode_decode_roundtrip_and_bad_codes():
    archs = space.enumerate_space()
    assert space.decode(space.encode(archs)) == list(archs)
    with pytest.raises(ValueError, match="malformed"):
        space.decode(np.array([[0, -1, 2, -1, -1]]))


def test_neighbors_are_one_edit_mutations():
    archs = space.enumerate_space()
    nb = space.neighbors(archs)
    assert nb.shape == (1364, space.NUM_NEIGHBORS)
    for i in (0, 3, 17, 500, 1363):
        a = archs[i]
        for j in nb[i][nb[i] >= 0]:
            b = archs[j]
            same = sum(x == y for x, y in zip(a, b, strict=False))
            if len(a) == len(b):  # one layer changed in one attribute
                assert same == len(a) - 1
                (x, y), = [(x, y) for x, y in zip(a, b, strict=True) if x != y]
                assert (x[0] == y[0]) != (x[1] == y[1])
            else:  # appended or dropped the last layer
                assert abs(len(a) - len(b)) == 1 and same == min(len(a), len(b))
    # flips are involutions: flipping the same column twice returns the row
    for i in range(0, 1364, 37):
        for col in range(10):
            j = nb[i, col]
            if j >= 0:
                assert nb[j, col] == i
    # every depth-1..4 net can append 4 layers; depth-5 nets none; depth-1 cannot drop
    d = np.array([len(a) for a in archs])
    assert (nb[d < 5, 11:] >= 0).all() and (nb[d == 5, 11:] == -1).all()
    assert (nb[d == 1, 10] == -1).all() and (nb[d > 1, 10] >= 0).all()


def test_space_describe_and_hashable():
    archs = space.enumerate_space()
    s = space.ConvNetSpace.from_archs(archs)
    assert len(s) == 1364
    assert s.describe(0) == "conv32k3"
    assert s.describe(1363) == "-".join(["conv64k5"] * 5)
    assert hash(s) == hash(space.ConvNetSpace.from_archs(archs))
    with pytest.raises(IndexError):
        s.describe(1364)
