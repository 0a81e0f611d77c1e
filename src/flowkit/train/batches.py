"""Minibatches from a tensor, a map-style ``Dataset`` or an iterable, resumable to the exact batch.

A batch source draws everything random (the shuffling and the dequantization
noise) from its own ``torch.Generator``, and its ``state``/``restore`` pair
captures that generator and the position, so a resumed run sees exactly the
batches the uninterrupted run would have seen.

* **Tensors and map-style datasets** are shuffled once per epoch with a random
  permutation and cut into global batches of ``batch_size`` (a last partial
  batch is dropped). Under DDP every process draws the same permutation and
  takes its own contiguous shard of each global batch, so the global batch
  does not depend on the number of processes.
* **Iterables** (a ``DataLoader``, a list of batches, ...) yield batches that
  are used as they come, one per step and per process (shard them yourself
  under DDP, e.g. with a ``DistributedSampler``). When one is exhausted it is
  iterated again. Resuming *replays* it: a fresh iterator skips the batches
  already used, which is exact when iterating again yields the same batches.
"""

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset, IterableDataset

from ..data.registry import get_dataset, load_dataset
from .config import TrainConfig


def _as_tensor(item: Any) -> Tensor:
    if isinstance(item, (tuple, list)) and len(item) == 1:
        item = item[0]
    if not isinstance(item, Tensor):
        raise TypeError(
            "training data must give tensors (or 1-tuples of tensors, like TensorDataset); "
            f"got {type(item).__name__}"
            + (f" of length {len(item)}" if isinstance(item, (tuple, list)) else "")
        )
    return item


class BatchSource(ABC):
    """Yields one batch per training step for this process and can save and restore its position."""

    hflip: bool = False
    """Flip each image ``(C, H, W)`` left-right with probability 1/2 (``TrainConfig.hflip``)."""

    def __init__(self, generator: torch.Generator, device: torch.device, bin_width: float | None) -> None:
        self.generator = generator
        self.device = device
        self.bin_width = bin_width

    @abstractmethod
    def next(self) -> Tensor:
        """The next batch for this process, on ``device``, floating point."""

    @abstractmethod
    def position(self) -> dict[str, Any]:
        """The JSON-ready part of the state (counters)."""

    @abstractmethod
    def seek(self, position: dict[str, Any], tensors: dict[str, Tensor]) -> None:
        """Restore the counters (and anything derived from them)."""

    def extra_tensors(self) -> dict[str, Tensor]:
        """Tensors the position needs besides the generator state."""
        return {}

    def state(self) -> tuple[dict[str, Any], dict[str, Tensor]]:
        """``(json_state, tensor_state)`` for a checkpoint."""
        return self.position(), {"generator": self.generator.get_state(), **self.extra_tensors()}

    def restore(self, position: dict[str, Any], tensors: dict[str, Tensor]) -> None:
        """Return to a state saved by [`state`][flowkit.train.batches.BatchSource.state]."""
        self.seek(position, tensors)
        self.generator.set_state(tensors["generator"])

    def _finish(self, batch: Tensor, noise_shape: tuple[int, ...] | None, lo: int, hi: int) -> Tensor:
        """Move to the device, make floating, add dequantization noise (drawn for ``noise_shape``, sliced)."""
        if not batch.is_floating_point():
            batch = batch.to(torch.get_default_dtype())
        if self.bin_width is not None:
            shape = noise_shape if noise_shape is not None else tuple(batch.shape)
            noise = torch.rand(shape, generator=self.generator, dtype=batch.dtype)[lo:hi]
            # non_blocking: a blocking copy to a GPU would make every step wait for the one before
            batch = batch + (noise - 0.5).to(batch.device, non_blocking=True) * self.bin_width
        if self.hflip:
            if batch.ndim != 4:
                raise ValueError(
                    f"hflip needs images (N, C, H, W); got batches of shape {tuple(batch.shape)}"
                )
            rows = noise_shape[0] if noise_shape is not None else batch.shape[0]
            flip = (torch.rand(rows, generator=self.generator) < 0.5)[lo:hi].to(batch.device)
            batch = torch.where(flip[:, None, None, None], batch.flip(-1), batch)
        return batch.to(self.device, non_blocking=True)


