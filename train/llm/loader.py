"""The torchtitan dataloader over materialized token shards.

Samples follow torchtitan's own text loader (hf_datasets/text_datasets.py in 0.3.0): each
document [BOS] t1 .. tn [EOS] contributes its tokens but the last as inputs and its tokens
but the first as labels, so no label crosses into the next document; these pairs are laid
end to end and cut into samples of `seq_len`. `positions` count from 0 at every document
start (torchtitan's flex and varlen attention build the document mask from them) and at
the start of every sample, for a document carried over from the previous one, so that they
never exceed `seq_len` (torchtitan does the same).

Sample j of the stream goes to data-parallel rank j % world; every rank gets the same
number of samples (a remainder of fewer than `world` samples is left out and logged), so
ranks never wait on each other at the end. The order is the materialized order in the
first epoch (a curriculum stays a curriculum) and a seeded permutation in later ones.
State is (epoch, next sample of this rank's share): resume is exact. Loader workers make
the same batches in the same order as the main process alone, across epoch boundaries too.

The shards a split reads are verified when the dataset is made (`verify`, on by default):
checksums against the manifest and token ids inside the vocabulary, so damaged shards stop
the run before its first step instead of training on wrong tokens.

    ShardDataset(Path("shards"), seq_len=1024)  # an iterable of ({"input", "positions"}, labels)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.distributed.checkpoint.stateful import Stateful
from torch.utils.data import IterableDataset, get_worker_info
from torchtitan.components.dataloader import ParallelAwareDataloader
from torchtitan.components.tokenizer import BaseTokenizer
from torchtitan.tools.logging import logger

from winnow.train.materialize.shards import Shards, ShardUsageError, open_shards
from winnow.lake.tokenizer import Tokenizer, load_tokenizer


def split_shards(n_shards: int, held_out: int, split: str) -> list[int]:
    """Which shards a split reads: the last `held_out` are the validation split, the others
    the train split; `all` reads every shard (a separate validation set: held_out unused)."""
    if split == "all":
        return list(range(n_shards))
    if split not in ("train", "validation"):
        raise ShardUsageError(f"split {split!r}: use train, validation or all")
    if not isinstance(held_out, int) or held_out < 0:
        raise ShardUsageError(f"held_out must be 0 or more, not {held_out!r}")
    if held_out > n_shards:
        raise ShardUsageError(f"{n_shards} shard(s): cannot hold out {held_out} for validation "
                              "(materialize with a smaller --shard-tokens, or hold out fewer)")
    if split == "train" and held_out == n_shards:
        raise ShardUsageError(f"{n_shards} shard(s): cannot hold out {held_out} for validation and keep any for "
                              "training (materialize with a smaller --shard-tokens)")
    if split == "validation":
        if held_out == 0:
            raise ShardUsageError("validation split asked for, but no shard is held out (held_out=0)")
        return list(range(n_shards - held_out, n_shards))
    return list(range(n_shards - held_out))


class TokenStream:
    """The (input, label, position) stream of a list of shards, addressed by item number."""

    def __init__(self, shards: Shards, which: list[int]):
        self.shards = shards
        self.which = which
        sizes = [len(shards.tokens[s]) for s in which]
        self.shard_start = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
        starts = [shards.offsets[s][:-1] + self.shard_start[i] for i, s in enumerate(which)]
        doc_start = np.concatenate(starts + [self.shard_start[-1:]]).astype(np.int64)
        lengths = np.diff(doc_start)
        items = np.maximum(lengths - 1, 0)  # a document of n tokens gives n - 1 (input, label) pairs
        self.doc_start = doc_start[:-1]
        self.item_start = np.concatenate([[0], np.cumsum(items, dtype=np.int64)])
        self.items = int(self.item_start[-1])
        self.documents = len(self.doc_start)

    def raw(self, a: int, b: int) -> np.ndarray:
        """Token ids at raw positions [a, b) of the concatenated shards."""
        parts = []
        i = int(np.searchsorted(self.shard_start, a, side="right")) - 1
        while a < b:
            end = min(b, int(self.shard_start[i + 1]))
            base = int(self.shard_start[i])
            parts.append(self.shards.tokens[self.which[i]][a - base:end - base])
            a, i = end, i + 1
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def window(self, t0: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Inputs, labels and positions of items [t0, t0 + n)."""
        t = np.arange(t0, t0 + n, dtype=np.int64)
        doc = np.searchsorted(self.item_start, t, side="right") - 1
        within = t - self.item_start[doc]
        raw = self.doc_start[doc] + within
        lo = int(raw[0])
        span = self.raw(lo, int(raw[-1]) + 2)
        rel = raw - lo
        inputs, labels = span[rel], span[rel + 1]
        # a document carried over from the previous sample restarts at 0 here
        positions = within - np.where(doc == doc[0], within[0], 0)
        return inputs, labels, positions


