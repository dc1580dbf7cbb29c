"""A stand-in for the Hugging Face Hub's filesystem (`hf://`), which the tests cannot reach:
fsspec's own DirFileSystem over the local folder named by WINNOW_HUB_ROOT, so that
`hf://datasets/ORG/NAME/...` is `$WINNOW_HUB_ROOT/datasets/ORG/NAME/...`. A test registers it
for the `hf` protocol the way a package registers a filesystem (an `fsspec.specs` entry
point), so every process of a command, its workers included, opens `hf://` with it."""

from __future__ import annotations

import os

from fsspec.implementations.dirfs import DirFileSystem
from fsspec.implementations.local import LocalFileSystem


class LocalHub(DirFileSystem):
    protocol = "hf"

    def __init__(self, **storage_options):
        super().__init__(path=os.environ["WINNOW_HUB_ROOT"], fs=LocalFileSystem(), **storage_options)
