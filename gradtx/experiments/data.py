"""Offline datasets for the experiments: scikit-learn's digits and IDX files (MNIST format).

Nothing here downloads. Every loader returns a `Dataset` of NumPy arrays:
images flattened to float32 vectors scaled to [0, 1], labels as int32 class indices.

* `load_digits` — scikit-learn's bundled 8×8 digits (1797 images), split
  into train and test sets;
* `read_idx` — one IDX file (the format of MNIST and Fashion-MNIST), plain or
  gzip-compressed;
* `load_mnist_idx` — the four standard MNIST files from a folder;
* `load_fashion_mnist` — the same from Debian's ``dataset-fashion-mnist`` package;
* `load_dataset` — one of the above by name.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import zlib
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from gradtx._optional import optional_import

__all__ = [
    "Dataset",
    "DATASETS",
    "FASHION_MNIST_DIR",
    "load_dataset",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist_idx",
    "read_idx",
]

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
"""Where Debian's ``dataset-fashion-mnist`` package installs its IDX files."""

DATASETS = ("digits", "fashion-mnist", "mnist")
"""The names `load_dataset` accepts."""


class Dataset(NamedTuple):
    """A classification dataset as NumPy arrays.

    ``x_train``/``x_test``: float32 of shape ``(n, features)`` with values in [0, 1];
    ``y_train``/``y_test``: int32 class indices in ``0 .. num_classes - 1``;
    ``image_shape``: the shape of one image before flattening.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    image_shape: tuple[int, ...]


_DIGITS_FILE = ("datasets", "data", "digits.csv.gz")
"""Where, inside the installed scikit-learn, its digits are kept: 1797 rows of 64 pixels
and the label."""


def _bundled_digits() -> tuple[np.ndarray, np.ndarray]:
    """The pixels and labels of scikit-learn's digits file, read directly when it is where
    scikit-learn keeps it (importing scikit-learn takes most of a second), else by
    ``sklearn.datasets.load_digits``."""
    spec = importlib.util.find_spec("sklearn")
    roots = spec.submodule_search_locations if spec is not None else None
    for root in roots or []:
        path = Path(root).joinpath(*_DIGITS_FILE)
        if path.is_file():
            table = np.loadtxt(path, delimiter=",")
            if table.shape == (1797, 65):
                return table[:, :64], table[:, 64]
    with optional_import("sklearn", "load_digits"):
        from sklearn.datasets import load_digits as sklearn_digits
    bunch = sklearn_digits()
    return bunch.data, bunch.target


def load_digits(test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """scikit-learn's bundled handwritten digits: 1797 8×8 images, 10 classes.

    Pixels (0 … 16) are scaled to [0, 1]. A seeded random permutation puts
    ``round(test_fraction · 1797)`` images in the test set. Needs scikit-learn
    (``pip install 'gradtx[examples]'``), whose file it reads; no download.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"load_digits: test_fraction must be in (0, 1), got {test_fraction!r}")
    pixels, labels = _bundled_digits()
    x = (pixels / 16.0).astype(np.float32)
    y = labels.astype(np.int32)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = round(test_fraction * len(x))
    test, train = order[:n_test], order[n_test:]
    return Dataset("digits", x[train], y[train], x[test], y[test], 10, (8, 8))


