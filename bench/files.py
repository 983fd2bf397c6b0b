"""Files the harness writes: output folders checked before anything runs, and every report file
written atomically, so that a full disk or a kill leaves the previous file or none, never a
truncated one."""

from __future__ import annotations

import argparse
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .spec import SpecError


class WriteError(Exception):
    """Results could not be written (a full disk, a folder that went away): exit code 1, the
    finished stacks stay in the store."""


def path_arg(text: str) -> Path:
    """An argparse type: a path, never the empty string (which Path() reads as the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a path, got {text!r}")
    return Path(text)


def check_folder(path: Path, flag: str) -> None:
    """Refuse (SpecError) an output folder that cannot be written, before anything runs and
    without creating it: it is a folder or can be made in its nearest existing ancestor, and a
    file can be created there (a read-only mount, a file in the way, no permission)."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise SpecError(f"{flag} {path} exists and is not a directory")
        probe = path
    else:
        probe = next(p for p in path.absolute().parents if p.exists())
        if not probe.is_dir():
            raise SpecError(f"{flag} {path}: {probe} is not a directory")
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as e:
        raise SpecError(f"{flag} {path}: cannot write in {probe} ({e.strerror})") from None


@contextmanager
def atomic(path: Path):
    """Yield a temporary path beside `path`; when the block succeeds it replaces `path` in one
    step (os.replace), when it fails the temporary file is removed."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    with atomic(path) as tmp:
        tmp.write_text(text)


def write_csv(path: Path, frame) -> None:
    with atomic(path) as tmp:
        frame.to_csv(tmp, index=False)


def save_figure(fig, path: Path, **kwargs) -> None:
    with atomic(path) as tmp:
        fig.savefig(tmp, format=Path(path).suffix.lstrip(".") or "png", **kwargs)
