"""The record format of NAS-Bench-101's official files: reading the five JSON columns and the
final metrics out of many records at once (naming the record and byte offset of any fault), and
writing records (for tests, benchmarks and synthetic files).

Each record is the UTF-8 JSON list ``[module_hash, epochs, raw_adjacency, raw_operations,
raw_metrics]``; ``raw_metrics`` is a base64 ``ModelMetrics`` protobuf
(:mod:`lanas_jax.benchmarks.nb101_metrics`). Byte offsets in messages are those of the TFRecord
frame (:mod:`lanas_jax.benchmarks.tfrecord`), 12 bytes before the data.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from lanas_jax.benchmarks.base import BenchmarkError
from lanas_jax.benchmarks.nb101_metrics import (
    EvaluationData,
    MetricsError,
    ModelMetrics,
    encode_model_metrics,
    final_metrics,
    final_metrics_many,
)
from lanas_jax.benchmarks.tfrecord import HEADER_BYTES, write_records

# Records parsed per json.loads call (one JSON array per chunk is far faster than one call per
# record; a chunk that fails is re-parsed record by record to name the culprit).
_JSON_CHUNK = 50_000


def record_at(index: int, start, module_hash=None) -> str:
    """``record i (byte b)`` or ``record i (byte b, module hash h)``: a record in an error
    message, ``b`` its frame's offset in the file (``start`` is where its data begins)."""
    extra = "" if module_hash is None else f", module hash {module_hash}"
    return f"record {index} (byte {int(start) - HEADER_BYTES}{extra})"


def row_message(e: ValueError, first: np.ndarray, starts: np.ndarray, hashes) -> str:
    """Turn parse_cells' "row k: ..." into the record index, offset and hash."""
    msg = str(e)
    head, sep, rest = msg.partition(": ")
    if sep and head.startswith("row ") and head[4:].isdigit():
        i = int(first[int(head[4:])])
        return f"{record_at(i, starts[i], hashes[i])}: {rest}"
    return msg


def json_rows(p: Path, raw: bytes, starts: np.ndarray, lengths: np.ndarray):
    """The five columns of the JSON rows, type-checked."""
    cols: tuple[list, ...] = ([], [], [], [], [])
    s_list = starts.tolist()
    e_list = (starts + lengths).tolist()
    for lo in range(0, len(s_list), _JSON_CHUNK):
        hi = min(lo + _JSON_CHUNK, len(s_list))
        pieces = [raw[s:e] for s, e in zip(s_list[lo:hi], e_list[lo:hi], strict=True)]
        try:
            parsed = json.loads(b"[" + b",".join(pieces) + b"]")
            if not isinstance(parsed, list) or len(parsed) != len(pieces):
                raise ValueError("record boundaries do not match")
        except ValueError:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            parsed = [_one_row(p, piece, lo + k, s_list[lo + k]) for k, piece in
                      enumerate(pieces)]
        for k, row in enumerate(parsed):
            if not (isinstance(row, list) and len(row) == 5):
                _bad_row(p, lo + k, s_list[lo + k], row)
        for c, col in enumerate(zip(*parsed, strict=True)):
            cols[c].extend(col)
    hashes, epochs, adjacency, operations, metrics = cols
    checks = (
        ("module_hash", hashes, "a 32-character hex string",
         lambda c: _types(c) == {str} and set(map(len, c)) == {32} and "".join(c).isascii()),
        ("epochs", epochs, "a positive integer",
         lambda c: _types(c) == {int} and min(c) > 0),
        ("raw_adjacency", adjacency, "a string", lambda c: _types(c) == {str}),
        ("raw_operations", operations, "a string", lambda c: _types(c) == {str}),
        ("raw_metrics", metrics, "a string", lambda c: _types(c) == {str}),
    )
    for name, col, what, ok in checks:
        if not ok(col):  # find the culprit (the fast checks above run in C)
            i = next(k for k, x in enumerate(col) if not ok([x]))
            raise BenchmarkError(
                f"{p}: {record_at(i, s_list[i])}: {name} must be {what}, got "
                f"{_short(col[i])}"
            )
    return cols


