"""``tfds:NAME``: a tensorflow-datasets dataset read only from a copy prepared beforehand.

Nothing is downloaded: the builder is made with ``try_gcs=False`` and only read. A copy in the
``array_record`` format is read through ``builder.as_data_source`` (no TensorFlow needed); a copy
in tfds's default ``tfrecord`` format needs TensorFlow (``builder.as_dataset``). When reading
fails, ``builder.is_prepared()`` tells a missing copy (a clear error, no retries, no network)
from a broken one. Reading first and diagnosing after is what lets ``tfds.testing.mock_data``
(which patches the readers but not ``is_prepared``) stand in for a prepared copy in tests.
tensorflow-datasets is imported here, lazily: it is slow to import and absent on the GPU
machine.
"""

from __future__ import annotations

import numpy as np

from lanas_jax.data.splits import CARVE_RULE, DatasetError, Splits, carve_split, check_sizes


def _read_array_record(builder, keys):
    out = []
    for src in builder.as_data_source(split=["train", "test"]):
        # one record at a time: mock_data's batched __getitems__ is broken in tfds 4.9.10
        examples = [src[i] for i in range(len(src))]
        out.append(tuple(np.stack([np.asarray(ex[k]) for ex in examples]) for k in keys))
    return out


def _read_tfrecord(tfds, builder, name: str):
    try:
        import tensorflow  # noqa: F401  (tfds's tf.data reader needs it)
    except ImportError:
        raise DatasetError(
            f"tfds:{name}: the local copy is in the tfrecord format, whose reader needs "
            f"TensorFlow; install tensorflow, or prepare it again with "
            f"`tfds build {name} --file_format=array_record`") from None
    return tfds.as_numpy(builder.as_dataset(split=["train", "test"], batch_size=-1,
                                            as_supervised=True))


def _read(tfds, builder, keys, name: str):
    try:
        return _read_array_record(builder, keys)
    except NotImplementedError:  # no random-access reader: a tfrecord copy, or no copy at all
        if builder.is_prepared():
            return _read_tfrecord(tfds, builder, name)
        raise


def load_tfds(name: str, *, n_val: int, seed: int = 0, data_dir: str | None = None) -> Splits:
    """``name``'s ``train`` / ``test`` splits from a local copy; validation carved from train."""
    check_sizes(n_val, None)  # before reading a whole dataset
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise DatasetError(f"dataset 'tfds:{name}' needs tensorflow-datasets") from None
    where = data_dir or "the default tfds data_dir (~/tensorflow_datasets or $TFDS_DATA_DIR)"
    try:
        builder = tfds.builder(name, data_dir=data_dir, try_gcs=False)
    except Exception as e:  # unknown name: DatasetNotFoundError
        raise DatasetError(f"tfds:{name}: unknown dataset ({type(e).__name__}: {e})") from None
    keys = builder.info.supervised_keys
    if not keys or len(keys) != 2:
        raise DatasetError(f"tfds:{name}: no (input, label) supervised keys in its info")
    try:
        (xtr, ytr), (xte, yte) = _read(tfds, builder, keys, name)
    except DatasetError:
        raise
    except Exception as e:
        if not builder.is_prepared():
            raise DatasetError(
                f"tfds:{name}: no prepared local copy in {where}; this loader never downloads. "
                f"Prepare it first where you have network (e.g. `tfds build {name} "
                f"--file_format=array_record`), then pass --tfds_data_dir if it is not in the "
                f"default place") from None
        raise DatasetError(f"tfds:{name}: reading the local copy in {where} failed "
                           f"({type(e).__name__}: {e})") from None
    xtr, xte = (np.asarray(a, np.float32) / 255.0 for a in (xtr, xte))
    ytr, yte = (np.asarray(a, np.int32) for a in (ytr, yte))
    if xtr.ndim != 4:
        raise DatasetError(f"tfds:{name}: expected images [N, H, W, C], got {xtr.shape}")
    i_tr, i_va = carve_split(xtr.shape[0], n_val, seed)
    return Splits(f"tfds:{name}", xtr[i_tr], ytr[i_tr], xtr[i_va], ytr[i_va], xte, yte,
                  i_tr, i_va, np.arange(xte.shape[0]),
                  int(builder.info.features[keys[1]].num_classes),
                  f"tensorflow-datasets {name} (local copy, train/test splits)", seed, CARVE_RULE)
