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

:class:`ConvNet` is the space under the :class:`~lanas_jax.spaces.base.Space` protocol (an
architecture is :class:`ConvNetArch`; :func:`layers_of` / :func:`from_layers` convert to and from
the layer tuples above); :class:`ConvNetNetwork` is the flax network. :class:`ConvNetSpace` is a
benchmark table's static metadata.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from lanas_jax.spaces.base import Space, SpaceSize, dense_key

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


# -- the Space ----------------------------------------------------------------------------------

NUM_CHOICES = len(CHOICES)
# Choice id = 2 * wide + large (CHOICES is channels-major), so a channel flip is ``id ^ 2`` and a
# kernel flip is ``id ^ 1``.
_FLIP_CHANNELS, _FLIP_KERNEL = 2, 1
# Rows before the first network of depth d: 4 + 16 + ... + 4**(d-1) = (4**d - 4) / 3.
_DEPTH_OFFSET = np.array([(NUM_CHOICES**d - NUM_CHOICES) // 3 for d in range(MAX_DEPTH + 1)])


@struct.dataclass
class ConvNetArch:
    """One plain ConvNet.

    Attributes:
      depth: ``int32[]`` the number of layers, in ``[1, 5]``.
      choice: ``int32[5]`` layer ``j``'s choice id (an index into :data:`CHOICES`) for
        ``j < depth``. Canonical form: slots ``>= depth`` are 0 (every method ignores them, so a
        non-canonical spelling has the canonical one's key).
    """

    depth: jax.Array
    choice: jax.Array


def layers_of(arch: ConvNetArch) -> Arch:
    """One (host or device) architecture as its ``((channels, kernel), ...)`` tuple."""
    depth = int(np.asarray(arch.depth))
    choice = np.asarray(arch.choice)
    if choice.shape != (MAX_DEPTH,) or not 1 <= depth <= MAX_DEPTH:
        raise ValueError(f"a ConvNet has depth in [1, {MAX_DEPTH}] and choice int32[{MAX_DEPTH}], "
                         f"got depth {depth}, choice shape {choice.shape}")
    if not ((choice[:depth] >= 0) & (choice[:depth] < NUM_CHOICES)).all():
        raise ValueError(f"ConvNet choice ids must be in [0, {NUM_CHOICES}), got {choice[:depth]}")
    return tuple(CHOICES[c] for c in choice[:depth].tolist())


def from_layers(layers) -> ConvNetArch:
    """A ``((channels, kernel), ...)`` tuple as a canonical :class:`ConvNetArch`."""
    layers = validate_arch(layers)
    choice = [CHOICES.index(layer) for layer in layers] + [0] * (MAX_DEPTH - len(layers))
    return ConvNetArch(jnp.asarray(len(layers), jnp.int32), jnp.asarray(choice, jnp.int32))


def _canonical(depth: jax.Array, choice: jax.Array) -> ConvNetArch:
    depth = jnp.asarray(depth, jnp.int32)
    live = jnp.arange(MAX_DEPTH) < depth
    return ConvNetArch(depth, jnp.where(live, jnp.asarray(choice, jnp.int32), 0))


def _parts(arch: ConvNetArch) -> tuple[jax.Array, jax.Array]:
    """``(depth, choice)`` of one architecture in canonical form; wrong shapes raise."""
    if jnp.shape(arch.depth) != () or jnp.shape(arch.choice) != (MAX_DEPTH,):
        raise ValueError(f"a ConvNetArch is depth int32[] and choice int32[{MAX_DEPTH}], got "
                         f"shapes {jnp.shape(arch.depth)} and {jnp.shape(arch.choice)}")
    canonical = _canonical(arch.depth, arch.choice)
    return canonical.depth, canonical.choice


@dataclasses.dataclass(frozen=True)
class ConvNet(Space):
    """The LaNAS Sec. 2 ConvNet chain as a dense :class:`~lanas_jax.spaces.base.Space`.

    * ``index`` is the row in :func:`enumerate_space` (depth-major, then layer 1's choice most
      significant), in closed form; ``key`` is that index, exactly.
    * ``sample`` is uniform over the 1,364 networks (so deep nets dominate: 1,024 have depth 5).
    * ``mutate`` draws uniformly one of the valid one-edit mutations of :func:`mutations` (flip a
      present layer's channels or kernel, drop the last layer, append a layer with any choice).
    * ``features`` = ``relax`` = the 15-wide ``[present, wide, large]`` slot encoding of
      :func:`features`. ``discretise`` maps every point of ``[0, 1]^15`` to a net: the depth is
      the number of ``present`` coordinates ``>= 0.5`` (at least 1; monotone in each
      coordinate), and layer ``j < depth`` is wide / large where its coordinate is ``>= 0.5``.
      A relaxed point of a net has exactly its depth's ``present`` ones, so it maps back to it.
    * ``tokens`` are ``[depth - 1, choice_1, ..., choice_5]`` (vocab ``(5, 4, 4, 4, 4, 4)``);
      ``from_tokens`` keeps the first ``depth`` choices and zeroes the rest, so every token
      sequence is a net and tokens beyond the depth are ignored.
    """

    name = "convnet"
    feature_dim = FEATURE_DIM
    relax_dim = FEATURE_DIM
    vocab_sizes = (MAX_DEPTH,) + (NUM_CHOICES,) * MAX_DEPTH
    dense = True

    def sample(self, key: jax.Array) -> ConvNetArch:
        return self.from_index(jax.random.randint(key, (), 0, SIZE, dtype=jnp.int32))

    def mutate(self, key: jax.Array, arch: ConvNetArch) -> ConvNetArch:
        depth, choice = _parts(arch)
        slots = jnp.arange(MAX_DEPTH)
        # All NUM_NEIGHBORS candidates in mutations() column order, then one valid one drawn.
        flips = jnp.concatenate([
            choice ^ jnp.where(slots[:, None] == slots, _FLIP_CHANNELS, 0),
            choice ^ jnp.where(slots[:, None] == slots, _FLIP_KERNEL, 0),
        ])
        dropped = choice.at[depth - 1].set(0)[None]
        appended = jnp.where(slots == depth, jnp.arange(NUM_CHOICES)[:, None], choice)
        choices = jnp.concatenate([flips, dropped, appended])
        depths = jnp.concatenate([jnp.full(2 * MAX_DEPTH, depth), jnp.array([depth - 1]),
                                  jnp.full(NUM_CHOICES, depth + 1)])
        valid = jnp.concatenate([jnp.tile(slots < depth, 2), jnp.array([depth > 1]),
                                 jnp.full(NUM_CHOICES, depth < MAX_DEPTH)])
        pick = jax.random.categorical(key, jnp.where(valid, 0.0, -jnp.inf))
        return _canonical(depths[pick], choices[pick])

    def features(self, arch: ConvNetArch) -> jax.Array:
        depth, choice = _parts(arch)
        present = jnp.arange(MAX_DEPTH) < depth
        wide = present & (choice // 2 == 1)
        large = present & (choice % 2 == 1)
        return jnp.stack([present, wide, large], -1).astype(jnp.float32).reshape(FEATURE_DIM)

    def relax(self, arch: ConvNetArch) -> jax.Array:
        return self.features(arch)

    def discretise(self, x: jax.Array) -> ConvNetArch:
        x = jnp.asarray(x)
        if x.shape != (FEATURE_DIM,):
            raise ValueError(f"a ConvNet point is f32[{FEATURE_DIM}], got shape {x.shape}")
        on = x.reshape(MAX_DEPTH, FEATURES_PER_LAYER) >= 0.5
        depth = jnp.maximum(jnp.sum(on[:, 0]), 1)
        return _canonical(depth, 2 * on[:, 1] + on[:, 2])

    def tokens(self, arch: ConvNetArch) -> jax.Array:
        depth, choice = _parts(arch)
        return jnp.concatenate([(depth - 1)[None], choice])

    def from_tokens(self, tokens: jax.Array) -> ConvNetArch:
        tokens = jnp.asarray(tokens, jnp.int32)
        if tokens.shape != (self.num_tokens,):
            raise ValueError(f"ConvNet tokens are int32[{self.num_tokens}], got {tokens.shape}")
        return _canonical(tokens[0] + 1, tokens[1:])

    def key(self, arch: ConvNetArch) -> jax.Array:
        return dense_key(self.index(arch))

    def index(self, arch: ConvNetArch) -> jax.Array:
        depth, choice = _parts(arch)
        # Layer j is digit depth-1-j of a base-4 number; slots past the depth weigh 0.
        power = jnp.maximum(depth - 1 - jnp.arange(MAX_DEPTH), 0)
        place = jnp.where(jnp.arange(MAX_DEPTH) < depth, NUM_CHOICES**power, 0)
        return jnp.asarray(_DEPTH_OFFSET, jnp.int32)[depth] + jnp.sum(choice * place)

    def from_index(self, index: jax.Array) -> ConvNetArch:
        index = jnp.asarray(index, jnp.int32)
        depth = jnp.sum(index >= jnp.asarray(_DEPTH_OFFSET[2:], jnp.int32)) + 1
        rest = index - jnp.asarray(_DEPTH_OFFSET, jnp.int32)[depth]
        power = jnp.maximum(depth - 1 - jnp.arange(MAX_DEPTH), 0)
        return _canonical(depth, (rest // NUM_CHOICES**power) % NUM_CHOICES)

    def describe(self, arch: ConvNetArch) -> str:
        return format_arch(layers_of(arch))

    def parse(self, text: str) -> ConvNetArch:
        return from_layers(parse_arch(text))

    def size(self) -> SpaceSize:
        return SpaceSize(SIZE, exact=True, note=f"depth 1-{MAX_DEPTH}, {NUM_CHOICES} choices "
                         "per layer")

    def network(self, arch: ConvNetArch, num_classes: int) -> ConvNetNetwork:
        """The network :mod:`lanas_jax.training.convnet` trains (see :class:`ConvNetNetwork`)."""
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        return ConvNetNetwork(layers_of(arch), num_classes)


class ConvNetNetwork(nn.Module):
    """``L`` Conv-ReLU layers (SAME padding, stride 1, with bias), global average pooling and a
    dense head: the network of :mod:`lanas_jax.training.convnet`, with its initialisation (He
    normal convolutions, ``N(0, 1 / C_last)`` head, zero biases). Input ``[B, H, W, C]`` NHWC."""

    layers: Arch
    num_classes: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for channels, kernel in self.layers:
            conv = nn.Conv(channels, (kernel, kernel), padding="SAME",
                           kernel_init=nn.initializers.variance_scaling(
                               2.0, "fan_in", "normal"))
            x = nn.relu(conv(x))
        head_init = nn.initializers.variance_scaling(1.0, "fan_in", "normal")
        return nn.Dense(self.num_classes, kernel_init=head_init)(jnp.mean(x, axis=(1, 2)))
