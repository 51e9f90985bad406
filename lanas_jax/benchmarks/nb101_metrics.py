"""NAS-Bench-101's ``ModelMetrics`` protocol buffer, decoded and encoded without protobuf.

The NAS-Bench-101 data files (Ying et al. 2019, ICML) store the metrics of one training run as a
base64 string of this proto2 message (google-research/nasbench, ``nasbench/lib/
model_metrics.proto``)::

    message ModelMetrics {
      repeated EvaluationData evaluation_data = 1;   // checkpoints; the last one ends training
      optional int32 trainable_parameters = 2;
      optional double total_time = 3;
    }
    message EvaluationData {
      optional double current_epoch = 1;
      optional double training_time = 2;
      optional double train_accuracy = 3;
      optional double validation_accuracy = 4;
      optional double test_accuracy = 5;
      optional string checkpoint_path = 6;
    }

On the wire a field is a varint key ``(field_number << 3) | wire_type`` followed by a varint
(type 0), 8 little-endian bytes (type 1, the doubles), or a varint length and that many bytes
(type 2, the sub-messages and the string). Unknown fields are skipped, as proto2 requires.
"""

from __future__ import annotations

import dataclasses
import struct

import numpy as np

_DOUBLE = struct.Struct("<d")
_EVAL_DOUBLES = ("current_epoch", "training_time", "train_accuracy", "validation_accuracy",
                 "test_accuracy")


class MetricsError(ValueError):
    """A ``ModelMetrics`` message is malformed or lacks the metrics a benchmark needs."""


@dataclasses.dataclass(frozen=True)
class EvaluationData:
    """One evaluation during training; ``None`` marks a field absent from the message."""

    current_epoch: float | None = None
    training_time: float | None = None
    train_accuracy: float | None = None
    validation_accuracy: float | None = None
    test_accuracy: float | None = None
    checkpoint_path: str | None = None


@dataclasses.dataclass(frozen=True)
class ModelMetrics:
    """The metrics of one training run; ``evaluation_data[-1]`` is the end of training."""

    evaluation_data: tuple[EvaluationData, ...] = ()
    trainable_parameters: int | None = None
    total_time: float | None = None


# ------------------------------------------------------------------------------- decoding


