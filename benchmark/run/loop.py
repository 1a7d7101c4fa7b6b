"""The loop's primitives, shared by the Trainer, the linear probe and ``python -m benchmark.bench``:
batches of a split in a given order (read ahead by a thread or decoded in workers), the on-device
normaliser, one training epoch and one prediction pass. Nothing here knows a run's config or its
records, so ``linear`` and the bench import it without importing the training loop.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

import methods
from benchmark.data.store import ArrayImages, ImageStore, Subset


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite: the run is recorded as diverged with this message and
    ``evidence`` (the batch and the loss)."""

    def __init__(self, message: str, *, batch: int | None = None, loss: float | None = None) -> None:
        super().__init__(message)
        self.evidence = {"batch": batch, "loss": str(loss)}


def stops_early(patience: int, epochs_since_best: int) -> bool:
    """The stopping rule: stop after ``patience`` epochs without a strictly better validation mAP
    (the paper's patience is 1: the first non-improving epoch); patience 0 never stops early."""
    return patience > 0 and epochs_since_best >= patience


def stops(rule: tuple[str, float], epochs_since_best: int, best_val: float, val: float) -> bool:
    """A named stopping rule (``methods.base.Recipe.stop_rule``) after an epoch: ``patience`` K
    (``stops_early``), ``none``, or ``drop`` D: the validation mAP is more than D points below the best."""
    kind, value = rule
    if kind == "patience":
        return stops_early(int(value), epochs_since_best)
    return kind == "drop" and best_val - val > value


def augmenter(names: Sequence[str], generator: torch.Generator) -> Callable[[torch.Tensor], torch.Tensor]:
    """The recipe's augmentations (``methods.base.AUGMENTATIONS``) as torchvision v2 transforms on a
    uint8 batch, drawn per image. torchvision draws from the global RNG: each batch runs under a
    fork of it seeded from ``generator`` (the run's, checkpointed), so a run stays reproducible and
    resumable and the global stream is left as it was."""
    from torchvision.transforms import v2  # why: only a run with augmentations pays for importing it

    # Cutout (ASL's CutoutPIL, half the side) as RandomErasing of a quarter-area square, filled with 0
    made = {"randaugment": v2.RandAugment, "cutout": lambda: v2.RandomErasing(1.0, (0.25, 0.25), (1.0, 1.0), 0)}
    transform = v2.Compose([made[n]() for n in names])

    def apply(x: torch.Tensor) -> torch.Tensor:
        seed = int(torch.randint(2**62, (), generator=generator))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return torch.stack([transform(image) for image in x])

    return apply


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device '{name}' requested but CUDA is not available; use device 'auto' or 'cpu'")
    return device


class _Batches(torch.utils.data.Dataset):
    def __init__(self, store: ImageStore, batches: list[np.ndarray]) -> None:
        self.store, self.batches = store, batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.store.load(self.batches[i]), torch.from_numpy(self.batches[i])


def _is_decoded(store: Any) -> bool:
    """Whether ``store``'s rows are already decoded arrays (a copy per batch, no decoding)."""
    while isinstance(store, Subset):
        store = store.base
    return isinstance(store, ArrayImages)


_END = object()


