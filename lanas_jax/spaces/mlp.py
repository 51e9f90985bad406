"""Seed 001's MLPNAS space: a chain of dense layers (and dropouts) sampled from a vocabulary.

Seed 001 Sec. 4 and 5.1: an LSTM controller samples a multi-layer perceptron as a sequence of
"unique indexes compliant to a vocabulary, that maps to a specific pair in the form of (n. of
neurons, activation function)"; widths ``[8, 16, 32, 64, 128, 256, 512]``, activations
``[sigmoid, tanh, ReLU, ELU]``, "maximum architecture length: 10 layers", plus dropout layers of
constant rate 0.2; "the final layer is decided depending on the given task" (a softmax over the
classes), so it is not searched.

Vocabulary (0-based here): id ``4 * w + a`` is the dense layer of width ``WIDTHS[w]`` with
activation ``ACTIVATIONS[a]`` (ids 0..27), id 28 is dropout, and token 29 (``END``) ends the
sequence (the role the task's final layer plays in the seed's controller).

Validity, from the seed and its reference controller (which rejects a dropout or the final layer as
the first draw and appends the final layer at position ``max_len - 1``):

* ``max_layers`` searched layers at most, default **9**: the seed's length of 10 counts the task's
  final softmax layer (its longest reported architectures are 9 searched layers plus
  ``(10, softmax)``, Tables 4-6);
* at least one layer, and the first is a dense layer (never a dropout), so every network has a
  dense layer;
* the seed is silent on consecutive dropouts and its controller allows them (two dropouts in a
  row drop more units than one: a different network), so they are allowed, as is a dropout
  right before the final layer.

An architecture is :class:`MLPArch`; slots at or past ``length`` are zero (the canonical form).
No two spellings name the same network, so :meth:`MLPStack.key` is an exact bit packing.
"""

from __future__ import annotations

import dataclasses
import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from lanas_jax.spaces.base import Space, SpaceSize

WIDTHS: tuple[int, ...] = (8, 16, 32, 64, 128, 256, 512)
ACTIVATIONS: tuple[str, ...] = ("sigmoid", "tanh", "relu", "elu")
NUM_DENSE = len(WIDTHS) * len(ACTIVATIONS)  # 28
DROPOUT = NUM_DENSE  # layer id 28
NUM_LAYER_IDS = NUM_DENSE + 1  # 29
END = NUM_LAYER_IDS  # token 29
#: Seed 001 Sec. 5.1: "dropout rate has been set constant to 0.2".
DROPOUT_RATE = 0.2
#: Bits per layer id in the key (29 ids < 32).
_ID_BITS = 5
#: The length and the first five layers fill key word 0 (4 + 25 bits), the rest word 1 (6 x 5).
_WORD0_LAYERS = 5
_MAX_KEY_LAYERS = _WORD0_LAYERS + 32 // _ID_BITS  # 11
# Per-slot widths of the relaxed encoding: kind (absent, dense, dropout), width, activation.
_RELAX_SLOT = 3 + len(WIDTHS) + len(ACTIVATIONS)  # 14
# Per-slot widths of the features: present, scaled log2 width, activation one-hot, dropout flag.
_FEATURE_SLOT = 1 + 1 + len(ACTIVATIONS) + 1  # 7

_ACT_FNS = {"sigmoid": nn.sigmoid, "tanh": jnp.tanh, "relu": nn.relu, "elu": nn.elu}


@struct.dataclass
class MLPArch:
    """One MLP: ``length`` (int32[], ``1..max_layers``) searched layers, ``layers``
    (int32[max_layers]) their vocabulary ids in input-to-output order, zero past ``length``."""

    length: jax.Array
    layers: jax.Array


def _canonical(length: jax.Array, layers: jax.Array) -> MLPArch:
    """Zero the slots at or past ``length`` (the one spelling of each architecture)."""
    length = jnp.asarray(length, jnp.int32)
    layers = jnp.asarray(layers, jnp.int32)
    return MLPArch(length, jnp.where(jnp.arange(layers.shape[-1]) < length, layers, 0))