def _types(col) -> set[type]:
    return set(map(type, col))


def _one_row(p: Path, piece: bytes, index: int, start: int):
    try:
        return json.loads(piece.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise BenchmarkError(
            f"{p}: {record_at(index, start)} is not UTF-8 text ({e.reason})"
        ) from None
    except json.JSONDecodeError as e:
        raise BenchmarkError(
            f"{p}: {record_at(index, start)} is not valid JSON ({e.msg} at character "
            f"{e.pos}): {_short(piece)}"
        ) from None


def _bad_row(p: Path, index: int, start: int, row) -> None:
    if isinstance(row, list) and len(row) == 4:
        detail = "4 fields: the metrics are missing"
    else:
        detail = f"got {_short(row)}"
    raise BenchmarkError(
        f"{p}: {record_at(index, start)} must be the JSON list [module_hash, epochs, "
        f"raw_adjacency, raw_operations, raw_metrics]; {detail}"
    )


def _short(x, limit: int = 80) -> str:
    text = repr(x)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def decode_metrics(p: Path, metrics: Sequence[str], starts: np.ndarray, hashes):
    """Final (validation, test, training time, parameters) of every record, vectorised."""
    a2b = binascii.a2b_base64
    try:
        blobs = [a2b(text, strict_mode=True) for text in metrics]
    except binascii.Error:
        for i, text in enumerate(metrics):
            try:
                a2b(text, strict_mode=True)
            except binascii.Error as e:
                raise BenchmarkError(
                    f"{p}: {record_at(i, starts[i], hashes[i])}: raw_metrics is not valid "
                    f"base64 ({e})"
                ) from None
        raise
    lengths = np.fromiter(map(len, blobs), np.int64, len(blobs))
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    buf = np.frombuffer(b"".join(blobs), np.uint8)
    val, test, ttime, params, bad = final_metrics_many(buf, offsets, lengths)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        try:
            final_metrics(blobs[i])
            reason = "unreadable ModelMetrics"
        except MetricsError as e:
            reason = str(e)
        if not blobs[i]:
            reason = "raw_metrics is empty (missing metrics)"
        raise BenchmarkError(
            f"{p}: {record_at(i, starts[i], hashes[i])}: bad "
            f"ModelMetrics in raw_metrics: {reason} ({int(bad.sum())} record(s) affected)"
        )
    return val, test, ttime, params


# ------------------------------------------------------------------------------ writing


def nb101_record(
    module_hash: str,
    epochs: int,
    raw_adjacency: str,
    raw_operations: str,
    metrics: ModelMetrics | bytes,
) -> bytes:
    """One record's data in the official format (for tests and synthetic files)."""
    blob = metrics if isinstance(metrics, bytes) else encode_model_metrics(metrics)
    row = [module_hash, int(epochs), raw_adjacency, raw_operations,
           base64.b64encode(blob).decode("ascii")]
    return json.dumps(row).encode("utf-8")


def training_run(
    validation: float,
    test: float,
    epochs: int = 108,
    *,
    train: float = 1.0,
    training_time: float = 1000.0,
    parameters: int = 1_000_000,
) -> ModelMetrics:
    """A ``ModelMetrics`` shaped like the official ones: evaluations at the start, half-way and
    end of training (the last holds the given accuracies)."""
    evals = tuple(
        EvaluationData(
            current_epoch=float(epochs * f),
            training_time=training_time * f,
            train_accuracy=train if f == 1 else 0.1 + 0.5 * f,
            validation_accuracy=validation if f == 1 else 0.1 + 0.5 * f,
            test_accuracy=test if f == 1 else 0.1 + 0.5 * f,
        )
        for f in (0.0, 0.5, 1.0)
    )
    return ModelMetrics(evals, int(parameters), training_time * 1.1)


def write_nb101(path: str | os.PathLike, records: Iterable[bytes]) -> None:
    """Write records (see :func:`nb101_record`) as a TFRecord file."""
    write_records(path, records)


__all__ = [
    "decode_metrics",
    "json_rows",
    "nb101_record",
    "record_at",
    "row_message",
    "training_run",
    "write_nb101",
]
