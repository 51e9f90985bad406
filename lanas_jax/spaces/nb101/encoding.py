"""Feature encodings of padded NAS-Bench-101 cells and the table's static space metadata
(see :mod:`lanas_jax.spaces.nb101`)."""

from __future__ import annotations

import dataclasses

import numpy as np

from lanas_jax.spaces.nb101.cell import (
    ENCODINGS,
    INPUT_LABEL,
    MISSING,
    NUM_VERTICES,
    OUTPUT_LABEL,
    matrices,
    unpad,
)

# ---------------------------------------------------------------------------- encodings

# LaNAS's node codes: input -1, output +1, missing 0, each op a fraction in between.
_LANAS_CODE = {INPUT_LABEL: -1.0, OUTPUT_LABEL: 1.0, MISSING: 0.0, 0: 0.25, 1: 0.5, 2: 0.75}
# VAENAS lists its ops as {conv1x1, conv3x3, maxpool}: codes 1/3, 2/3, 1; a missing vertex 0.
_VAENAS_CODE = {INPUT_LABEL: 0.0, OUTPUT_LABEL: 0.0, MISSING: 0.0, 1: 1 / 3, 0: 2 / 3, 2: 1.0}
# AlphaX's meta-DNN node codes: input 2, conv1x1 3, maxpool 4, conv3x3 5, output 6, padding 9.
_ALPHAX_CODE = {INPUT_LABEL: 2.0, 1: 3.0, 2: 4.0, 0: 5.0, OUTPUT_LABEL: 6.0, MISSING: 9.0}


def _codes(labels, table: dict[int, float], xp=np):
    lut = np.zeros(16, np.float32)
    for label, code in table.items():
        lut[label + 8] = code
    return xp.asarray(lut)[xp.asarray(labels).astype(xp.int32) + 8]


def encode(out_bits: np.ndarray, labels: np.ndarray, encoding: str = "lanas49") -> np.ndarray:
    """``[N, D]`` float32 features of padded cells.

    * ``lanas49`` (LaNAS, Wang et al. 2019/2021, its NAS-Bench-101 runs): the first 6 rows of the
      padded 7x7 adjacency matrix (42 entries, row-major; the output row is always 0 and left
      out), then 7 node codes: input -1, output +1, missing 0, and the ops as fractions in
      between (conv3x3 0.25, conv1x1 0.5, maxpool 0.75: LaNAS's preprocessed file is not in its
      repository, so the exact fractions are this project's choice).
    * ``vaenas26`` (VAENAS, Appendix A.5): the 21 upper-triangular edge bits (row-major pairs
      ``(i, j)``, ``i < j``, as :data:`EDGES`) then the ops of the 5 interior vertices, coded
      in VAENAS's listed order conv1x1 1/3, conv3x3 2/3, maxpool 1, and 0 for a missing vertex.
    * ``onehot56`` (the 56-d input of AlphaX's meta-DNN, Wang et al. 2019, which LaNAS's MCTS
      baseline uses): the full padded 7x7 adjacency (49 0/1 entries, row-major) then 7 integer
      node codes input 2, conv1x1 3, maxpool 4, conv3x3 5, output 6, missing 9. Only the 49
      edge entries are one-hot; AlphaX flattened the unpadded matrix and zero-filled its tail
      and dropped a 7-vertex cell's output code, quirks not reproduced here.

    Raises:
      ValueError: for an unknown encoding name.
    """
    return encode_matrices(matrices(out_bits), labels, encoding)


def encode_matrices(adjacency, labels, encoding: str = "lanas49", xp=np):
    """:func:`encode` of ``[N, 7, 7]`` 0/1 padded adjacency matrices, in NumPy or, with
    ``xp=jax.numpy``, traceable (the space's ``features``).

    Raises:
      ValueError: for an unknown encoding name.
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown NB101 encoding {encoding!r}; choose from {sorted(ENCODINGS)}")
    adj = xp.asarray(adjacency).astype(xp.float32)
    n = adj.shape[0]
    if encoding == "lanas49":
        feats = [adj[:, : NUM_VERTICES - 1, :].reshape(n, -1), _codes(labels, _LANAS_CODE, xp)]
    elif encoding == "vaenas26":
        iu = np.triu_indices(NUM_VERTICES, 1)
        feats = [adj[:, iu[0], iu[1]], _codes(labels, _VAENAS_CODE, xp)[:, 1:-1]]
    else:
        feats = [adj.reshape(n, -1), _codes(labels, _ALPHAX_CODE, xp)]
    return xp.concatenate(feats, axis=1).astype(xp.float32)


# -------------------------------------------------------------------------------- space


@dataclasses.dataclass(frozen=True)
class Nb101Space:
    """The cells of an NB101 table as a benchmark's static metadata (prints row ``index``).

    Holds the module hashes and padded cells as immutable ``bytes`` so that hashing (cached by
    Python) and equality stay cheap as a static field of the jitted benchmark pytree.
    """

    hashes_bytes: bytes = dataclasses.field(repr=False)
    bits_bytes: bytes = dataclasses.field(repr=False)
    labels_bytes: bytes = dataclasses.field(repr=False)

    @classmethod
    def from_arrays(cls, hashes: np.ndarray, out_bits: np.ndarray, labels: np.ndarray) -> (
        Nb101Space
    ):
        """From ``[N]`` 32-character hashes and ``[N, 7]`` padded cells."""
        h = np.asarray(hashes, "S32")
        return cls(
            np.ascontiguousarray(h).tobytes(),
            np.ascontiguousarray(out_bits, np.uint8).tobytes(),
            np.ascontiguousarray(labels, np.int8).tobytes(),
        )

    def __len__(self) -> int:
        return len(self.hashes_bytes) // 32

    def hash(self, index: int) -> str:
        """The module hash of row ``index``."""
        i = self._check(index)
        return self.hashes_bytes[32 * i : 32 * (i + 1)].decode("ascii")

    def cell(self, index: int) -> tuple[np.ndarray, list[str]]:
        """The compact ``(matrix, ops)`` of row ``index``."""
        i = self._check(index)
        bits = np.frombuffer(self.bits_bytes, np.uint8, NUM_VERTICES, NUM_VERTICES * i)
        labels = np.frombuffer(self.labels_bytes, np.int8, NUM_VERTICES, NUM_VERTICES * i)
        return unpad(bits, labels)

    def describe(self, index: int) -> str:
        """``<hash> ops=input,...,output edges=0>1,0>2,...``."""
        m, ops = self.cell(index)
        edges = ",".join(f"{i}>{j}" for i, j in zip(*np.nonzero(m), strict=True))
        return f"{self.hash(index)} ops={','.join(ops)} edges={edges}"

    def _check(self, index: int) -> int:
        index = int(index)
        if not 0 <= index < len(self):
            raise IndexError(f"NB101 row {index} out of range [0, {len(self)})")
        return index