class ShardDataset(IterableDataset, Stateful):
    """Fixed-length samples from token shards; one rank's share, resumable exactly."""

    def __init__(self, path: str | Path, *, seq_len: int, dp_rank: int = 0, dp_world_size: int = 1,
                 split: str = "train", held_out: int = 0, infinite: bool = True, seed: int = 0,
                 tokenizer: Tokenizer | str | None = None, local_batch_size: int = 1, verify: bool = True):
        for value, what in ((seq_len, "seq_len"), (local_batch_size, "local_batch_size"), (dp_world_size, "dp_world_size")):
            if not isinstance(value, int) or value < 1:
                raise ShardUsageError(f"{what} must be a positive integer, not {value!r}")
        if not isinstance(dp_rank, int) or not 0 <= dp_rank < dp_world_size:
            raise ShardUsageError(f"dp_rank {dp_rank!r}: must be from 0 to dp_world_size - 1 ({dp_world_size - 1})")
        self.path = Path(path)
        self.shards = open_shards(self.path, tokenizer=tokenizer, verify=False)
        if self.shards.manifest.get("output") != "tokens":
            raise ShardUsageError(f"{self.path}: materialized as {self.shards.manifest.get('output')}, not tokens")
        self.split = split
        which = split_shards(len(self.shards.tokens), held_out, split)
        if verify:  # every shard this split reads: checksum and token ids, once, before the first batch
            self.shards.verify(which)
        self.stream = TokenStream(self.shards, which)
        self.seq_len, self.rank, self.world = seq_len, dp_rank, dp_world_size
        self.infinite, self.seed, self.batch = infinite, seed, local_batch_size
        self.samples = self.stream.items // seq_len
        self.per_rank = self.samples // dp_world_size
        if self.per_rank == 0:
            raise ShardUsageError(f"{self.path}: the {split} split has {self.stream.items:,} tokens, fewer than one "
                                  f"sample of {seq_len} for each of {dp_world_size} rank(s)")
        left = self.samples - self.per_rank * dp_world_size
        if dp_rank == 0:
            logger.info(f"{self.path} ({split}): {self.stream.documents:,} documents, {self.stream.items:,} tokens, "
                        f"{self.samples:,} samples of {seq_len}, {self.per_rank:,} per rank"
                        + (f", {left} left out so that ranks stay even" if left else "")
                        + f", {self.stream.items - self.samples * seq_len:,} tail tokens unused")
        self.epoch = 0
        self.next = 0
        self._order: tuple[int, np.ndarray] | None = None

    def share(self, epoch: int) -> np.ndarray:
        """This rank's sample numbers, in order, for an epoch."""
        if self._order is None or self._order[0] != epoch:
            used = self.per_rank * self.world
            order = np.arange(used) if epoch == 0 else np.random.default_rng([self.seed, epoch]).permutation(used)
            self._order = (epoch, order[self.rank::self.world])
        return self._order[1]

    def sample(self, j: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        inputs, labels, positions = self.stream.window(j * self.seq_len, self.seq_len)
        return ({"input": torch.from_numpy(inputs.astype(np.int64)),
                 "positions": torch.from_numpy(positions)},
                torch.from_numpy(labels.astype(np.int64)))

    def __iter__(self):
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info else (1, 0)
        while True:
            share = self.share(self.epoch)
            while self.next < len(share):
                i = self.next
                self.next += 1
                # with loader workers, worker w makes the batches b with b % workers == w, which
                # is the order the loader hands batches out in; b counts across epochs, so a batch
                # that spans an epoch boundary is made by one worker, as with no workers
                if ((self.epoch * self.per_rank + i) // self.batch) % workers == worker:
                    yield self.sample(int(share[i]))
            if not self.infinite:
                return
            self.epoch, self.next = self.epoch + 1, 0
            logger.warning(f"{self.path} ({self.split}): starting epoch {self.epoch} (data repeats, reshuffled)")

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "next": self.next, "samples": self.samples, "seq_len": self.seq_len}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if (state.get("samples"), state.get("seq_len")) != (self.samples, self.seq_len):
            raise ShardUsageError(f"{self.path}: the checkpoint was taken on {state.get('samples')} samples of "
                                  f"{state.get('seq_len')} tokens, these shards give {self.samples} of {self.seq_len}")
        self.epoch, self.next = state["epoch"], state["next"]


class WinnowTokenizer(BaseTokenizer):
    """torchtitan's tokenizer slot filled by winnow's tokenizer loading (tokenizer.json, a
    SentencePiece .model, an HF folder or id): the trainer builds it from `hf_assets_path`
    and the dataloader refuses shards made with another tokenizer (by sha256)."""

    @dataclass(kw_only=True, slots=True)
    class Config(BaseTokenizer.Config):
        path: str | None = None
        """The tokenizer; when unset, the trainer's hf_assets_path."""

    def __init__(self, config: Config, *, tokenizer_path: str | None = None, **kwargs):
        super().__init__()
        spec = config.path or tokenizer_path
        if not spec:
            raise ShardUsageError("no tokenizer: set hf_assets_path or tokenizer.path")
        self.tokenizer: Tokenizer = load_tokenizer(spec)
        self.sha256 = self.tokenizer.sha256
        self.bos_id, self.eos_id = self.tokenizer.bos_id, self.tokenizer.eos_id

    def encode(self, text: str, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        ids = self.tokenizer.encode_batch([text])[0]
        return ([self.bos_id] if add_bos and self.bos_id is not None else []) + list(ids) + (
            [self.eos_id] if add_eos and self.eos_id is not None else [])

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids)

    def get_vocab_size(self) -> int:
        return self.tokenizer.vocab_size


class ShardDataLoader(ParallelAwareDataloader):
    """torchtitan's dataloader over a folder of winnow token shards (`winnow materialize`)."""

    @dataclass(kw_only=True, slots=True)
    class Config(ParallelAwareDataloader.Config):
        dataset: str = "winnow-shards"
        dataset_path: str | None = None
        """The shard folder written by `winnow materialize`."""

        split: Literal["train", "validation", "all"] = "train"
        """train reads all shards but the held-out ones; validation reads only those; all reads
        every shard (`winnow train --validation`: a validation set of its own)."""

        held_out: int = 0
        """How many of the last shards are held out for validation."""

        infinite: bool = True
        """Repeat the data (reshuffled) when it runs out."""

        seed: int = 0
        """Seed of the sample order in epochs after the first."""

        verify: bool = True
        """Read the split's shards once at start: checksums against the manifest, token ids
        inside the vocabulary (~0.25 s per GB of shards from the page cache; bench/shards.py)."""

    def __init__(self, config: Config, *, dp_world_size: int, dp_rank: int, tokenizer: BaseTokenizer | None = None,
                 seq_len: int, local_batch_size: int, snapshot_every_n_steps: int | None = 1, **kwargs):
        if not config.dataset_path:
            raise ShardUsageError("dataloader.dataset_path is not set: give the shard folder written by `winnow materialize`")
        tok = getattr(tokenizer, "tokenizer", None)  # WinnowTokenizer's; else whatever sha256 it has
        tok = tok if isinstance(tok, Tokenizer) else getattr(tokenizer, "sha256", None)
        dataset = ShardDataset(
            config.dataset_path, seq_len=seq_len, dp_rank=dp_rank, dp_world_size=dp_world_size,
            split=config.split, held_out=config.held_out, infinite=config.infinite, seed=config.seed,
            tokenizer=tok, local_batch_size=local_batch_size, verify=config.verify)
        super().__init__(
            dataset, dp_rank=dp_rank, dp_world_size=dp_world_size,
            num_workers=config.num_workers, persistent_workers=config.persistent_workers,
            pin_memory=config.pin_memory, prefetch_factor=config.prefetch_factor,
            snapshot_every_n_steps=snapshot_every_n_steps, batch_size=local_batch_size)