def _prefetched(
    store: ImageStore, batches: list[np.ndarray], depth: int, pin: bool
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Batches gathered (and pinned) by one background thread, ``depth`` ahead: for decoded
    stores, where a batch is a memory copy (numpy releases the GIL) and worker processes would
    only add start-up and inter-process copies."""
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for b in batches:
                x = store.load(b)
                if not put(((x.pin_memory() if pin else x), torch.from_numpy(b))):
                    return
            put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            put(exc)

    thread = threading.Thread(target=work, name="batch-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def iterate(
    store: ImageStore, order: np.ndarray, batch_size: int, num_workers: int = 0, pin: bool = False
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(uint8 images, indices) in the given order. With ``num_workers`` > 0: a decoded store is
    read ahead by a thread, any other store is decoded in that many DataLoader workers."""
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if num_workers == 0:
        for b in batches:
            x = store.load(b)
            yield (x.pin_memory() if pin else x), torch.from_numpy(b)
        return
    if _is_decoded(store):
        yield from _prefetched(store, batches, depth=num_workers + 1, pin=pin)
        return
    # the loader's own generator: its workers' base seed would otherwise be drawn from the global
    # RNG, so a run would train differently with workers than without (loading draws no randomness)
    loader = torch.utils.data.DataLoader(
        _Batches(store, batches),
        batch_size=None,
        shuffle=False,
        num_workers=num_workers,
        pin_memory=pin,
        persistent_workers=False,
        generator=torch.Generator().manual_seed(0),
    )
    yield from loader


class Normalizer:
    """uint8 → float on the device, optional horizontal flip, mean/std normalisation."""

    def __init__(
        self, mean: tuple[float, ...], std: tuple[float, ...], device: torch.device, channels_last: bool
    ) -> None:
        self.mean = torch.tensor(mean, device=device).view(1, -1, 1, 1) * 255.0
        self.std = torch.tensor(std, device=device).view(1, -1, 1, 1) * 255.0
        self.device = device
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def __call__(self, x: torch.Tensor, flip: torch.Tensor | None = None) -> torch.Tensor:
        """``flip``: a CPU bool ``[b]`` (read on the host, so no device sync)."""
        # the layout change is done on uint8 (a quarter of the bytes); the float ops keep it
        x = x.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
        if flip is not None and bool(flip.any()):
            flip = flip.to(self.device, non_blocking=True)
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
        x = (x.float() - self.mean) / self.std
        return x.contiguous(memory_format=self.memory_format)  # a no-op where the ops kept the layout


# -- one epoch, one prediction pass ----------------------------------------------------------------
@dataclass
class EpochSums:
    """Device-side sums of a training epoch (read once at its end: no per-batch host sync)."""

    loss: torch.Tensor
    observed_pos_loss: torch.Tensor
    num_observed_pos: torch.Tensor


def train_epoch(
    model: nn.Module,
    method: methods.Method,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    normalize: Callable[..., torch.Tensor],
    store: ImageStore,
    observed: torch.Tensor,
    order: np.ndarray,
    flips: torch.Tensor | None,
    *,
    batch_size: int,
    num_workers: int = 0,
    pin: bool = False,
    autocast: Callable[[], AbstractContextManager[Any]],
    describe: Callable[[int, float], str] = lambda step, loss: f"loss is {loss} at batch {step}",
    forward: Callable[[torch.Tensor], torch.Tensor] | None = None,
    check_every: int | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
) -> EpochSums:
    """Train ``model`` for one pass over ``store`` in ``order``. ``observed`` lives on the device;
    ``flips`` is a CPU bool per training image. A non-finite loss raises ``NonFiniteLossError``
    with ``describe(batch, loss)``: checked every batch on the CPU, every ``check_every`` batches
    (default 50) and at the end on an accelerator, where each check is a host-device sync.
    ``scheduler``: stepped after every optimiser step (a recipe's one-cycle schedule)."""
    device = observed.device
    forward = model if forward is None else forward
    every = check_every if check_every is not None else (1 if device.type == "cpu" else 50)
    sums = EpochSums(*(torch.zeros((), device=device, dtype=torch.float64) for _ in range(3)))
    first_bad = torch.full((), -1, device=device, dtype=torch.int64)
    bad_loss = torch.zeros((), device=device)

    def check() -> None:
        step = int(first_bad)
        if step >= 0:
            raise NonFiniteLossError(describe(step, float(bad_loss)), batch=step, loss=float(bad_loss))

    for step, (x, idx_cpu) in enumerate(iterate(store, order, batch_size, num_workers, pin)):
        idx = idx_cpu.to(device, non_blocking=True)
        flip = None if flips is None else flips[idx_cpu]
        inputs = normalize(x, flip)
        with autocast():
            logits = forward(inputs)
        logits = logits.float()
        labels = method.batch_labels(observed[idx], idx)
        loss = method.loss(logits, labels, index=idx, model=model)
        new_bad = ~torch.isfinite(loss) & (first_bad < 0)
        first_bad = torch.where(new_bad, torch.full_like(first_bad, step), first_bad)
        bad_loss = torch.where(new_bad, loss.detach().float(), bad_loss)
        if (step + 1) % every == 0:
            check()
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        if scheduler is not None:
            scheduler.step()
        with torch.no_grad():
            sums.loss += loss.detach() * len(idx_cpu)
            # the loss of annotated labels (-log p on observed positives): the paper's curve;
            # a mask product rather than boolean indexing, which would sync on the device
            is_pos = (observed[idx] == 1).to(logits.dtype)
            sums.observed_pos_loss += (nn.functional.softplus(-logits.detach()) * is_pos).sum()
            sums.num_observed_pos += is_pos.sum()
    check()
    return sums


@torch.no_grad()
def forward_all(
    model: nn.Module,
    store: ImageStore,
    normalize: Callable[..., torch.Tensor],
    fn: Callable[[torch.Tensor], torch.Tensor],
    *,
    batch_size: int,
    num_workers: int = 0,
    pin: bool = False,
    autocast: Callable[[], AbstractContextManager[Any]],
) -> torch.Tensor:
    """``fn`` over a whole split in eval mode, accumulated on the device (float32)."""
    was_training = model.training
    model.eval()
    outs = []
    for x, _ in iterate(store, np.arange(len(store)), batch_size, num_workers, pin):
        with autocast():
            outs.append(fn(normalize(x)).float())
    model.train(was_training)
    return torch.cat(outs)


__all__ = [
    "EpochSums",
    "NonFiniteLossError",
    "Normalizer",
    "augmenter",
    "forward_all",
    "iterate",
    "resolve_device",
    "stops",
    "train_epoch",
]
