"""The plain ConvNet space of the LaNAS paper's Sec. 2 example (Wang et al., "Sample-Efficient
Neural Architecture Search by Learning Action Space", seed 000, Sec. 2 and Appendix A.1).

A network is a stack of ``L`` Conv-ReLU layers, ``L`` in {1..5}; layer ``l`` has ``C_l`` filter
channels in {32, 64} and a ``K_l x K_l`` kernel, ``K_l`` in {3, 5}. Each layer takes one of 4
choices, so the space holds 4 + 4**2 + ... + 4**5 = 1,364 networks (the paper's count).

A network is written as a tuple of ``(channels, kernel)`` pairs, one per layer, and printed as
``conv64k5-conv32k3`` (layer 1 first). Rows are enumerated by depth, then layer 1's choice, then
layer 2's, ... with choices in :data:`CHOICES` order, so the enumeration is fixed.

Features (what LaNAS's linear node models see, Sec. 3.2 "network attributes"): for each of the 5
layer slots, ``[present, wide, large]`` = (the layer exists, it has 64 channels, it has a 5x5
kernel), zero for an absent layer: 15 binary features whose sum over ``present`` is the depth.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools

import numpy as np

MAX_DEPTH = 5
DEPTHS: tuple[int, ...] = (1, 2, 3, 4, 5)
CHANNELS: tuple[int, ...] = (32, 64)
KERNELS: tuple[int, ...] = (3, 5)
#: The 4 choices of one layer, ``(channels, kernel)``; a layer's choice id indexes this tuple.
CHOICES: tuple[tuple[int, int], ...] = tuple(itertools.product(CHANNELS, KERNELS))
#: Networks in the space (1,364).
SIZE = sum(len(CHOICES) ** d for d in DEPTHS)
FEATURES_PER_LAYER = 3
FEATURE_DIM = MAX_DEPTH * FEATURES_PER_LAYER
#: One-edit mutations per network: flip one slot's channels (5), flip one slot's kernel (5),
#: drop the last layer (1), append a layer with one of the 4 choices (4); ``-1`` where undefined.
NUM_NEIGHBORS = 2 * MAX_DEPTH + 1 + len(CHOICES)

Arch = tuple[tuple[int, int], ...]


@functools.cache
def enumerate_space() -> tuple[Arch, ...]:
    """All 1,364 networks in row order: depth-major, then layer choices in :data:`CHOICES` order."""
    out: list[Arch] = []
    for depth in DEPTHS:
        out.extend(tuple(a) for a in itertools.product(CHOICES, repeat=depth))
    return tuple(out)


@functools.cache
def _row_of() -> dict[Arch, int]:
    return {a: i for i, a in enumerate(enumerate_space())}


def validate_arch(arch) -> Arch:
    """``arch`` as a tuple of ``(channels, kernel)`` pairs, or a ValueError naming the problem."""
    try:
        arch = tuple((int(c), int(k)) for c, k in arch)
    except (TypeError, ValueError):
        raise ValueError(
            f"a ConvNet is a sequence of (channels, kernel) pairs, got {arch!r}") from None
    if not 1 <= len(arch) <= MAX_DEPTH:
        raise ValueError(f"a ConvNet has 1..{MAX_DEPTH} layers, got {len(arch)}: {arch}")
    for c, k in arch:
        if c not in CHANNELS or k not in KERNELS:
            raise ValueError(f"layer (channels={c}, kernel={k}) is outside channels {CHANNELS} "
                             f"x kernels {KERNELS}")
    return arch


def index_of(arch) -> int:
    """The row of ``arch`` in :func:`enumerate_space`."""
    return _row_of()[validate_arch(arch)]


def format_arch(arch) -> str:
    """``((64, 5), (32, 3))`` -> ``conv64k5-conv32k3``."""
    return "-".join(f"conv{c}k{k}" for c, k in validate_arch(arch))


def parse_arch(text: str) -> Arch:
    """Inverse of :func:`format_arch`; a ValueError names a malformed string."""
    layers = []
    for part in str(text).split("-"):
        body = part.removeprefix("conv")
        c, sep, k = body.partition("k")
        if not part.startswith("conv") or not sep or not c.isdigit() or not k.isdigit():
            raise ValueError(f"malformed ConvNet {text!r}: layer {part!r} is not 'conv<C>k<K>'")
        layers.append((int(c), int(k)))
    return validate_arch(layers)


def features(archs) -> np.ndarray:
    """``[N, 15]`` float32 ``[present, wide, large]`` per layer slot (see the module doc)."""
    archs = list(archs)
    out = np.zeros((len(archs), MAX_DEPTH, FEATURES_PER_LAYER), np.float32)
    for i, arch in enumerate(archs):
        for j, (c, k) in enumerate(validate_arch(arch)):
            out[i, j] = (1.0, float(c == CHANNELS[1]), float(k == KERNELS[1]))
    return out.reshape(len(archs), FEATURE_DIM)


def mutations(arch) -> list[Arch | None]:
    """The :data:`NUM_NEIGHBORS` one-edit mutations of ``arch`` in a fixed column order, ``None``
    where a mutation does not exist (a slot beyond the depth, dropping the only layer, appending
    to a depth-5 net). Mutations act as Real et al. (2019)'s evolution does on one choice."""
    arch = validate_arch(arch)
    d = len(arch)
    out: list[Arch | None] = []
    for j in range(MAX_DEPTH):  # flip channels of slot j
        if j < d:
            c, k = arch[j]
            out.append(arch[:j] + ((CHANNELS[1 - CHANNELS.index(c)], k),) + arch[j + 1:])
        else:
            out.append(None)
    for j in range(MAX_DEPTH):  # flip kernel of slot j
        if j < d:
            c, k = arch[j]
            out.append(arch[:j] + ((c, KERNELS[1 - KERNELS.index(k)]),) + arch[j + 1:])
        else:
            out.append(None)
    out.append(arch[:-1] if d > 1 else None)  # drop the last layer
    for choice in CHOICES:  # append a layer
        out.append(arch + (choice,) if d < MAX_DEPTH else None)
    return out