class IndexedBatches(BatchSource):
    """Shuffled global batches from a tensor ``(N, *dims)`` or a map-style dataset; this rank's shard."""

    def __init__(
        self,
        data: Tensor | Dataset[Any],
        batch_size: int,
        generator: torch.Generator,
        device: torch.device,
        bin_width: float | None = None,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        super().__init__(generator, device, bin_width)
        self.data = data
        self.size = len(data)  # type: ignore[arg-type]
        if batch_size % world_size:
            raise ValueError(
                f"batch_size {batch_size} must be divisible by the number of processes {world_size}"
            )
        if self.size < batch_size:
            raise ValueError(f"the data set has {self.size} samples, fewer than one batch of {batch_size}")
        self.batch_size = batch_size
        self.lo = rank * (batch_size // world_size)
        self.hi = self.lo + batch_size // world_size
        self.epoch = 0
        self.pos = 0
        self.perm: Tensor | None = None  # on the data tensor's device: batches index it without a copy
        self.epoch_state: Tensor | None = None

    def _new_epoch(self) -> None:
        self.epoch_state = self.generator.get_state()
        perm = torch.randperm(self.size, generator=self.generator)
        self.perm = perm.to(self.data.device, non_blocking=True) if isinstance(self.data, Tensor) else perm
        self.epoch += 1
        self.pos = 0

    def _gather(self, idx: Tensor) -> Tensor:
        if isinstance(self.data, Tensor):
            return self.data[idx]
        return torch.stack([_as_tensor(self.data[i]) for i in idx.tolist()])

    def next(self) -> Tensor:
        if self.perm is None or self.pos + self.batch_size > self.size:
            self._new_epoch()
        assert self.perm is not None
        idx = self.perm[self.pos + self.lo : self.pos + self.hi]
        self.pos += self.batch_size
        batch = self._gather(idx)
        return self._finish(batch, (self.batch_size, *batch.shape[1:]), self.lo, self.hi)

    def position(self) -> dict[str, Any]:
        return {"kind": "indexed", "epoch": self.epoch, "pos": self.pos, "size": self.size}

    def extra_tensors(self) -> dict[str, Tensor]:
        return {} if self.epoch_state is None else {"epoch_generator": self.epoch_state}

    def seek(self, position: dict[str, Any], tensors: dict[str, Tensor]) -> None:
        if position.get("kind") != "indexed" or position.get("size") != self.size:
            raise ValueError(
                f"the checkpoint's data position ({position}) does not fit this data "
                f"({self.size} samples); resume with the data the run was trained on"
            )
        self.epoch, self.pos, self.perm, self.epoch_state = 0, 0, None, None
        if "epoch_generator" in tensors:
            self.generator.set_state(tensors["epoch_generator"])
            self._new_epoch()
        self.epoch, self.pos = int(position["epoch"]), int(position["pos"])


class IterableBatches(BatchSource):
    """Batches as an iterable yields them, one per step; re-iterated when exhausted."""

    def __init__(
        self,
        data: Iterable[Any],
        generator: torch.Generator,
        device: torch.device,
        bin_width: float | None = None,
    ) -> None:
        super().__init__(generator, device, bin_width)
        self.data = data
        self.iterator: Iterator[Any] | None = None
        self.consumed = 0  # batches taken since the start of the run, over all passes

    def _pull(self) -> Any:
        if self.iterator is None:
            self.iterator = iter(self.data)
        try:
            return next(self.iterator)
        except StopIteration:
            self.iterator = iter(self.data)
            try:
                return next(self.iterator)
            except StopIteration:
                raise ValueError(
                    f"the training data yielded no more batches after {self.consumed}; pass a "
                    "re-iterable object (a list, a DataLoader), not a one-shot iterator"
                ) from None

    def next(self) -> Tensor:
        batch = _as_tensor(self._pull())
        self.consumed += 1
        return self._finish(batch, None, 0, batch.shape[0])

    def position(self) -> dict[str, Any]:
        return {"kind": "iterable", "consumed": self.consumed}

    def seek(self, position: dict[str, Any], tensors: dict[str, Tensor]) -> None:
        if position.get("kind") != "iterable":
            raise ValueError(f"the checkpoint's data position ({position}) is not that of iterable data")
        self.iterator, self.consumed = None, 0
        for _ in range(int(position["consumed"])):  # replay
            self._pull()
            self.consumed += 1


def make_batches(
    data: Any,
    batch_size: int,
    generator: torch.Generator,
    device: torch.device,
    bin_width: float | None = None,
    rank: int = 0,
    world_size: int = 1,
) -> BatchSource:
    """The batch source for ``data``: indexed for a tensor or a map-style ``Dataset``, else iterable."""
    if isinstance(data, Tensor) and data.ndim < 2:
        raise ValueError(f"a data tensor must be (N, *dims); got shape {tuple(data.shape)}")
    if isinstance(data, Tensor) or is_map_dataset(data):
        return IndexedBatches(data, batch_size, generator, device, bin_width, rank, world_size)
    if isinstance(data, Iterable):
        return IterableBatches(data, generator, device, bin_width)
    raise TypeError(
        "data must be a data-set name, a tensor (N, *dims), a map-style torch Dataset or an iterable of "
        f"batches; got {type(data).__name__}"
    )


def resolve_data(data: Any, config: TrainConfig) -> tuple[Any, dict[str, Any], float | None]:
    """Load a named data set; return ``(data, manifest data entry, dequantization bin width)``."""
    name, spec_width = config.data_name, None
    if isinstance(data, str):
        spec = get_dataset(data)
        name, spec_width = spec.name, spec.bin_width
        seed = config.seed if config.seed is not None else 0
        data = load_dataset(spec.name, config.data_size, generator=torch.Generator().manual_seed(seed))
    if config.dequantize is True:
        bin_width = spec_width
    elif config.dequantize is False:
        bin_width = None
    else:
        bin_width = float(config.dequantize)
    shape = list(data.shape[1:]) if isinstance(data, Tensor) else None
    entry = {
        "name": name,
        "bin_width": bin_width,
        "event_shape": shape,
        "dim": None if shape is None else math.prod(shape),
    }
    return data, entry, bin_width


def is_map_dataset(data: Any) -> bool:
    return isinstance(data, Dataset) and not isinstance(data, IterableDataset)