# IDX: magic = 0x00 0x00 <type code> <ndim>, then ndim big-endian uint32 sizes, then the data.
_IDX_TYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(f"{path}: corrupt gzip data ({err})") from err


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file (plain or gzip-compressed, recognised by its content).

    The header is two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16,
    0x0C int32, 0x0D float32, 0x0E float64), the number of dimensions and one
    big-endian uint32 size per dimension; the data follow in C order.

    Raises:
      FileNotFoundError: ``path`` does not exist.
      ValueError: the file is not IDX (bad magic, unknown type code, no dimensions),
        is truncated, has bytes beyond the data, or is corrupt gzip; the message
        names the file and what was wrong.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise ValueError(f"{path}: truncated IDX header: {len(raw)} bytes, need at least 4")
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(
            f"{path}: bad IDX magic number {raw[:4].hex()}: the first two bytes must be 0"
        )
    code, ndim = raw[2], raw[3]
    if code not in _IDX_TYPES:
        accepted = ", ".join(f"0x{c:02x}" for c in _IDX_TYPES)
        raise ValueError(f"{path}: bad IDX magic: unknown type code 0x{code:02x} ({accepted})")
    if ndim == 0:
        raise ValueError(f"{path}: bad IDX magic: the number of dimensions is 0")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(
            f"{path}: truncated IDX header: {len(raw)} bytes, need {header} for {ndim} dimensions"
        )
    shape = tuple(int(s) for s in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = _IDX_TYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(raw) - header
    if found < expected:
        raise ValueError(
            f"{path}: truncated IDX data: the header declares shape {shape} "
            f"({expected} bytes of {dtype}), the file has {found}"
        )
    if found > expected:
        raise ValueError(
            f"{path}: IDX size mismatch: the header declares shape {shape} "
            f"({expected} bytes of {dtype}), the file has {found - expected} bytes more"
        )
    data = np.frombuffer(raw, dtype, count=expected // dtype.itemsize, offset=header)
    return data.reshape(shape).astype(dtype.newbyteorder("="))


# Standard file stems; some mirrors write "train-images.idx3-ubyte" instead.
_MNIST_STEMS = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def _find_idx(data_dir: Path, stem: str) -> Path:
    dotted = stem.replace("-idx", ".idx")
    candidates = [data_dir / f"{s}{ext}" for s in (stem, dotted) for ext in ("", ".gz")]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    tried = ", ".join(c.name for c in candidates)
    raise FileNotFoundError(f"no {stem} file in {data_dir} (looked for {tried})")


def load_mnist_idx(data_dir: str | os.PathLike[str], name: str = "mnist") -> Dataset:
    """The four standard IDX files of MNIST (or anything in its format) from ``data_dir``.

    Looks for ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each plain or with
    ``.gz`` (and the ``train-images.idx3-ubyte`` spelling). Images are scaled by 1/255.
    Raises ``FileNotFoundError`` naming the folder and the files it looked for, and
    ``ValueError`` naming the file when a file is corrupt or images and labels disagree.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"{name}: data directory not found: {data_dir}")
    paths = {key: _find_idx(data_dir, stem) for key, stem in _MNIST_STEMS.items()}
    arrays = {key: read_idx(path) for key, path in paths.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"x_{split}"], arrays[f"y_{split}"]
        x_path, y_path = paths[f"x_{split}"], paths[f"y_{split}"]
        if images.ndim != 3:
            raise ValueError(
                f"{x_path}: expected images of shape (n, rows, cols), got {images.shape}"
            )
        if labels.ndim != 1:
            raise ValueError(f"{y_path}: expected labels of shape (n,), got {labels.shape}")
        if len(images) != len(labels):
            raise ValueError(
                f"{x_path} has {len(images)} images but {y_path} has {len(labels)} labels"
            )
    num_classes = int(max(arrays["y_train"].max(initial=0), arrays["y_test"].max(initial=0))) + 1
    image_shape = tuple(arrays["x_train"].shape[1:])

    def pixels(a: np.ndarray) -> np.ndarray:
        return (a.reshape(len(a), -1) / 255.0).astype(np.float32)

    return Dataset(
        name,
        pixels(arrays["x_train"]),
        arrays["y_train"].astype(np.int32),
        pixels(arrays["x_test"]),
        arrays["y_test"].astype(np.int32),
        num_classes,
        image_shape,
    )


def load_fashion_mnist(data_dir: str | os.PathLike[str] = FASHION_MNIST_DIR) -> Dataset:
    """Fashion-MNIST (60k/10k 28×28 images, 10 classes) from its IDX files.

    The default folder is where Debian's package puts them
    (``apt-get install dataset-fashion-mnist``); the error says so when it is missing.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(
            f"fashion-mnist: data directory not found: {data_dir}; install Debian's package "
            f"with `apt-get install dataset-fashion-mnist` (it puts the files in "
            f"{FASHION_MNIST_DIR}) or pass the folder that holds the four IDX files"
        )
    return load_mnist_idx(data_dir, name="fashion-mnist")


def load_dataset(name: str, data_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """A dataset by name: ``"digits"`` (bundled, ``data_dir`` unused), ``"fashion-mnist"``
    (``data_dir`` defaults to `FASHION_MNIST_DIR`) or ``"mnist"`` (``data_dir``
    required: the folder of its four IDX files)."""
    if name == "digits":
        return load_digits()
    if name == "fashion-mnist":
        return load_fashion_mnist(FASHION_MNIST_DIR if data_dir is None else data_dir)
    if name == "mnist":
        if data_dir is None:
            raise ValueError("load_dataset: 'mnist' needs data_dir, the folder of its IDX files")
        return load_mnist_idx(data_dir)
    accepted = ", ".join(repr(d) for d in DATASETS)
    raise ValueError(f"load_dataset: name must be one of {accepted}, got {name!r}")
