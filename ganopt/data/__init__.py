"""Real image data for the image problems: the bundled MNIST digits and checked IDX files."""

from .mnist import (
    BUNDLED_PATH,
    IDX_FILES,
    DataFileError,
    DataFileMissing,
    Digits,
    load_bundled,
    load_digits,
    load_idx_split,
    read_idx,
    stratified_split,
)

__all__ = [
    "BUNDLED_PATH", "IDX_FILES", "DataFileError", "DataFileMissing", "Digits", "load_bundled",
    "load_digits", "load_idx_split", "read_idx", "stratified_split",
]
