"""A user's own tabular dataset as a CSV file (``load_dataset("csv:PATH")``).

Seed 001 Sec. 5.1 ran MLPNAS on "Wine-Quality" and "10 Speakers", which are not bundled here;
a user runs them (or any table) from their own file. Rules: one example a row, cells separated
by commas, semicolons or tabs (detected by :class:`csv.Sniffer`; UCI's ``winequality-red.csv``
is read as downloaded, quoted ``;``-separated header and all);
an optional header row (a first row with any non-numeric feature cell is taken as the header);
every feature cell numeric; the label in column ``label_column`` (default the last). Labels
may be numbers or strings: the distinct values, sorted, become classes ``0..K-1``. The file is
one pool, split like ``digits`` (a seeded permutation: test, validation, training). Every
problem is a :class:`DatasetError` naming the file, the row and what is wrong.
"""

from __future__ import annotations

import csv
import io
import os

import numpy as np

from lanas_jax.data.splits import DatasetError

_DELIMITERS = ",;\t"


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def load_csv(path: str, label_column: int = -1) -> tuple[np.ndarray, np.ndarray, str]:
    """``(x float32 [N, D], y int32 [N], source)`` of a CSV file (see the module doc)."""
    if not os.path.isfile(path):
        raise DatasetError(f"csv:{path}: no such file")
    try:
        with open(path, newline="") as f:
            text = f.read()
    except UnicodeDecodeError:
        raise DatasetError(f"csv:{path}: not a text file (it is not UTF-8)") from None
    try:
        dialect = csv.Sniffer().sniff(text[: 1 << 16], delimiters=_DELIMITERS)
    except csv.Error:  # one column, or no separator it can tell: read as commas
        dialect = csv.excel
    try:
        rows = [r for r in csv.reader(io.StringIO(text), dialect) if any(c.strip() for c in r)]
    except csv.Error as e:
        raise DatasetError(f"csv:{path}: unreadable as CSV ({e})") from None
    if not rows:
        raise DatasetError(f"csv:{path}: empty file")
    width = len(rows[0])
    if width < 2:
        raise DatasetError(f"csv:{path}: needs at least one feature and a label column, "
                           f"got {width} column(s)")
    if not -width <= label_column < width:
        raise DatasetError(f"csv:{path}: label column {label_column} outside its {width} "
                           f"columns")
    col = label_column % width

    def features(r):
        return [c for j, c in enumerate(r) if j != col]

    header = not all(_is_number(c) for c in features(rows[0]))
    body = rows[1:] if header else rows
    if not body:
        raise DatasetError(f"csv:{path}: a header but no data rows")
    x = np.empty((len(body), width - 1), np.float32)
    labels = []
    for i, r in enumerate(body, start=2 if header else 1):
        if len(r) != width:
            raise DatasetError(f"csv:{path}: row {i} has {len(r)} cells, expected {width}")
        try:
            x[len(labels)] = [float(c) for c in features(r)]
        except ValueError:
            raise DatasetError(f"csv:{path}: row {i} has a non-numeric feature cell") from None
        labels.append(r[col].strip())
    if not np.isfinite(x).all():
        raise DatasetError(f"csv:{path}: features contain NaN or inf")
    numeric = all(_is_number(v) for v in labels)
    classes = sorted(set(labels), key=float if numeric else str)
    if len(classes) < 2:
        raise DatasetError(f"csv:{path}: the label column holds one class only")
    index = {c: k for k, c in enumerate(classes)}
    y = np.array([index[v] for v in labels], np.int32)
    return x, y, f"csv file {path} (label column {col}, classes {classes[:10]})"
