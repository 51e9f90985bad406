"""Tabular benchmarks: the embedded NAS-Bench-201 tables, user ``.npz`` tables and the user's
NAS-Bench-101 file.

``load_benchmark(spec)`` accepts an embedded name (:data:`EMBEDDED`), a path ending in ``.npz``
(see :mod:`lanas_jax.benchmarks.npz` for the keys) or ``nb101:/path/to/nasbench.tfrecord``
(see :func:`load_benchmark` for its options and :mod:`lanas_jax.benchmarks.nb101`).
"""

from __future__ import annotations

from urllib.parse import parse_qs

from lanas_jax.benchmarks.base import Benchmark, BenchmarkError, from_arrays, take_rows
from lanas_jax.benchmarks.convnet import EMBEDDED as _CONVNET_EMBEDDED
from lanas_jax.benchmarks.convnet import is_present as _convnet_present
from lanas_jax.benchmarks.convnet import load_convnet
from lanas_jax.benchmarks.nb101 import load_nb101
from lanas_jax.benchmarks.nb201 import load_nb201
from lanas_jax.benchmarks.npz import load_npz

#: The benchmarks shipped with the package: NAS-Bench-201 (Dong & Yang 2020) and the ConvNet
#: tables this project trained (LaNAS Sec. 2 space, :mod:`lanas_jax.benchmarks.convnet`) whose
#: file is present in ``benchmarks/data``.
EMBEDDED: tuple[str, ...] = (
    "nb201_cifar10", "nb201_cifar100", "nb201_imagenet16",
    *(name for name in _CONVNET_EMBEDDED if _convnet_present(name)),
)

__all__ = [
    "EMBEDDED",
    "Benchmark",
    "BenchmarkError",
    "from_arrays",
    "list_benchmarks",
    "load_benchmark",
    "load_convnet",
    "load_nb101",
    "load_nb201",
    "load_npz",
    "seed_kendall",
    "take_rows",
]


#: The prefix of a NAS-Bench-101 spec, ``nb101:/path/to/file.tfrecord[?options]``.
NB101_PREFIX = "nb101:"
_NB101_OPTIONS = ("epochs", "encoding", "cache_dir")


def load_benchmark(
    spec: str,
    *,
    nb101_epochs: int | None = None,
    nb101_encoding: str | None = None,
    nb101_cache_dir: str | None = None,
) -> Benchmark:
    """An embedded benchmark by name, a user table from a ``.npz`` path, or NAS-Bench-101.

    NAS-Bench-101 (Ying et al. 2019) is read from the user's copy of the official file:
    ``nb101:/path/nasbench_only108.tfrecord`` (a bare path ending in ``.tfrecord`` works too),
    with options as a query string or as the ``nb101_*`` keyword arguments:

    * ``epochs`` (default 108): the training budget, 4/12/36/108 in ``nasbench_full.tfrecord``;
    * ``encoding`` (default ``lanas49``): ``lanas49``, ``vaenas26`` or ``onehot56``;
    * ``cache_dir`` (default: next to the file): where the packed cache goes.

    e.g. ``nb101:/data/nasbench_full.tfrecord?epochs=36&encoding=vaenas26``. An option given
    both ways must agree.

    Raises:
      ValueError: when ``spec`` is none of these (the message lists the accepted forms), or
        has unknown or conflicting NB101 options.
      BenchmarkError: when the file is missing or malformed (a ValueError too).
    """
    spec = str(spec)
    if spec in _CONVNET_EMBEDDED:
        return load_convnet(spec)
    if spec in EMBEDDED:
        return load_nb201(spec.removeprefix("nb201_"))
    if spec.startswith(NB101_PREFIX) or spec.lower().endswith(".tfrecord"):
        path, options = _nb101_spec(spec)
        for key, value in (("epochs", nb101_epochs), ("encoding", nb101_encoding),
                           ("cache_dir", nb101_cache_dir)):
            if value is None:
                continue
            if key in options and str(options[key]) != str(value):
                raise ValueError(
                    f"NB101 option {key}: the spec says {options[key]!r} but {value!r} was "
                    "also given"
                )
            options[key] = value
        try:
            epochs = int(options.get("epochs", 108))
        except ValueError:
            raise ValueError(f"NB101 option epochs must be an integer, got "
                             f"{options['epochs']!r}") from None
        return load_nb101(
            path,
            epochs=epochs,
            encoding=str(options.get("encoding", "lanas49")),
            cache_dir=options.get("cache_dir"),
        )
    if spec.lower().endswith(".npz"):
        return load_npz(spec)
    raise ValueError(
        f"unknown benchmark {spec!r}: give an embedded name ({', '.join(EMBEDDED)}), "
        "the path of a .npz table (keys: features [N, D], metric [N], optional "
        "test_metric [N], neighbors [N, K]), or nb101:/path/to/nasbench_only108.tfrecord"
        "[?epochs=108&encoding=lanas49|vaenas26|onehot56&cache_dir=DIR]"
    )


def _nb101_spec(spec: str) -> tuple[str, dict[str, str]]:
    """Split ``nb101:PATH?k=v&...`` into the path and its options."""
    body = spec.removeprefix(NB101_PREFIX)
    path, sep, query = body.rpartition("?") if "?" in body else (body, "", "")
    options: dict[str, str] = {}
    if sep:
        parsed = parse_qs(query, keep_blank_values=True, strict_parsing=False)
        unknown = sorted(set(parsed) - set(_NB101_OPTIONS))
        if unknown:
            raise ValueError(
                f"unknown NB101 option(s) {', '.join(unknown)} in {spec!r}; known: "
                f"{', '.join(_NB101_OPTIONS)}"
            )
        options = {k: v[-1] for k, v in parsed.items()}
    if not path:
        raise ValueError(f"{spec!r}: give the NAS-Bench-101 file, e.g. "
                         "nb101:/data/nasbench_only108.tfrecord")
    return path, options


def list_benchmarks() -> list[tuple[str, int, int, float]]:
    """``(name, size, dim, optimum)`` of every embedded benchmark (optimum of the search metric)."""
    out = []
    for name in EMBEDDED:
        b = load_benchmark(name)
        out.append((name, b.size, b.dim, b.optimum))
    return out


def seed_kendall(name: str) -> float | None:
    """Kendall tau between the training seeds of an embedded table built by training (how far
    its ranking is the seeds' luck; :func:`lanas_jax.benchmarks.convnet.reliability`), None
    for a table that records no seeds."""
    if name not in _CONVNET_EMBEDDED:
        return None
    from lanas_jax.benchmarks.convnet import embedded_reliability

    rel = embedded_reliability(name)
    return None if rel is None else float(rel["kendall"])