def layer_name(layer_id: int) -> str:
    """Seed 001's way of writing one layer: ``(512, relu)`` or ``dropout``."""
    if layer_id == DROPOUT:
        return "dropout"
    width, act = divmod(int(layer_id), len(ACTIVATIONS))
    return f"({WIDTHS[width]}, {ACTIVATIONS[act]})"


_ENTRY = re.compile(r"\s*(?:\(\s*'?(\d+)'?\s*,\s*'?([A-Za-z]+)'?\s*\)|'?([A-Za-z]+)'?)\s*")


class MLP(nn.Module):
    """Seed 001's generated network: per layer ``Dense(width)`` + activation or
    ``Dropout(rate)``, then ``Dense(num_classes)``; returns logits (the softmax is the loss's).
    Inputs are flattened first, as the seed's generator does for multi-dimensional inputs."""

    layers: tuple[int, ...]
    num_classes: int
    dropout_rate: float = DROPOUT_RATE

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        x = x.reshape((x.shape[0], -1))
        for layer_id in self.layers:
            if layer_id == DROPOUT:
                x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
            else:
                width, act = divmod(layer_id, len(ACTIVATIONS))
                x = _ACT_FNS[ACTIVATIONS[act]](nn.Dense(WIDTHS[width])(x))
        return nn.Dense(self.num_classes)(x)


