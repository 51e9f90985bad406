"""NAS-Bench-101 from its TFRecord file: framing, metrics protobuf, loading, cache and errors,
on small files written here in the official format (the real data cannot be fetched). The
cells and their encodings are tested in test_nb101_cells.py."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from binary_driver import run_calls
from nb101_files import INCEPTION, SMALL

from lanas_jax.benchmarks import BenchmarkError, load_benchmark
from lanas_jax.benchmarks import nb101 as loader
from lanas_jax.benchmarks.nb101_metrics import (
    EvaluationData,
    MetricsError,
    ModelMetrics,
    decode_model_metrics,
    encode_model_metrics,
    final_metrics,
    final_metrics_many,
)
from lanas_jax.benchmarks.tfrecord import (
    TFRecordError,
    crc32c,
    crc32c_many,
    frame_records,
    read_records,
    write_records,
)
from lanas_jax.runner import seed_keys, sweep
from lanas_jax.spaces import nb101 as sp
from lanas_jax.strategies.random_search import RandomSearch


def _cells() -> list[tuple[np.ndarray, list[str]]]:
    """INCEPTION, SMALL and SMALL's first mutations (so that neighbours exist in the table)."""
    cells = [INCEPTION, SMALL] + sp.mutations(*SMALL)[:6]
    return [(np.asarray(m, np.int8), list(o)) for m, o in cells]


def _rows(cells, budgets=(4, 108), repeats=3):
    """Records and the expected per-(hash, budget) accuracies."""
    records, expected = [], defaultdict(list)
    for k, (m, ops) in enumerate(cells):
        h = sp.module_hash(m, ops)
        adj = "".join(str(int(x)) for x in m.reshape(-1))
        for e in budgets:
            for r in range(repeats):
                val = 0.80 + 0.01 * k + 0.001 * r + (0.05 if e == 108 else 0.0)
                test = val - 0.003 * (r + 1)
                run = loader.training_run(val, test, e, training_time=100.0 + r)
                records.append(loader.nb101_record(h, e, adj, ",".join(ops), run))
                expected[h, e].append((val, test))
    return records, expected


@pytest.fixture(scope="module")
def table_file(tmp_path_factory):
    cells = _cells()
    records, expected = _rows(cells)
    path = tmp_path_factory.mktemp("nb101") / "nasbench_small.tfrecord"
    write_records(path, records)
    return path, cells, expected


def _fresh(tmp_path, records, name="t.tfrecord") -> Path:
    path = tmp_path / name
    write_records(path, records)
    return path


# ------------------------------------------------------------------------------ TFRecord


def test_crc32c_matches_the_standard_check_value_and_vectorised_form():
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C catalogue check value
    rng = np.random.default_rng(0)
    chunks = [rng.integers(0, 256, int(n), np.uint8).tobytes() for n in rng.integers(0, 40, 200)]
    lengths = np.array([len(c) for c in chunks])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    buf = np.frombuffer(b"".join(chunks), np.uint8)
    got = crc32c_many(buf, starts, lengths)
    assert got.tolist() == [crc32c(c) for c in chunks]


def test_tfrecord_round_trip(tmp_path):
    records = [b"", b"a", b"hello world" * 50, bytes(range(256))]
    path = _fresh(tmp_path, records)
    assert read_records(path) == records
    # Framing: uint64 length, then its masked CRC, the data, the data's masked CRC.
    raw = path.read_bytes()
    assert int.from_bytes(raw[:8], "little") == 0 and len(raw) == sum(16 + len(r) for r in records)


# ------------------------------------------------------------------------- metrics proto


def test_model_metrics_round_trip_and_final_entry():
    m = ModelMetrics(
        (
            EvaluationData(0.0, 0.0, 0.1, 0.1, 0.1, ""),
            EvaluationData(54.0, 500.0, 0.8, 0.7, 0.69),
            EvaluationData(108.0, 1000.5, 1.0, 0.9376, 0.9312, "gs://bucket/model.ckpt-1"),
        ),
        trainable_parameters=2_694_282,
        total_time=1200.25,
    )
    blob = encode_model_metrics(m)
    assert decode_model_metrics(blob) == m
    assert final_metrics(blob) == (0.9376, 0.9312, 1000.5, 2_694_282)
    # Unknown fields are skipped; a negative int32 survives its 10-byte varint.
    neg = encode_model_metrics(dataclasses.replace(m, trainable_parameters=-5))
    assert decode_model_metrics(neg + b"\x7a\x02\x01\x02").trainable_parameters == -5


