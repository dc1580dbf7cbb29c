"""Inputs: expanding paths, globs, directories and fsspec URIs into files of known formats."""

from __future__ import annotations

import os
from dataclasses import dataclass

import fsspec
import xxhash

from winnow.lake.errors import UsageError

from winnow.ingest.readers import READERS
from winnow.ingest.readers.base import COMPRESSIONS

FINGERPRINT_CHUNK = 8 << 20


class InputError(UsageError):
    """An input that cannot be read at all (missing, unreadable, unknown format)."""


@dataclass(frozen=True)
class Input:
    uri: str  # as fsspec opens it
    format: str  # a key of READERS
    size: int | None
    source: str  # the default source name of its documents


def _split(name: str) -> tuple[str, str]:
    """(name without a compression suffix, that suffix or ""), lower case."""
    base = name.lower()
    for c in COMPRESSIONS:
        if base.endswith(c):
            return base[: -len(c)], c
    return base, ""


def format_of(name: str) -> str | None:
    """The format of a file, by its suffixes (`x.jsonl.zst` -> "jsonl"), or None."""
    base, compression = _split(name)
    for reader in READERS.values():
        if base.endswith(reader.suffixes) and (not compression or compression in reader.compressions):
            return reader.name
    return None


def source_name(name: str) -> str:
    """A file's default source: its name without format and compression suffixes."""
    base = os.path.basename(name.rstrip("/"))
    lower, compression = _split(base)
    base = base[: len(base) - len(compression)]
    suffix = next((s for r in READERS.values() for s in r.suffixes if lower.endswith(s)), "")
    base = base[: len(base) - len(suffix)]
    return base or "unnamed"


def expand(specs: list[str]) -> tuple[list[Input], list[str], list[str]]:
    """(inputs, errors, passed_over): each spec is a file, a directory (walked), or a glob.

    Files named directly must have a known format (else an error); files found inside a
    directory with an unknown format are passed over and listed.
    """
    inputs: list[Input] = []
    errors: list[str] = []
    passed_over: list[str] = []
    for spec in specs:
        fs, path = fsspec.core.url_to_fs(spec)
        if "://" not in spec:
            path = os.path.normpath(os.path.abspath(path))
        protocol = spec.split("://", 1)[0] + "://" if "://" in spec else ""
        if fs.isdir(path):
            source = source_name(path)
            for found in sorted(fs.find(path)):
                _add(fs, protocol, found, source, inputs, passed_over.append)
        elif any(ch in path for ch in "*?["):
            matches = sorted(fs.glob(path))
            if not matches:
                errors.append(f"{spec}: no file matches")
            for found in matches:
                _add(fs, protocol, found, None, inputs, passed_over.append)
        elif fs.exists(path):
            _add(fs, protocol, path, None, inputs, lambda p: errors.append(f"{p}: unknown format"))
        else:
            errors.append(f"{spec}: no such file or directory")
    return inputs, errors, passed_over


def _add(fs, protocol, path, source, inputs, unknown) -> None:
    uri = path if not protocol or protocol == "file://" else protocol + path
    fmt = format_of(path)
    if fmt is None:
        unknown(uri)
        return
    inputs.append(Input(uri=uri, format=fmt, size=fs.size(path), source=source or source_name(path)))


def fingerprint(uri: str) -> str:
    """xxh3-128 of the input's bytes: the same bytes under another name are the same input."""
    h = xxhash.xxh3_128()
    with fsspec.open(uri, "rb") as f:
        while chunk := f.read(FINGERPRINT_CHUNK):
            h.update(chunk)
    return h.hexdigest()