@dataclasses.dataclass(frozen=True)
class MLPStack(Space):
    """Seed 001's MLP space (see the module doc); ``max_layers`` searched layers at most."""

    max_layers: int = 9

    name = "mlp"
    dense = False

    def __post_init__(self):
        if not 1 <= self.max_layers <= _MAX_KEY_LAYERS:
            raise ValueError(f"max_layers must be in 1..{_MAX_KEY_LAYERS} (the key packs "
                             f"{_ID_BITS} bits a layer into 2 words), got {self.max_layers}")

    @property
    def feature_dim(self) -> int:
        return _FEATURE_SLOT * self.max_layers

    @property
    def relax_dim(self) -> int:
        return _RELAX_SLOT * self.max_layers

    @property
    def vocab_sizes(self) -> tuple[int, ...]:
        """Position 0 takes a dense id only (the first layer is dense), later positions any
        layer id or ``END``."""
        return (NUM_DENSE,) + (NUM_LAYER_IDS + 1,) * (self.max_layers - 1)

    # -- jittable, one architecture ----------------------------------------------------------
    def sample(self, key: jax.Array) -> MLPArch:
        """Length uniform over ``1..max_layers``, the first layer uniform over the 28 dense
        layers, every later one uniform over all 29 ids (dense or dropout). Not uniform over
        architectures: a length-``L`` one has probability ``1 / (max_layers 28 29^(L-1))``."""
        k_len, k_first, k_rest = jax.random.split(key, 3)
        length = jax.random.randint(k_len, (), 1, self.max_layers + 1)
        layers = jax.random.randint(k_rest, (self.max_layers,), 0, NUM_LAYER_IDS)
        layers = layers.at[0].set(jax.random.randint(k_first, (), 0, NUM_DENSE))
        return _canonical(length, layers)

    def mutate(self, key: jax.Array, arch: MLPArch) -> MLPArch:
        """One edit, its kind uniform over the feasible ones: change one layer to another id
        (always feasible), insert a layer (when ``length < max_layers``) or delete one (when
        ``length > 1``; not the first if a dropout would become first). Positions and ids are
        uniform over those keeping the architecture valid. Every edit changes the key: a
        change alters one id, insert/delete the length."""
        k_kind, k_pos, k_tok = jax.random.split(key, 3)
        length, layers = arch.length, arch.layers
        pos = jnp.arange(self.max_layers)
        feasible = jnp.stack([jnp.array(True), length < self.max_layers, length > 1])
        kind = jax.random.categorical(k_kind, jnp.where(feasible, 0.0, -jnp.inf))
        second_is_dropout = layers[jnp.minimum(1, self.max_layers - 1)] == DROPOUT
        masks = jnp.stack([pos < length, pos <= length,
                           (pos < length) & ~((pos == 0) & second_is_dropout)])
        p = jax.random.categorical(k_pos, jnp.where(masks[kind], 0.0, -jnp.inf))
        ids_here = jnp.where(p == 0, NUM_DENSE, NUM_LAYER_IDS)  # valid ids at position p
        k_change, k_insert = jax.random.split(k_tok)
        changed = (layers[p] + 1 + jax.random.randint(k_change, (), 0, ids_here - 1)) % ids_here
        inserted = jax.random.randint(k_insert, (), 0, ids_here)
        change = jnp.where(pos == p, changed, layers)
        insert = jnp.where(pos < p, layers, jnp.where(pos == p, inserted, jnp.roll(layers, 1)))
        delete = jnp.where(pos < p, layers, jnp.roll(layers, -1))
        new_layers = jnp.stack([change, insert, delete])[kind]
        new_length = length + jnp.array([0, 1, -1])[kind]
        return _canonical(new_length, new_layers)

    def features(self, arch: MLPArch) -> jax.Array:
        """Per slot: present, ``(log2 width - 3) / 6`` (in ``[0, 1]``), activation one-hot and
        dropout flag; zeros for absent slots, so a linear model sees depth and widths."""
        pos = jnp.arange(self.max_layers)
        present = pos < arch.length
        is_dense = present & (arch.layers < NUM_DENSE)
        width, act = jnp.divmod(arch.layers, len(ACTIVATIONS))
        parts = [present[:, None], (is_dense * width / (len(WIDTHS) - 1))[:, None],
                 is_dense[:, None] * jax.nn.one_hot(act, len(ACTIVATIONS)),
                 (present & (arch.layers == DROPOUT))[:, None]]
        return jnp.concatenate(parts, -1).astype(jnp.float32).reshape(-1)

    def relax(self, arch: MLPArch) -> jax.Array:
        """Per slot one-hots: kind (absent, dense, dropout), width and activation (zero unless
        dense); a point of ``[0, 1]^(14 max_layers)``."""
        pos = jnp.arange(self.max_layers)
        kind = jnp.where(pos >= arch.length, 0, jnp.where(arch.layers == DROPOUT, 2, 1))
        is_dense = (kind == 1)[:, None]
        width, act = jnp.divmod(arch.layers, len(ACTIVATIONS))
        parts = [jax.nn.one_hot(kind, 3), is_dense * jax.nn.one_hot(width, len(WIDTHS)),
                 is_dense * jax.nn.one_hot(act, len(ACTIVATIONS))]
        return jnp.concatenate(parts, -1).astype(jnp.float32).reshape(-1)

    def discretise(self, x: jax.Array) -> MLPArch:
        """Argmax per one-hot group; the first slot is dense whatever its kind scores (the one
        repair), and the architecture ends at the first later slot whose kind is absent."""
        x = jnp.asarray(x)
        if x.shape != (self.relax_dim,):
            raise ValueError(f"an MLP point has {self.relax_dim} coordinates, got {x.shape}")
        x = x.reshape(self.max_layers, _RELAX_SLOT)
        pos = jnp.arange(self.max_layers)
        kind = jnp.where(pos == 0, 1, jnp.argmax(x[:, :3], -1))
        width = jnp.argmax(x[:, 3:3 + len(WIDTHS)], -1)
        act = jnp.argmax(x[:, 3 + len(WIDTHS):], -1)
        layers = jnp.where(kind == 2, DROPOUT, width * len(ACTIVATIONS) + act)
        length = jnp.min(jnp.where(kind == 0, pos, self.max_layers))
        return _canonical(length, layers)

    def tokens(self, arch: MLPArch) -> jax.Array:
        """The layer ids, then ``END`` in every slot past ``length``."""
        return jnp.where(jnp.arange(self.max_layers) < arch.length, arch.layers, END)

    def from_tokens(self, tokens: jax.Array) -> MLPArch:
        """The layers up to the first ``END``; tokens after it are ignored (out-of-vocab tokens
        are clipped into it first)."""
        pos = jnp.arange(self.max_layers)
        tokens = jnp.clip(tokens, 0, jnp.array(self.vocab_sizes) - 1)
        length = jnp.min(jnp.where(tokens == END, pos, self.max_layers))
        return _canonical(length, tokens)

    def key(self, arch: MLPArch) -> jax.Array:
        """Exact packing: word 0 holds the length (4 bits) and layers 0..4 (5 bits each), word 1
        layers 5.. (5 bits each)."""
        ids = arch.layers.astype(jnp.uint32)
        shifts = np.array([4 + _ID_BITS * i if i < _WORD0_LAYERS else _ID_BITS * (i - 5)
                           for i in range(self.max_layers)], np.uint32)
        in_word0 = np.arange(self.max_layers) < _WORD0_LAYERS
        packed = ids << shifts
        word0 = arch.length.astype(jnp.uint32) | jnp.sum(jnp.where(in_word0, packed, 0),
                                                         dtype=jnp.uint32)
        word1 = jnp.sum(jnp.where(in_word0, 0, packed), dtype=jnp.uint32)
        return jnp.stack([word0, word1])

    # -- host ----------------------------------------------------------------------------------
    def describe(self, arch: MLPArch) -> str:
        """Seed 001's notation (Tables 1-6), without the task's final layer:
        ``(512, relu), dropout, (256, elu)``."""
        arch = self.to_host(arch)
        return ", ".join(layer_name(i) for i in arch.layers[: int(arch.length)])

    def parse(self, text: str) -> MLPArch:
        """The inverse of :meth:`describe`. Quotes around names are accepted, and so is a
        trailing ``(n, softmax)`` (the task's final layer, as the seed's tables write it), which
        is dropped. Raises :class:`ValueError` naming the malformed entry."""
        entries, at = [], 0
        while at < len(text):
            m = _ENTRY.match(text, at)
            if m is None or m.end() == at:
                raise ValueError(f"cannot read an MLP layer at {text[at:]!r} in {text!r}")
            entries.append(m)
            at = m.end()
            if at < len(text):
                if text[at] != ",":
                    raise ValueError(f"expected ',' between layers at {text[at:]!r}")
                at += 1
                if not text[at:].strip():
                    raise ValueError(f"trailing ',' in {text!r}")
        if entries and entries[-1].group(2) == "softmax":
            entries = entries[:-1]
        layers = [self._parse_entry(m) for m in entries]
        if not layers:
            raise ValueError(f"an MLP needs at least one layer, got {text!r}")
        if len(layers) > self.max_layers:
            raise ValueError(f"{len(layers)} layers exceed max_layers={self.max_layers}")
        if layers[0] == DROPOUT:
            raise ValueError("the first layer must be dense, not dropout")
        padded = np.zeros(self.max_layers, np.int32)
        padded[: len(layers)] = layers
        return _canonical(len(layers), padded)

    @staticmethod
    def _parse_entry(m: re.Match) -> int:
        width, act, word = m.group(1), m.group(2), m.group(3)
        if word is not None:
            if word.lower() != "dropout":
                raise ValueError(f"unknown layer {word!r}: expected (width, activation) or dropout")
            return DROPOUT
        if int(width) not in WIDTHS:
            raise ValueError(f"width {width} is not one of {WIDTHS}")
        if act.lower() not in ACTIVATIONS:
            raise ValueError(f"activation {act!r} is not one of {ACTIVATIONS}")
        return WIDTHS.index(int(width)) * len(ACTIVATIONS) + ACTIVATIONS.index(act.lower())

    def size(self) -> SpaceSize:
        """``sum_{L=1}^{M} 28 * 29^(L-1) = 29^M - 1`` architectures (first layer dense)."""
        count = sum(NUM_DENSE * NUM_LAYER_IDS ** (n - 1) for n in range(1, self.max_layers + 1))
        return SpaceSize(count, exact=True, note=f"29^{self.max_layers} - 1: up to "
                         f"{self.max_layers} layers, the first dense")

    def network(self, arch: MLPArch, num_classes: int, dropout_rate: float = DROPOUT_RATE) -> MLP:
        """The flax :class:`MLP` of one architecture; call it with ``train=True`` (and a
        ``dropout`` rng) to drop units."""
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        arch = self.to_host(arch)
        layers = tuple(int(i) for i in arch.layers[: int(arch.length)])
        return MLP(layers, num_classes, dropout_rate)