def neighbors(archs) -> np.ndarray:
    """``[N, 15]`` int32 rows (into ``archs``) of each network's one-edit mutations, ``-1`` where
    the mutation does not exist or is not in ``archs`` (a partial table)."""
    archs = [validate_arch(a) for a in archs]
    row = {a: i for i, a in enumerate(archs)}
    if len(row) != len(archs):
        raise ValueError("neighbors(): the table lists a network twice")
    out = np.full((len(archs), NUM_NEIGHBORS), -1, np.int32)
    for i, arch in enumerate(archs):
        for j, m in enumerate(mutations(arch)):
            if m is not None:
                out[i, j] = row.get(m, -1)
    return out


def encode(archs) -> np.ndarray:
    """``[N, 5]`` int8 choice ids per slot, ``-1`` for an absent layer (the table's storage)."""
    archs = list(archs)
    out = np.full((len(archs), MAX_DEPTH), -1, np.int8)
    for i, arch in enumerate(archs):
        for j, layer in enumerate(validate_arch(arch)):
            out[i, j] = CHOICES.index(layer)
    return out


def decode(codes) -> list[Arch]:
    """Inverse of :func:`encode`; a ValueError names a malformed row."""
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[1] != MAX_DEPTH:
        raise ValueError(f"expected [N, {MAX_DEPTH}] choice ids, got shape {codes.shape}")
    out = []
    for i, row in enumerate(codes.tolist()):
        d = sum(1 for c in row if c >= 0)
        if d == 0 or any(c < 0 for c in row[:d]) or any(c >= 0 for c in row[d:]) or any(
                c >= len(CHOICES) for c in row):
            raise ValueError(f"row {i}: malformed ConvNet code {row}")
        out.append(tuple(CHOICES[c] for c in row[:d]))
    return out


@dataclasses.dataclass(frozen=True)
class ConvNetSpace:
    """The space as a table's static metadata: prints row ``index`` as its layer string.

    Hashable (it is a static field of the Benchmark pytree): it holds the ``[N, 5]`` int8 codes
    as immutable bytes.
    """

    codes_bytes: bytes = dataclasses.field(repr=False)

    @classmethod
    def from_archs(cls, archs) -> ConvNetSpace:
        return cls(np.ascontiguousarray(encode(archs)).tobytes())

    @property
    def codes(self) -> np.ndarray:
        return np.frombuffer(self.codes_bytes, np.int8).reshape(-1, MAX_DEPTH)

    def __len__(self) -> int:
        return len(self.codes_bytes) // MAX_DEPTH

    def arch(self, index: int) -> Arch:
        index = int(index)
        if not 0 <= index < len(self):
            raise IndexError(f"ConvNet row {index} out of range [0, {len(self)})")
        return decode(self.codes[index:index + 1])[0]

    def describe(self, index: int) -> str:
        return format_arch(self.arch(index))
