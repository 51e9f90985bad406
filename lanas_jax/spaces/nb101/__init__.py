"""The NAS-Bench-101 cell search space (Ying et al. 2019, "NAS-Bench-101: Towards Reproducible
Neural Architecture Search", ICML 2019).

A cell is a DAG given by an upper-triangular adjacency matrix on ``V <= 7`` vertices and one
label per vertex: vertex 0 is ``input``, vertex ``V - 1`` is ``output`` and every vertex between
holds one of :data:`OPS`. A cell is *valid* when it has at most 9 edges and every vertex lies on
a path from the input to the output. Vertices off every such path compute nothing and are
*pruned*; isomorphic cells are the same network, identified by :func:`module_hash` (the
benchmark's own MD5 graph hash). The benchmark holds 423,624 unique cells.

Two representations are used:

* one cell as ``(matrix, ops)``: a ``[V, V]`` 0/1 array and ``V`` op names, as the benchmark's
  files and API write it;
* many cells as arrays in the **standard padded form**: a cell with ``V < 7`` vertices keeps its
  vertices ``0 .. V-2`` in place, its output moves to vertex 6 and vertices ``V-1 .. 5`` are
  *missing* (no edges, label :data:`MISSING`), the padding naszilla's and NASLib's converters
  use. The adjacency is stored as ``out_bits [N, 7]`` uint8 (bit ``w`` of ``out_bits[:, v]`` is
  the edge ``v -> w``) and the labels as ``labels [N, 7]`` int8 (:data:`INPUT_LABEL`,
  :data:`OUTPUT_LABEL`, an index into :data:`OPS`, or :data:`MISSING`).

The feature encodings (:data:`ENCODINGS`, :func:`encode`) are documented on :func:`encode`.

The space under the :class:`~lanas_jax.spaces.base.Space` protocol is
:class:`lanas_jax.spaces.nb101.space.NB101` (``get_space("nb101")``; not imported here, so that
this package stays free of flax and of :mod:`lanas_jax.vaenas`, which imports it); its ``jnp``
helpers for one cell are in :mod:`lanas_jax.spaces.nb101.jnp_cell` and its network in
:mod:`lanas_jax.spaces.nb101.network`.
"""

from lanas_jax.spaces.nb101.cell import (
    EDGES,
    ENCODINGS,
    INPUT,
    INPUT_LABEL,
    MAX_EDGES,
    MISSING,
    NUM_VERTICES,
    OPS,
    OUTPUT,
    OUTPUT_LABEL,
    check_cell,
    is_valid,
    matrices,
    module_hash,
    mutate,
    mutations,
    pad,
    permute,
    prune,
    random_cell,
    unpad,
)
from lanas_jax.spaces.nb101.edits import (
    enumerate_cells,
    neighbors,
    random_cells,
    strings,
)
from lanas_jax.spaces.nb101.encoding import (
    Nb101Space,
    encode,
)
from lanas_jax.spaces.nb101.many import (
    check_many,
    compact,
    num_edges,
    on_path,
    parse_cells,
    prune_many,
    wl_keys,
)

__all__ = [
    "EDGES",
    "ENCODINGS",
    "INPUT",
    "INPUT_LABEL",
    "MAX_EDGES",
    "MISSING",
    "NUM_VERTICES",
    "Nb101Space",
    "OPS",
    "OUTPUT",
    "OUTPUT_LABEL",
    "check_cell",
    "check_many",
    "compact",
    "encode",
    "enumerate_cells",
    "is_valid",
    "matrices",
    "module_hash",
    "mutate",
    "mutations",
    "neighbors",
    "num_edges",
    "on_path",
    "pad",
    "parse_cells",
    "permute",
    "prune",
    "prune_many",
    "random_cell",
    "random_cells",
    "strings",
    "unpad",
    "wl_keys",
]