def test_vectorised_metrics_agree_with_the_scalar_decoder():
    rng = np.random.default_rng(1)
    blobs = []
    for i in range(60):
        n = int(rng.integers(0, 4))
        evals = tuple(
            EvaluationData(
                validation_accuracy=float(rng.random()) if rng.random() < 0.9 else None,
                test_accuracy=float(rng.random()) if rng.random() < 0.9 else None,
                training_time=float(rng.random()),
                checkpoint_path="x" * int(rng.integers(0, 200)),
            )
            for _ in range(n)
        )
        blob = encode_model_metrics(ModelMetrics(evals, int(rng.integers(0, 10**7)), 1.0))
        if i % 7 == 3 and blob:
            blob = blob[: len(blob) // 2]  # truncated
        blobs.append(blob)
    lengths = np.array([len(b) for b in blobs])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    val, test, ttime, params, bad = final_metrics_many(
        np.frombuffer(b"".join(blobs), np.uint8), starts, lengths
    )
    for i, blob in enumerate(blobs):
        try:
            ref = final_metrics(blob)
        except MetricsError:
            assert bad[i]
            continue
        assert not bad[i]
        assert (val[i], test[i], ttime[i], params[i]) == ref


# ------------------------------------------------------------------------------ loader


def test_load_values_and_names(table_file, tmp_path):
    path, cells, expected = table_file
    bench = loader.load_nb101(path, 108, cache_dir=tmp_path)
    hashes = sorted({sp.module_hash(*c) for c in cells})
    assert bench.name == "nb101_108" and bench.size == len(hashes) and bench.dim == 49
    assert [bench.space.hash(i) for i in range(bench.size)] == hashes  # rows sorted by hash
    for i, h in enumerate(hashes):
        vals = np.array(expected[h, 108])
        assert np.isclose(float(bench.metric[i]), vals[:, 0].mean(), atol=1e-7)
        assert np.isclose(float(bench.test_metric[i]), vals[:, 1].mean(), atol=1e-7)
    b4 = loader.load_nb101(path, 4, "vaenas26", cache_dir=tmp_path)
    assert b4.name == "nb101_4" and b4.dim == 26
    assert np.allclose(np.asarray(bench.metric) - np.asarray(b4.metric), 0.05, atol=1e-6)
    assert bench.has_test and "mean of 3" in bench.metric_name
    assert bench.describe(0).startswith(hashes[0])


def test_neighbors_are_the_mutations_in_the_table(table_file, tmp_path):
    path, cells, _ = table_file
    bench = loader.load_nb101(path, cache_dir=tmp_path)
    row = {bench.space.hash(i): i for i in range(bench.size)}
    nb = np.asarray(bench.neighbors)
    for i in range(bench.size):
        want = {row[h] for h in map(lambda c: sp.module_hash(*c),
                                    sp.mutations(*bench.space.cell(i))) if h in row}
        assert set(nb[i][nb[i] >= 0].tolist()) == want
    small = row[sp.module_hash(*SMALL)]
    assert (nb[small] >= 0).sum() == 6  # its six mutations are in the table


def test_cache_is_used_and_invalidated(tmp_path):
    records, _ = _rows(_cells()[:3], budgets=(108,))
    path = _fresh(tmp_path, records)
    cache = loader.cache_path(path)
    assert cache.parent == path.parent
    t1 = loader.read_nb101(path)
    assert not t1.from_cache and cache.is_file()
    t2 = loader.read_nb101(path)
    assert t2.from_cache
    assert np.array_equal(t1.validation, t2.validation)
    assert np.array_equal(t1.neighbors, t2.neighbors)
    # A changed source (new mtime) rebuilds the cache.
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert not loader.read_nb101(path).from_cache
    assert loader.read_nb101(path).from_cache
    # A damaged cache is rebuilt, never trusted.
    cache.write_bytes(b"not an npz")
    assert not loader.read_nb101(path).from_cache
    # cache_dir puts it elsewhere.
    other = tmp_path / "caches"
    assert not loader.read_nb101(path, cache_dir=other).from_cache
    assert loader.read_nb101(path, cache_dir=other).from_cache
    assert len(list(other.iterdir())) == 1


def test_load_benchmark_specs(table_file, tmp_path):
    path, _, _ = table_file
    b = load_benchmark(f"nb101:{path}?epochs=4&encoding=onehot56&cache_dir={tmp_path}")
    assert b.name == "nb101_4" and b.dim == 56
    b = load_benchmark(str(path), nb101_encoding="vaenas26", nb101_cache_dir=str(tmp_path))
    assert b.name == "nb101_108" and b.dim == 26
    with pytest.raises(ValueError, match="also given"):
        load_benchmark(f"nb101:{path}?epochs=4", nb101_epochs=108)
    with pytest.raises(ValueError, match="unknown NB101 option"):
        load_benchmark(f"nb101:{path}?epoch=4")
    with pytest.raises(ValueError, match="unknown NB101 encoding"):
        load_benchmark(f"nb101:{path}?encoding=bits")


def test_search_binary_runs_on_a_user_file(table_file, tmp_path):
    path, cells, _ = table_file
    out = tmp_path / "out"
    (result,) = run_calls("experiments.search", [[
        f"--benchmark=nb101:{path}", "--nb101_encoding=vaenas26", f"--cache_dir={tmp_path}",
        "--algo=random,lanas", "--seeds=3", "--budget=0", "--lanas_init=2", "--lanas_selects=2",
        "--lanas_height=2", f"--output_dir={out}"]], tmp_path)
    assert result["error"] is None, result
    entries = json.loads((out / "results.json").read_text())
    assert [e["benchmark"] for e in entries] == ["nb101_108"] * 2
    assert all(e["budget"] == len(cells) for e in entries)
    # Random search's samples to the optimum are the library's on the same file and seeds
    # (catches another encoding, row order or seed derivation), and the optimum is printed
    # as its cell.
    bench = load_benchmark(f"nb101:{path}", nb101_encoding="vaenas26",
                           nb101_cache_dir=str(tmp_path))
    metric = np.asarray(sweep(RandomSearch(), bench, seed_keys(0, 3), bench.size).metric)
    assert entries[0]["samples_to_optimum"] == [
        int(np.argmax(row >= bench.optimum)) + 1 for row in metric]
    assert bench.describe(int(bench.optimum_indices[0])) in result["stdout"]
    assert "ops=input," in result["stdout"]
    assert loader.cache_path(path, tmp_path).exists()  # --cache_dir was used


# ------------------------------------------------------------------------------ errors


def _good_records():
    return _rows(_cells()[:2], budgets=(108,), repeats=1)[0]


def test_missing_file(tmp_path):
    with pytest.raises(BenchmarkError, match="no such file"):
        loader.load_nb101(tmp_path / "absent.tfrecord")


def test_bad_data_crc_names_the_record_and_offset(tmp_path):
    records = _good_records()
    raw = bytearray(frame_records(records))
    second = 16 + len(records[0])  # byte offset of record 1
    raw[second + 12 + 5] ^= 0x01  # one bit of record 1's data
    path = tmp_path / "bad_crc.tfrecord"
    path.write_bytes(bytes(raw))
    with pytest.raises(TFRecordError, match=rf"corrupt record 1 at byte {second}: .* data bytes"):
        loader.load_nb101(path)


def test_bad_length_crc(tmp_path):
    raw = bytearray(frame_records(_good_records()))
    raw[9] ^= 0xFF  # the length CRC of record 0
    path = tmp_path / "bad_len.tfrecord"
    path.write_bytes(bytes(raw))
    with pytest.raises(TFRecordError, match="record 0 at byte 0: the length field"):
        loader.load_nb101(path)


def test_truncated_record(tmp_path):
    raw = frame_records(_good_records())
    path = tmp_path / "trunc.tfrecord"
    path.write_bytes(raw[:-3])
    with pytest.raises(TFRecordError, match="truncated record at byte"):
        loader.load_nb101(path)
    path.write_bytes(raw + b"\x01\x02")
    with pytest.raises(TFRecordError, match="truncated record"):
        loader.load_nb101(path)


def test_bad_json(tmp_path):
    records = _good_records()
    records[1] = records[1][:-5]  # cut inside the JSON, CRCs still right
    path = _fresh(tmp_path, records)
    with pytest.raises(BenchmarkError, match="record 1 .* is not valid JSON"):
        loader.load_nb101(path)


def test_missing_metrics(tmp_path):
    records = _good_records()
    row = json.loads(records[1])
    path = _fresh(tmp_path, [records[0], json.dumps(row[:4]).encode()])
    with pytest.raises(BenchmarkError, match="record 1 .* the metrics are missing"):
        loader.load_nb101(path)
    no_eval = base64.b64encode(encode_model_metrics(ModelMetrics((), 5, 1.0))).decode()
    path = _fresh(tmp_path, [records[0], json.dumps(row[:4] + [no_eval]).encode()])
    with pytest.raises(BenchmarkError, match="record 1 .*no evaluation_data"):
        loader.load_nb101(path)
    partial = ModelMetrics((EvaluationData(108.0, 1.0, 1.0, validation_accuracy=0.9),), 5, 1.0)
    blob = base64.b64encode(encode_model_metrics(partial)).decode()
    path = _fresh(tmp_path, [records[0], json.dumps(row[:4] + [blob]).encode()])
    with pytest.raises(BenchmarkError, match="has no test_accuracy"):
        loader.load_nb101(path)
    path = _fresh(tmp_path, [records[0], json.dumps(row[:4] + ["***"]).encode()])
    with pytest.raises(BenchmarkError, match="not valid base64"):
        loader.load_nb101(path)


def test_absent_epochs_lists_the_present_ones(table_file, tmp_path):
    path, _, _ = table_file
    msg = "no records at epochs=36; the file holds epochs 4, 108"
    with pytest.raises(BenchmarkError, match=msg):
        loader.load_nb101(path, 36, cache_dir=tmp_path)


def test_malformed_cells_are_named(tmp_path):
    records = _good_records()
    row = json.loads(records[1])
    row[2] = "0" * 25  # 5 vertices, no edges: the output is unreachable
    path = _fresh(tmp_path, [records[0], json.dumps(row).encode()])
    with pytest.raises(BenchmarkError, match=f"record 1 .*{row[0]}.* not a valid NAS-Bench-101"):
        loader.load_nb101(path)
    row[2] = "0" * 24
    path = _fresh(tmp_path, [records[0], json.dumps(row).encode()])
    with pytest.raises(BenchmarkError, match="record 1 .*not a V x V matrix"):
        loader.load_nb101(path)
