"""TFRecord files without TensorFlow: framing, CRC32C checks and a small writer.

A TFRecord file is a sequence of records, each framed as (all little-endian)::

    uint64 length
    uint32 masked_crc32c(length bytes)
    byte   data[length]
    uint32 masked_crc32c(data)

where ``masked_crc32c(x) = ((crc >> 15 | crc << 17) + 0xa282ead8) mod 2**32`` of the CRC-32C
(Castagnoli polynomial, reflected 0x82F63B78) of ``x``. This is the container of the
NAS-Bench-101 data files (Ying et al. 2019, "NAS-Bench-101: Towards Reproducible Neural
Architecture Search", ICML; ``nasbench_only108.tfrecord`` / ``nasbench_full.tfrecord``).

CRC32C is computed from lookup tables in NumPy, vectorised *across records*: all records of a
batch advance together, 8 bytes per step ("slicing-by-8"), so a 500 MB file is checked in
seconds without a compiled extension.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from lanas_jax.benchmarks.base import BenchmarkError

_POLY = 0x82F63B78  # CRC-32C (Castagnoli), bit-reflected
_MASK_DELTA = 0xA282EAD8
#: Bytes of a frame before its data: the uint64 length and its uint32 CRC (record offsets in
#: error messages are the frame's, ``data start - HEADER_BYTES``).
HEADER_BYTES = 12
_FOOTER = 4  # uint32 data CRC
# Records whose CRCs are computed together: small enough that the active records' next bytes
# stay in cache (1 << 11 measured fastest on a 2-core CPU, ~1 s per 100 MB).
_BATCH = 1 << 11


class TFRecordError(BenchmarkError):
    """A TFRecord file is truncated or fails a CRC check (the message names file and offset)."""


def _tables() -> np.ndarray:
    """``[8, 256]`` uint32 slicing-by-8 tables: ``t[k][b]`` = CRC of byte ``b`` then ``k`` zeros."""
    t = np.zeros((8, 256), np.uint32)
    for b in range(256):
        crc = b
        for _ in range(8):
            crc = (crc >> 1) ^ (_POLY if crc & 1 else 0)
        t[0, b] = crc
    for k in range(1, 8):
        prev = t[k - 1]
        t[k] = (prev >> 8) ^ t[0][prev & 0xFF]
    return t


_T = _tables()
_T0_LIST = [int(x) for x in _T[0]]


def crc32c(data: bytes) -> int:
    """CRC-32C of one byte string (plain Python; for short inputs and tests)."""
    crc = 0xFFFFFFFF
    table = _T0_LIST
    for b in bytes(data):
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def mask_crc(crc):
    """TFRecord's masked CRC (works on ints and uint32 arrays)."""
    if isinstance(crc, np.ndarray):
        c = crc.astype(np.uint32)
        rot = (c >> np.uint32(15)) | (c << np.uint32(17))
        return (rot.astype(np.uint64) + _MASK_DELTA).astype(np.uint32)
    crc &= 0xFFFFFFFF
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def crc32c_many(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """CRC-32C of many byte ranges ``buf[starts[i] : starts[i] + lengths[i]]`` at once.

    Args:
      buf: 1-D uint8 array (e.g. a whole file).
      starts, lengths: ``[R]`` integer arrays.

    Returns:
      ``[R]`` uint32 CRCs (unmasked).
    """
    buf = np.ascontiguousarray(buf, np.uint8).reshape(-1)
    starts = np.asarray(starts, np.int64).reshape(-1)
    lengths = np.asarray(lengths, np.int64).reshape(-1)
    out = np.empty(starts.shape[0], np.uint32)
    if starts.size == 0:
        return out
    # 8-byte windows at every offset (a view, no copy); row i is buf[i : i + 8].
    # Blocks are only read where 8 bytes of the range remain, so no padding is needed.
    windows = np.lib.stride_tricks.as_strided(
        buf, shape=(max(buf.size - 7, 0), 8), strides=(1, 1), writeable=False
    )
    order = np.argsort(-lengths, kind="stable")  # longest first: active records are a prefix
    for lo in range(0, order.size, _BATCH):
        idx = order[lo : lo + _BATCH]
        out[idx] = _crc_batch(windows, buf, starts[idx], lengths[idx])
    return out


def _crc_batch(windows, buf, starts, lengths) -> np.ndarray:
    """CRCs of one batch, ``lengths`` sorted in decreasing order."""
    t = _T
    crc = np.full(starts.shape[0], 0xFFFFFFFF, np.uint32)
    blocks = lengths // 8
    # Number of records with at least j + 1 full blocks, for every j (lengths are descending).
    active_blocks = np.searchsorted(-blocks, -np.arange(1, int(blocks[0]) + 1), side="right")
    m8 = np.uint32(0xFF)
    for j, k in enumerate(active_blocks):
        w = windows[starts[:k] + 8 * j].view("<u4")  # [k, 2]: bytes 0-3 and 4-7 of the block
        c = crc[:k] ^ w[:, 0]
        hi = w[:, 1]
        crc[:k] = (
            t[7][c & m8]
            ^ t[6][(c >> 8) & m8]
            ^ t[5][(c >> 16) & m8]
            ^ t[4][c >> 24]
            ^ t[3][hi & m8]
            ^ t[2][(hi >> 8) & m8]
            ^ t[1][(hi >> 16) & m8]
            ^ t[0][hi >> 24]
        )
    # The remaining 0-7 bytes of every record, one byte per step.
    tail = lengths - 8 * blocks
    pos = starts + 8 * blocks
    for b in range(7):
        sel = np.flatnonzero(tail > b)
        if sel.size == 0:
            break
        byte = buf[pos[sel] + b].astype(np.uint32)
        crc[sel] = t[0][(crc[sel] ^ byte) & m8] ^ (crc[sel] >> 8)
    return crc ^ np.uint32(0xFFFFFFFF)


def index_records(buf: np.ndarray, path: str | os.PathLike = "<buffer>") -> tuple[
    np.ndarray, np.ndarray
]:
    """Walk the framing of a TFRecord byte buffer and verify both CRCs of every record.

    Args:
      buf: the file's bytes as a 1-D uint8 array.
      path: named in error messages.

    Returns:
      ``(starts, lengths)``: int64 ``[R]`` offsets and sizes of the records' data.

    Raises:
      TFRecordError: naming the file and byte offset of a truncated record, a length whose
        CRC does not match, or data whose CRC does not match.
    """
    buf = np.asarray(buf, np.uint8).reshape(-1)
    raw = memoryview(buf)
    size = buf.size
    starts: list[int] = []
    lengths: list[int] = []
    unpack = struct.Struct("<Q").unpack_from
    pos = 0
    # The walk is sequential (each length locates the next record); the length CRCs are
    # checked below, vectorised, but a wild length must not send the walk astray first, so
    # a record that runs past the end is checked on its own before reporting truncation.
    while pos < size:
        if pos + HEADER_BYTES > size:
            raise TFRecordError(
                f"{path}: truncated record at byte {pos}: {size - pos} bytes left, a record "
                f"header needs {HEADER_BYTES}"
            )
        (n,) = unpack(raw, pos)
        end = pos + HEADER_BYTES + n + _FOOTER
        if end > size:
            _check_length_crc(buf, pos, path)
            raise TFRecordError(
                f"{path}: truncated record at byte {pos}: it declares {n} data bytes but the "
                f"file ends {size - pos - HEADER_BYTES} bytes after its header"
            )
        starts.append(pos + HEADER_BYTES)
        lengths.append(n)
        pos = end
    s = np.asarray(starts, np.int64)
    n = np.asarray(lengths, np.int64)
    if s.size == 0:
        return s, n
    heads = s - HEADER_BYTES
    # Length CRCs: the 8 length bytes of every record.
    want = buf[heads[:, None] + np.arange(8, 12)].copy().view("<u4").reshape(-1)
    got = mask_crc(crc32c_many(buf, heads, np.full_like(heads, 8)))
    bad = np.flatnonzero(got != want)
    if bad.size:
        i = int(bad[0])
        raise TFRecordError(
            f"{path}: corrupt record {i} at byte {int(heads[i])}: the length field fails its "
            f"CRC32C check ({bad.size} record(s) affected)"
        )
    foot = s + n
    want = buf[foot[:, None] + np.arange(4)].copy().view("<u4").reshape(-1)
    got = mask_crc(crc32c_many(buf, s, n))
    bad = np.flatnonzero(got != want)
    if bad.size:
        i = int(bad[0])
        raise TFRecordError(
            f"{path}: corrupt record {i} at byte {int(heads[i])}: its {int(n[i])} data bytes "
            f"fail their CRC32C check ({bad.size} record(s) affected)"
        )
    return s, n


def _check_length_crc(buf: np.ndarray, pos: int, path) -> None:
    want = int(buf[pos + 8 : pos + 12].copy().view("<u4")[0])
    if mask_crc(crc32c(buf[pos : pos + 8].tobytes())) != want:
        raise TFRecordError(
            f"{path}: corrupt record at byte {pos}: the length field fails its CRC32C check"
        )


def read_file(path: str | os.PathLike) -> np.ndarray:
    """A file's bytes as a uint8 array, with a BenchmarkError-typed message when unreadable."""
    p = Path(path)
    if not p.exists():
        raise TFRecordError(f"{p}: no such file")
    if p.is_dir():
        raise TFRecordError(f"{p}: is a directory, not a TFRecord file")
    try:
        return np.fromfile(p, dtype=np.uint8)
    except OSError as e:
        raise TFRecordError(f"{p}: cannot be read ({e})") from None


def read_records(path: str | os.PathLike) -> list[bytes]:
    """Every record's data of a TFRecord file, CRC-checked (see :func:`index_records`)."""
    buf = read_file(path)
    starts, lengths = index_records(buf, path)
    raw = buf.tobytes()
    return [raw[s : s + n] for s, n in zip(starts.tolist(), lengths.tolist(), strict=True)]


def frame_records(records: Iterable[bytes]) -> bytes:
    """The TFRecord file content holding ``records`` (CRCs computed vectorised)."""
    records = [bytes(r) for r in records]
    if not records:
        return b""
    lengths = np.array([len(r) for r in records], np.int64)
    data = np.frombuffer(b"".join(records), np.uint8)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    data_crc = mask_crc(crc32c_many(data, starts, lengths))
    len_bytes = lengths.astype("<u8").view(np.uint8).reshape(-1, 8)
    len_crc = mask_crc(crc32c_many(len_bytes.reshape(-1), np.arange(lengths.size) * 8,
                                   np.full(lengths.size, 8)))
    parts = []
    for r, lb, lc, dc in zip(records, len_bytes, len_crc.astype("<u4"), data_crc.astype("<u4"),
                             strict=True):
        parts += [lb.tobytes(), lc.tobytes(), r, dc.tobytes()]
    return b"".join(parts)


def write_records(path: str | os.PathLike, records: Iterable[bytes]) -> None:
    """Write ``records`` as a TFRecord file (for tests and synthetic benchmarks)."""
    Path(path).write_bytes(frame_records(records))
