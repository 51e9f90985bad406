"""Architectures as token sequences for the VAE of VAENAS (seed 002, Sec. 3.2).

Sec. 3.2 writes an architecture as a sequence ``alpha = {o_i}`` of operations; the LSTM
encoder reads it and the LSTM decoder emits one categorical distribution per position. A
:class:`TokenSpec` fixes the sequence length ``L``, the vocabulary ``V`` shared by all positions
and, per position, which tokens are allowed (the decoder's logits of the others are masked).

* NAS-Bench-201: 6 tokens, the op (of 5) on each edge in architecture-string order
  (:data:`NB201_SPEC`), the same ids as :mod:`lanas_jax.spaces.nb201`.
* Any table whose features are one-hot categorical slots of ``V`` choices (NB201's 30-d
  features, the tests' synthetic tables): one token per slot (:func:`onehot_spec`).
* NAS-Bench-101, Appendix A.5: 21 edge bits then 5 ops (:mod:`lanas_jax.vaenas.nb101`).

Decoded tokens become table rows by matching them against the table's one-hot features
(:func:`match_scores`): on a complete table such as NB201 the row holding every token is the
decoded cell itself.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from lanas_jax.spaces import nb201


@dataclasses.dataclass(frozen=True)
class TokenSpec:
    """The shape of a token sequence (hashable: a static configuration).

    Attributes:
      length: ``L``, tokens per architecture.
      vocab: ``V``, the size of the vocabulary shared by all positions.
      allowed: ``None`` (every token anywhere) or ``L`` tuples of ``V`` bools.
    """

    length: int
    vocab: int
    allowed: tuple[tuple[bool, ...], ...] | None = None

    def __post_init__(self):
        if self.length < 1 or self.vocab < 2:
            raise ValueError(
                f"a token sequence needs length >= 1 and vocab >= 2, got {self.length}, "
                f"{self.vocab}"
            )
        if self.allowed is not None:
            a = np.asarray(self.allowed, bool)
            if a.shape != (self.length, self.vocab) or not a.any(1).all():
                raise ValueError(
                    f"`allowed` must be {self.length} rows of {self.vocab} bools with at least "
                    f"one True each, got shape {a.shape}"
                )

    def mask(self) -> jax.Array:
        """``[L, V]`` bool: which token each position may take."""
        if self.allowed is None:
            return jnp.ones((self.length, self.vocab), bool)
        return jnp.asarray(self.allowed, bool)

    def check(self, tokens) -> np.ndarray:
        """``tokens`` as an ``[M, L]`` int32 host array; raises ValueError if malformed."""
        t = np.asarray(tokens)
        if t.ndim != 2 or t.shape[1] != self.length:
            raise ValueError(f"tokens must be [M, {self.length}], got shape {t.shape}")
        if not np.issubdtype(t.dtype, np.integer):
            raise ValueError(f"tokens must be integers, got dtype {t.dtype}")
        if t.size and (t.min() < 0 or t.max() >= self.vocab):
            raise ValueError(f"tokens must lie in [0, {self.vocab}), got [{t.min()}, {t.max()}]")
        ok = np.asarray(self.mask())[np.arange(self.length), t]
        if not ok.all():
            row, pos = np.argwhere(~ok)[0]
            raise ValueError(f"token {t[row, pos]} is not allowed at position {pos} (row {row})")
        return t.astype(np.int32)


#: NAS-Bench-201: the op id (of :data:`lanas_jax.spaces.nb201.OPS`) on each of the 6 edges.
NB201_SPEC = TokenSpec(length=nb201.NUM_EDGES, vocab=nb201.NUM_OPS)


def onehot_spec(features, vocab: int) -> TokenSpec:
    """The spec of a table whose ``[N, D]`` features are ``D / vocab`` one-hot slots.

    Raises:
      ValueError: when ``D`` is not a multiple of ``vocab`` or some slot of some row is not
        exactly one 1 among 0s (e.g. NAS-Bench-101's ``vaenas26`` real-valued codes).
    """
    f = np.asarray(features)
    if f.ndim != 2 or f.shape[1] % vocab:
        raise ValueError(
            f"features of shape {f.shape} are not one-hot slots of {vocab} choices "
            f"(the width must be a multiple of {vocab})"
        )
    slots = f.reshape(f.shape[0], -1, vocab)
    if not (np.isin(slots, (0.0, 1.0)).all() and (slots.sum(-1) == 1).all()):
        raise ValueError(
            f"features are not one-hot slots of {vocab} choices: every group of {vocab} "
            "consecutive features must hold exactly one 1 and otherwise 0"
        )
    return TokenSpec(length=f.shape[1] // vocab, vocab=vocab)


def table_tokens(features: jax.Array, spec: TokenSpec) -> jax.Array:
    """``[N, L]`` int32 tokens of a table with one-hot slot features (see :func:`onehot_spec`)."""
    slots = features.reshape(features.shape[0], spec.length, spec.vocab)
    return jnp.argmax(slots, -1).astype(jnp.int32)


def one_hot_tokens(tokens: jax.Array, spec: TokenSpec) -> jax.Array:
    """``[..., L]`` tokens -> ``[..., L * V]`` float32, the layout of one-hot slot features."""
    oh = jax.nn.one_hot(tokens, spec.vocab, dtype=jnp.float32)
    return oh.reshape(*tokens.shape[:-1], spec.length * spec.vocab)


def match_scores(tokens: jax.Array, features: jax.Array, spec: TokenSpec) -> jax.Array:
    """``[R, L]`` tokens x ``[N, L * V]`` one-hot features -> ``[R, N]`` matching slots.

    A score equal to ``L`` is the row holding exactly these tokens; ``L - d`` is a row at
    Hamming distance ``d``.
    """
    return one_hot_tokens(tokens, spec) @ features.T
