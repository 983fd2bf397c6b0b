"""The digit loader on real files (bundled, Fashion-MNIST IDX) and on broken ones."""

import gzip
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from ganopt.data import (
    DataFileError,
    DataFileMissing,
    load_bundled,
    load_digits,
    load_idx_split,
    read_idx,
    stratified_split,
)

FASHION = Path("/usr/share/datasets/fashion-mnist")
needs_fashion = pytest.mark.skipif(not FASHION.is_dir(), reason=f"{FASHION} absent: apt-get install -y dataset-fashion-mnist")


def write_idx(folder: Path, split: str, images: np.ndarray, labels: np.ndarray, gz: bool = False) -> None:
    names = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
             "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}[split]
    image_bytes = struct.pack(">IIII", 0x803, len(images), 28, 28) + images.astype(np.uint8).tobytes()
    label_bytes = struct.pack(">II", 0x801, len(labels)) + labels.astype(np.uint8).tobytes()
    for name, data in zip(names, (image_bytes, label_bytes)):
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)


@pytest.fixture
def small(tmp_path):
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (5, 28, 28)), np.array([0, 1, 2, 3, 9])
    write_idx(tmp_path, "train", images, labels)
    return tmp_path, images, labels


def test_the_bundled_digits_are_5000_with_500_per_class():
    d = load_bundled()
    assert d.images.shape == (5000, 28, 28) and d.images.dtype == np.uint8
    assert np.bincount(d.labels).tolist() == [500] * 10
    assert d.images.max() == 255 and 0.0 <= d.floats().min() and d.floats().max() == 1.0


def test_the_stratified_split_holds_out_100_per_class_the_same_every_time():
    labels = load_bundled().labels
    train, held = stratified_split(labels, 100, seed=0)
    assert np.bincount(labels[held]).tolist() == [100] * 10
    assert len(np.intersect1d(train, held)) == 0 and len(train) + len(held) == 5000
    assert np.array_equal(held, stratified_split(labels, 100, seed=0)[1])


@needs_fashion
@pytest.mark.parametrize("split,count", [("train", 60000), ("test", 10000)])
def test_fashion_mnist_idx_files_load_and_match_the_published_checksums(split, count):
    d = load_idx_split(FASHION, split)
    assert d.source == "fashion-mnist" and d.images.shape == (count, 28, 28)
    assert np.bincount(d.labels).tolist() == [count // 10] * 10


@needs_fashion
def test_an_official_file_with_one_changed_byte_fails_its_checksum(tmp_path):
    data = bytearray(gzip.decompress((FASHION / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    data[100] = (data[100] + 1) % 10  # still a valid label: only the checksum can tell
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(bytes(data))
    with pytest.raises(DataFileError, match="t10k-labels-idx1-ubyte: checksum mismatch"):
        read_idx(tmp_path / "t10k-labels-idx1-ubyte", "labels")
    labels, source = read_idx(tmp_path / "t10k-labels-idx1-ubyte", "labels", verify_checksum=False)
    assert source == "idx" and len(labels) == 10000


def test_own_idx_files_load_with_the_checksum_check_off(small):
    folder, images, labels = small
    d = load_idx_split(folder, "train", verify_checksum=False)
    assert np.array_equal(d.images, images) and np.array_equal(d.labels, labels)
    with pytest.raises(DataFileError, match="train-images-idx3-ubyte: checksum mismatch"):
        load_idx_split(folder, "train")


def test_gzipped_idx_files_load(tmp_path):
    write_idx(tmp_path, "test", np.zeros((3, 28, 28)), np.array([1, 2, 3]), gz=True)
    assert load_idx_split(tmp_path, "test", verify_checksum=False).labels.tolist() == [1, 2, 3]


def test_a_truncated_image_file_names_the_file_and_the_sizes(small):
    folder = small[0]
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataFileError, match=r"train-images-idx3-ubyte: truncated: the header announces 5 images"):
        load_idx_split(folder, "train", verify_checksum=False)


def test_a_truncated_header_and_a_truncated_gzip_are_errors(tmp_path):
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08")
    with pytest.raises(DataFileError, match="truncated header"):
        read_idx(tmp_path / "t10k-labels-idx1-ubyte", "labels", verify_checksum=False)
    blob = gzip.compress(struct.pack(">II", 0x801, 1000) + bytes(1000))
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataFileError, match=r"t10k-labels-idx1-ubyte.gz: truncated gzip"):
        read_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", "labels", verify_checksum=False)


def test_bad_magic_wrong_size_labels_and_count_mismatch_are_errors(small):
    folder = small[0]
    labels = folder / "train-labels-idx1-ubyte"
    good = labels.read_bytes()
    labels.write_bytes(struct.pack(">I", 0x803) + good[4:])
    with pytest.raises(DataFileError, match="bad magic number 0x00000803, expected 0x00000801"):
        load_idx_split(folder, "train", verify_checksum=False)
    labels.write_bytes(good[:-1] + b"\x0c")
    with pytest.raises(DataFileError, match="label 12 outside 0..9"):
        load_idx_split(folder, "train", verify_checksum=False)
    labels.write_bytes(struct.pack(">II", 0x801, 4) + good[8:12])
    with pytest.raises(DataFileError, match="4 labels for 5 images"):
        load_idx_split(folder, "train", verify_checksum=False)
    images = folder / "train-images-idx3-ubyte"
    images.write_bytes(struct.pack(">IIII", 0x803, 1, 32, 32) + bytes(1024))
    with pytest.raises(DataFileError, match="images are 32x32, expected 28x28"):
        read_idx(images, "images", verify_checksum=False)


def test_missing_files_and_folders_are_file_not_found_errors_naming_them(small, tmp_path):
    folder = small[0]
    (folder / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match=r"train-labels-idx1-ubyte: file not found \(nor train-labels-idx1-ubyte.gz\)"):
        load_idx_split(folder, "train", verify_checksum=False)
    with pytest.raises(DataFileMissing, match="data folder not found"):
        load_idx_split(tmp_path / "nowhere", "test")
    assert issubclass(DataFileMissing, ValueError)


def test_a_folder_named_like_an_idx_file_gives_way_to_the_gz_beside_it(small):
    folder, images, _ = small
    (folder / "train-images-idx3-ubyte").rename(folder / "raw")
    (folder / "train-images-idx3-ubyte").mkdir()  # as some archives unpack
    with pytest.raises(DataFileMissing, match="train-images-idx3-ubyte: is a folder, not the IDX file"):
        load_idx_split(folder, "train", verify_checksum=False)
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress((folder / "raw").read_bytes()))
    assert np.array_equal(load_idx_split(folder, "train", verify_checksum=False).images, images)


@needs_fashion
def test_a_copied_official_gzip_is_accepted_by_content(tmp_path):
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(FASHION / name, tmp_path / name)
    assert load_idx_split(tmp_path, "test").source == "fashion-mnist"


def test_the_data_cache_follows_the_files(small):
    folder, images, labels = small
    first = load_digits(folder, "train", False)
    assert load_digits(folder, "train", False) is first  # read once while the files stay the same
    write_idx(folder, "train", 255 - images, labels)
    os.utime(folder / "train-images-idx3-ubyte", ns=(1, 1))  # a distinct modification time
    again = load_digits(folder, "train", False)
    assert np.array_equal(again.images, 255 - images) and again.sha256 != first.sha256