def _varint(b: bytes, pos: int) -> tuple[int, int]:
    """The varint at ``pos`` and the position after it."""
    result = 0
    shift = 0
    n = len(b)
    while True:
        if pos >= n:
            raise MetricsError("truncated varint")
        byte = b[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise MetricsError("varint longer than 10 bytes")


def _fields(b: bytes):
    """Yield ``(field_number, wire_type, value)``; value is an int, or a ``(start, end)`` span
    of ``b`` for fixed64 (type 1) and length-delimited (type 2) fields."""
    pos = 0
    n = len(b)
    while pos < n:
        key, pos = _varint(b, pos)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise MetricsError("field number 0")
        if wire == 0:
            value, pos = _varint(b, pos)
        elif wire == 1:
            value = (pos, pos + 8)
            pos += 8
        elif wire == 2:
            length, pos = _varint(b, pos)
            value = (pos, pos + length)
            pos += length
        elif wire == 5:
            value = (pos, pos + 4)
            pos += 4
        else:
            raise MetricsError(f"unsupported wire type {wire} (field {field})")
        if pos > n:
            raise MetricsError(f"field {field} runs past the end of the message")
        yield field, wire, value


def _expect(field: int, wire: int, want: int) -> None:
    if wire != want:
        raise MetricsError(f"field {field} has wire type {wire}, expected {want}")


def _decode_evaluation(b: bytes) -> EvaluationData:
    values: dict[str, float | str] = {}
    for field, wire, value in _fields(b):
        if 1 <= field <= 5:
            _expect(field, wire, 1)
            values[_EVAL_DOUBLES[field - 1]] = _DOUBLE.unpack_from(b, value[0])[0]
        elif field == 6:
            _expect(field, wire, 2)
            try:
                values["checkpoint_path"] = b[value[0] : value[1]].decode("utf-8")
            except UnicodeDecodeError as e:
                raise MetricsError(f"checkpoint_path is not UTF-8 ({e})") from None
    return EvaluationData(**values)


def _int32(v: int) -> int:
    """A varint read as proto int32 (negative values are sign-extended to 64 bits)."""
    v &= 0xFFFFFFFFFFFFFFFF
    if v >= 1 << 63:
        v -= 1 << 64
    return int(struct.unpack("<i", struct.pack("<I", v & 0xFFFFFFFF))[0])


def decode_model_metrics(data: bytes) -> ModelMetrics:
    """Decode a serialised ``ModelMetrics`` message.

    Raises:
      MetricsError: on a malformed message (truncated field, wrong wire type of a known field).
    """
    b = bytes(data)
    evals = []
    params = None
    total = None
    for field, wire, value in _fields(b):
        if field == 1:
            _expect(field, wire, 2)
            evals.append(_decode_evaluation(b[value[0] : value[1]]))
        elif field == 2:
            _expect(field, wire, 0)
            params = _int32(value)
        elif field == 3:
            _expect(field, wire, 1)
            total = _DOUBLE.unpack_from(b, value[0])[0]
    return ModelMetrics(tuple(evals), params, total)


def final_metrics(data: bytes) -> tuple[float, float, float, int]:
    """``(validation_accuracy, test_accuracy, training_time, trainable_parameters)`` at the end
    of training (the last ``evaluation_data`` entry): the loader's fast path.

    A missing ``training_time`` reads as NaN and missing ``trainable_parameters`` as -1 (they
    are informational); missing accuracies are an error.

    Raises:
      MetricsError: when the message is malformed, has no ``evaluation_data`` or its last entry
        lacks ``validation_accuracy`` or ``test_accuracy``.
    """
    b = data if isinstance(data, bytes) else bytes(data)
    last = None
    params = -1
    for field, wire, value in _fields(b):
        if field == 1:
            _expect(field, wire, 2)
            last = value
        elif field == 2:
            _expect(field, wire, 0)
            params = _int32(value)
        elif field == 3:
            _expect(field, wire, 1)
    if last is None:
        raise MetricsError("no evaluation_data entries (missing metrics)")
    ev = b[last[0] : last[1]]
    val = test = None
    train_time = float("nan")
    for field, wire, value in _fields(ev):
        if field <= 5:
            _expect(field, wire, 1)
            if field == 4:
                val = _DOUBLE.unpack_from(ev, value[0])[0]
            elif field == 5:
                test = _DOUBLE.unpack_from(ev, value[0])[0]
            elif field == 2:
                train_time = _DOUBLE.unpack_from(ev, value[0])[0]
        elif field == 6:
            _expect(field, wire, 2)
    if val is None or test is None:
        pairs = (("validation_accuracy", val), ("test_accuracy", test))
        missing = [name for name, v in pairs if v is None]
        raise MetricsError(
            f"the final evaluation_data entry has no {' or '.join(missing)} (missing metrics)"
        )
    return val, test, train_time, params


# -------------------------------------------------------------- decoding many, vectorised

_VARINT_MAX = 10


def _varints(buf: np.ndarray, pos: np.ndarray, end: np.ndarray):
    """The varints at ``pos`` of every message: ``(values uint64, next positions, ok)``."""
    first = buf[np.minimum(pos, buf.size - 1)]
    values = first.astype(np.uint64)
    nxt = pos + 1
    multi = np.flatnonzero(first >= 0x80)  # most varints here are one byte
    ok = np.ones(pos.size, bool)
    if multi.size:
        offs = pos[multi, None] + np.arange(_VARINT_MAX)
        window = buf[np.minimum(offs, buf.size - 1)].astype(np.uint64)
        stop = window < 0x80
        ok[multi] = stop.any(axis=1)
        last = np.argmax(stop, axis=1)  # index of the final byte
        take = np.arange(_VARINT_MAX)[None, :] <= last[:, None]
        shifts = (7 * np.arange(_VARINT_MAX, dtype=np.uint64))[None, :]
        parts = np.where(take, (window & np.uint64(0x7F)) << shifts, np.uint64(0))
        values[multi] = np.bitwise_or.reduce(parts, axis=1)
        nxt[multi] = pos[multi] + last + 1
    return values, nxt, ok & (nxt <= end)


def _walk(buf: np.ndarray, pos: np.ndarray, end: np.ndarray, visit) -> np.ndarray:
    """Walk the fields of many messages ``buf[pos[i]:end[i]]`` in lock-step.

    ``visit(rows, field, wire, value, start)`` sees every field of the active messages: the
    varint value (wire type 0) and the start of the payload (types 1 and 2, whose payload ends
    at the next position). Returns the ``[R]`` bool mask of malformed messages.
    """
    pos = pos.copy()
    bad = np.zeros(pos.size, bool)
    active = np.flatnonzero(pos < end)
    while active.size:
        key, p, ok = _varints(buf, pos[active], end[active])
        field = (key >> np.uint64(3)).astype(np.int64)
        wire = (key & np.uint64(7)).astype(np.int64)
        value = np.zeros(p.size, np.uint64)
        p_var = p.copy()
        ok_var = np.ones(p.size, bool)
        has_varint = np.flatnonzero((wire == 0) | (wire == 2))
        if has_varint.size:
            value[has_varint], p_var[has_varint], ok_var[has_varint] = _varints(
                buf, p[has_varint], end[active][has_varint]
            )
        nxt = np.select(
            [wire == 0, wire == 1, wire == 2, wire == 5],
            [p_var, p + 8, p_var + value.astype(np.int64), p + 4],
            default=-1,
        )
        start = np.where(wire == 2, p_var, p)
        ok &= (wire != 2) | (value < np.uint64(1 << 31))  # no wrap-around of huge lengths
        ok &= (field > 0) & (nxt > pos[active]) & (nxt <= end[active])
        ok &= np.where((wire == 0) | (wire == 2), ok_var, True)
        visit(active[ok], field[ok], wire[ok], value[ok], start[ok])
        bad[active[~ok]] = True
        pos[active[ok]] = nxt[ok]
        active = active[ok][nxt[ok] < end[active[ok]]]
    return bad


def final_metrics_many(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> tuple[
    np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray
]:
    """:func:`final_metrics` of many messages ``buf[starts[i] : starts[i] + lengths[i]]``,
    vectorised across messages (all advance field by field together).

    Returns:
      ``(validation, test, training_time, trainable_parameters, bad)``: ``bad [R]`` marks the
      messages that are malformed or lack a final validation or test accuracy (decode one with
      :func:`final_metrics` for the reason); their other entries are meaningless.
    """
    buf = np.ascontiguousarray(buf, np.uint8).reshape(-1)
    starts = np.asarray(starts, np.int64)
    end = starts + np.asarray(lengths, np.int64)
    r = starts.size
    if buf.size == 0:
        buf = np.zeros(1, np.uint8)
    last = np.full((r, 2), -1, np.int64)
    params = np.full(r, -1, np.int64)
    wrong = np.zeros(r, bool)  # a known field with the wrong wire type

    def top(rows, field, wire, value, start):
        ev = (field == 1) & (wire == 2)
        last[rows[ev], 0] = start[ev]
        last[rows[ev], 1] = start[ev] + value[ev].astype(np.int64)
        pr = (field == 2) & (wire == 0)
        params[rows[pr]] = _int32_many(value[pr])
        wrong[rows[((field == 1) & (wire != 2)) | ((field == 2) & (wire != 0))
                   | ((field == 3) & (wire != 1))]] = True

    bad = _walk(buf, starts, end, top)
    out = np.full((r, 3), np.nan)  # training_time, validation, test
    seen = np.zeros((r, 3), bool)
    padded = np.concatenate([buf, np.zeros(8, np.uint8)])

    def inner(rows, field, wire, value, start):
        for col, number in enumerate((2, 4, 5)):
            hit = (field == number) & (wire == 1)
            idx = start[hit][:, None] + np.arange(8)
            out[rows[hit], col] = padded[idx].copy().view("<f8").reshape(-1)
            seen[rows[hit], col] = True
        wrong[rows[((field <= 5) & (wire != 1)) | ((field == 6) & (wire != 2))]] = True

    has = last[:, 0] >= 0
    inner_bad = np.zeros(r, bool)
    if has.any():
        rows = np.flatnonzero(has)
        inner_bad[rows] = _walk(buf, last[rows, 0], last[rows, 1],
                                lambda rr, *a: inner(rows[rr], *a))
    bad |= inner_bad | wrong | ~has | ~seen[:, 1] | ~seen[:, 2]
    return out[:, 1], out[:, 2], out[:, 0], params, bad


def _int32_many(v: np.ndarray) -> np.ndarray:
    """Varints read as proto int32 (the low 32 bits, two's complement)."""
    return (v & np.uint64(0xFFFFFFFF)).astype(np.uint32).view(np.int32).astype(np.int64)


# ------------------------------------------------------------------------------- encoding


def _put_varint(out: bytearray, v: int) -> None:
    v &= 0xFFFFFFFFFFFFFFFF  # negative int32 values are written as 10-byte varints
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)


def _put_double(out: bytearray, field: int, v: float | None) -> None:
    if v is not None:
        _put_varint(out, field << 3 | 1)
        out += _DOUBLE.pack(float(v))


def _put_bytes(out: bytearray, field: int, payload: bytes) -> None:
    _put_varint(out, field << 3 | 2)
    _put_varint(out, len(payload))
    out += payload


def encode_evaluation(e: EvaluationData) -> bytes:
    """Serialise one ``EvaluationData`` (absent fields are omitted)."""
    out = bytearray()
    for number, name in enumerate(_EVAL_DOUBLES, start=1):
        _put_double(out, number, getattr(e, name))
    if e.checkpoint_path is not None:
        _put_bytes(out, 6, e.checkpoint_path.encode("utf-8"))
    return bytes(out)


def encode_model_metrics(m: ModelMetrics) -> bytes:
    """Serialise a ``ModelMetrics`` message (for tests and synthetic files)."""
    out = bytearray()
    for e in m.evaluation_data:
        _put_bytes(out, 1, encode_evaluation(e))
    if m.trainable_parameters is not None:
        _put_varint(out, 2 << 3 | 0)
        _put_varint(out, int(m.trainable_parameters))
    _put_double(out, 3, m.total_time)
    return bytes(out)
