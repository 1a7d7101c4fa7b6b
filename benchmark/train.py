"""The training loop: one loop for every method and dataset.

Adam at a constant learning rate; after each epoch the clean validation mAP decides early stopping
(stop after ``patience`` epochs without a strictly better one; the paper's patience is 1) and the
reported number is the test mAP at the best validation epoch. The loop knows methods only through
``methods.build`` and the ``Method`` hooks. Each epoch end is checkpointed atomically, so a run
that is started again resumes and ends with the same numbers.
"""

from __future__ import annotations

import dataclasses
import io
import queue
import threading
import time
import traceback
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np
import torch
from torch import nn

import methods
from methods.base import check_inputs
from benchmark import analysis, linear
from benchmark.data import Dataset, default_data_root, load as load_dataset
from benchmark.data.cache import cached_images
from benchmark.data.protocol import observe, split_train_val
from benchmark.data.store import ArrayImages, ImageStore, Subset, subset
from benchmark.metrics import average_precision, threshold_metrics
from benchmark.models import Classifier, build_model
from benchmark.provenance import provenance
from benchmark.records import atomic_write_bytes
from benchmark.seeding import rng_state, seed_everything, set_determinism, set_rng_state

if TYPE_CHECKING:  # annotations only: the loop (and the bench) import without pydantic
    from benchmark.config import RunConfig

THRESHOLDS = (0.5, 0.75)
Log = Callable[[str], None]


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite: the run is recorded as failed with this message."""


# -- data ------------------------------------------------------------------------------------
@dataclass
class RunData:
    """A dataset after PROTOCOL.md's split and label regime."""

    dataset: Dataset
    train: ImageStore
    val: ImageStore
    test: ImageStore
    train_labels: torch.Tensor  # [N, C] 0/1, clean (for the analyses only; never trained on)
    observed: torch.Tensor  # [N, C] observed training labels
    val_labels: torch.Tensor
    test_labels: torch.Tensor


def prepare_data(cfg: RunConfig, log: Callable[[str], None] | None = None) -> RunData:
    ds = load_dataset(cfg.dataset, cfg.data_root, image_size=cfg.image_size)
    if cfg.image_cache:
        # decoded once into a memory-mapped uint8 file shared by every run; ArrayImages pass through
        root = cfg.data_root if cfg.data_root is not None else default_data_root()
        workers = cfg.num_workers or None
        pool = cached_images(ds.pool.images, root, cfg.dataset, "pool", num_workers=workers, log=log)
        test = cached_images(ds.test.images, root, cfg.dataset, "test", num_workers=workers, log=log)
        ds = dataclasses.replace(
            ds, pool=dataclasses.replace(ds.pool, images=pool), test=dataclasses.replace(ds.test, images=test)
        )
    # observed labels are drawn over the whole pool, then the pool is split (the reference order)
    observed_pool = observe(ds.pool.labels, cfg.labels)
    train_idx, val_idx = split_train_val(len(ds.pool.images))
    as_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a)).float()  # noqa: E731
    return RunData(
        dataset=ds,
        train=subset(ds.pool.images, train_idx),
        val=subset(ds.pool.images, val_idx),
        test=ds.test.images,
        train_labels=as_tensor(ds.pool.labels[train_idx]),
        observed=as_tensor(observed_pool[train_idx]),
        val_labels=as_tensor(ds.pool.labels[val_idx]),
        test_labels=as_tensor(ds.test.labels),
    )


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


def _prefetched(store: ImageStore, batches: list[np.ndarray], depth: int, pin: bool) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
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


def iterate(store: ImageStore, order: np.ndarray, batch_size: int, num_workers: int = 0, pin: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
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
    loader = torch.utils.data.DataLoader(
        _Batches(store, batches), batch_size=None, shuffle=False, num_workers=num_workers,
        pin_memory=pin, persistent_workers=False,
    )
    yield from loader


class Normalizer:
    """uint8 → float on the device, optional horizontal flip, mean/std normalisation."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...], device: torch.device, channels_last: bool) -> None:
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


# -- one epoch, one prediction pass: shared by the Trainer and ``python -m benchmark.bench`` ----------
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
) -> EpochSums:
    """Train ``model`` for one pass over ``store`` in ``order``. ``observed`` lives on the device;
    ``flips`` is a CPU bool per training image. A non-finite loss raises ``NonFiniteLossError``
    with ``describe(batch, loss)``: checked every batch on the CPU, every ``check_every`` batches
    (default 50) and at the end on an accelerator, where each check is a host-device sync."""
    device = observed.device
    forward = model if forward is None else forward
    every = check_every if check_every is not None else (1 if device.type == "cpu" else 50)
    f64 = dict(device=device, dtype=torch.float64)
    sums = EpochSums(torch.zeros((), **f64), torch.zeros((), **f64), torch.zeros((), **f64))
    first_bad = torch.full((), -1, device=device, dtype=torch.int64)
    bad_loss = torch.zeros((), device=device)

    def check() -> None:
        step = int(first_bad)
        if step >= 0:
            raise NonFiniteLossError(describe(step, float(bad_loss)))

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


# -- the run ---------------------------------------------------------------------------------
def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device '{name}' requested but CUDA is not available; use device 'auto' or 'cpu'")
    return device


class Trainer:
    def __init__(self, cfg: RunConfig, checkpoint_path: Path | None = None, log: Log | None = None) -> None:
        self.cfg = cfg.resolve()
        self.checkpoint_path = checkpoint_path
        self.log: Log = log or (lambda msg: None)

    # -- helpers ------------------------------------------------------------------------------
    def _autocast(self) -> Any:
        cfg = self.cfg
        enabled = cfg.amp != "off"
        dtype = torch.bfloat16 if cfg.amp == "bf16" else torch.float16
        return torch.autocast(device_type=self.device.type, dtype=dtype, enabled=enabled)

    def _forward_all(self, store: ImageStore, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        return forward_all(
            self.model, store, self.normalize, fn, batch_size=max(self.cfg.batch_size, 64),
            num_workers=self.num_workers, pin=self.pin, autocast=self._autocast,
        )

    def predict(self, store: ImageStore) -> torch.Tensor:
        return torch.sigmoid(self._forward_all(store, self.forward))

    def _save_checkpoint(self, state: dict[str, Any]) -> None:
        if self.checkpoint_path is None:
            return
        buf = io.BytesIO()
        torch.save(state, buf)
        atomic_write_bytes(self.checkpoint_path, buf.getvalue())

    def _load_checkpoint(self) -> dict[str, Any] | None:
        if self.checkpoint_path is None or not self.checkpoint_path.exists():
            return None
        return torch.load(self.checkpoint_path, map_location=self.device, weights_only=False)

    # -- main -----------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        cfg = self.cfg
        started = time.time()
        self.device = resolve_device(cfg.device)
        determinism = set_determinism(self.device, cfg.deterministic)
        generator = seed_everything(cfg.seed)
        self.pin = self.device.type == "cuda"
        self.num_workers = cfg.num_workers

        data = prepare_data(cfg, self.log)
        ds = data.dataset
        num_classes = ds.num_classes
        self.normalize: Callable[..., torch.Tensor] = Normalizer(ds.mean, ds.std, self.device, cfg.channels_last)
        model: Classifier = build_model(
            cfg.backbone, num_classes, pretrained=bool(cfg.pretrained), in_chans=len(ds.mean),
            weights_root=Path(cfg.data_root) if cfg.data_root else default_data_root(),
        )
        model = model.to(self.device)
        probe_features: Callable[[], torch.Tensor] | None = None
        if cfg.protocol == "linear":
            # Cole et al.'s linear probe: pooled features of the frozen backbone, extracted once and
            # cached on disk; from here on the "model" is the linear head and a "store" yields features
            probe = linear.probe_data(cfg, data, model, self.normalize, self.device, self.num_workers, self.log)
            data = dataclasses.replace(data, train=probe.train, val=probe.val, test=probe.test)
            model, self.normalize, self.num_workers = probe.model, linear.to_device(self.device), 0
        elif cfg.pretrained:
            # ROLE+LI's linear phase reads the pretrained backbone's features: shared across seeds
            probe_features = lambda: linear.train_features(cfg, data, model, self.normalize, self.device, self.num_workers, self.log)  # noqa: E731
        self.model = model
        if cfg.channels_last and cfg.protocol == "finetune":
            self.model = self.model.to(memory_format=torch.channels_last)
        # compiled forward for speed; self.model stays the plain module so state_dicts keep their keys
        self.forward: Callable[[torch.Tensor], torch.Tensor] = torch.compile(self.model) if cfg.compile else self.model
        method = methods.build(cfg.method, num_classes=num_classes, dataset=cfg.dataset, **cfg.hparams)
        observed = data.observed.to(self.device)
        check_inputs(observed, observed)  # once, whole matrix: per-batch value checks are CPU-only
        method.check_values = self.device.type == "cpu"
        method.setup(methods.TrainInfo(len(data.train), num_classes, observed, num_epochs=cfg.epochs))
        method.to(self.device)
        method.attach(self.model)
        params = [p for p in self.model.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam([{"params": params, "lr": cfg.lr}, *method.param_groups(cfg.lr)], lr=cfg.lr)
        scaler = torch.amp.GradScaler(enabled=cfg.amp == "fp16" and self.device.type == "cuda")
        trained = [False]  # cached pretrained features describe the backbone only before any step

        def train_features() -> torch.Tensor:
            if probe_features is not None and not trained[0]:
                return probe_features()
            return self._forward_all(data.train, self.model.features)

        ctx = methods.TrainContext(
            num_epochs=cfg.epochs, lr=cfg.lr, batch_size=cfg.batch_size, device=self.device,
            predict_train=lambda: self.predict(data.train),
            train_features=train_features,
            head=self.model.head, generator=generator,
        )
        val_labels = data.val_labels.to(self.device)
        test_labels = data.test_labels.to(self.device)

        history: list[dict[str, Any]] = []
        best: dict[str, Any] = {"val_map": -1.0, "epoch": 0}
        best_state: dict[str, torch.Tensor] | None = None
        since_best, start_epoch, stopped = 0, 1, False
        ckpt = self._load_checkpoint()
        if ckpt is not None:
            self.model.load_state_dict(ckpt["model"])
            method.load_state_dict(ckpt["method"])
            optimizer.load_state_dict(ckpt["optimizer"])
            scaler.load_state_dict(ckpt["scaler"])
            set_rng_state(ckpt["rng"], generator)
            history, best, best_state = ckpt["history"], ckpt["best"], ckpt["best_state"]
            since_best, stopped = ckpt["since_best"], ckpt["stopped"]
            start_epoch = ckpt["epoch"] + 1
            self.log(f"[{cfg.label()}] resumed after epoch {ckpt['epoch']} from {self.checkpoint_path}")
        else:
            method.before_training(ctx)

        n_train = len(data.train)
        epoch = start_epoch
        while epoch <= cfg.epochs and not stopped:
            t0 = time.time()
            self.model.train()
            trained[0] = True
            order = torch.randperm(n_train, generator=generator).numpy()
            flips = torch.rand(n_train, generator=generator) < 0.5 if cfg.hflip else None
            sums = train_epoch(
                self.model, method, optimizer, scaler, self.normalize, data.train, observed, order, flips,
                batch_size=cfg.batch_size, num_workers=self.num_workers, pin=self.pin, autocast=self._autocast,
                forward=self.forward,
                describe=lambda step, loss, epoch=epoch: (
                    f"loss is {loss} at epoch {epoch}, batch {step} (method '{cfg.method}', "
                    f"lr {cfg.lr}, hparams {cfg.hparams})"
                ),
            )
            loss_sum, pos_loss_sum, n_pos = sums.loss, sums.observed_pos_loss, sums.num_observed_pos
            train_seconds = time.time() - t0
            method.on_epoch_end(epoch, ctx)

            val_probs = self.predict(data.val)
            test_probs = self.predict(data.test)
            val_map = float(average_precision(val_probs, val_labels).mean()) * 100
            test_ap = average_precision(test_probs, test_labels)
            test_map = float(test_ap.mean()) * 100
            entry = {
                "epoch": epoch,
                "train_loss": float(loss_sum) / n_train,
                "train_observed_pos_loss": float(pos_loss_sum / n_pos.clamp(min=1)),
                "val_map": val_map,
                "test_map": test_map,
                "train_seconds": train_seconds,
                "seconds": time.time() - t0,
                "images_per_second": n_train / max(train_seconds, 1e-9),
            }
            history.append(entry)
            if val_map > best["val_map"]:
                since_best = 0
                best = {
                    "epoch": epoch, "val_map": val_map, "test_map": test_map,
                    "per_class_ap": [float(a) * 100 for a in test_ap],
                    "thresholds": {str(t): threshold_metrics(test_probs, test_labels, t) for t in THRESHOLDS},
                }
                best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            else:
                since_best += 1
            stopped = cfg.patience > 0 and since_best >= cfg.patience
            self.log(
                f"[{cfg.label()}] epoch {epoch}: loss {entry['train_loss']:.4f} val mAP {val_map:.2f} "
                f"test mAP {test_map:.2f} ({entry['seconds']:.1f}s){' — early stop' if stopped else ''}"
            )
            self._save_checkpoint({
                "epoch": epoch, "model": self.model.state_dict(), "method": method.state_dict(),
                "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
                "rng": rng_state(generator), "history": history, "best": best,
                "best_state": best_state, "since_best": since_best, "stopped": stopped,
            })
            epoch += 1

        # the paper's analyses, on the model of the best validation epoch
        assert best_state is not None
        self.model.load_state_dict(best_state)
        train_probs = self.predict(data.train)
        analyses = analysis.unannotated_separation(train_probs.cpu(), data.train_labels, data.observed)
        train_secs = sum(h["train_seconds"] for h in history)
        return {
            "test_map": best["test_map"],
            "val_map": best["val_map"],
            "best_epoch": best["epoch"],
            "epochs_run": len(history),
            "per_class_ap": dict(zip(ds.class_names, best["per_class_ap"])),
            "thresholds": best["thresholds"],
            "analysis": analyses,
            "history": history,
            "images_per_second": n_train * len(history) / max(train_secs, 1e-9),
            "num_train": n_train, "num_val": len(data.val), "num_test": len(data.test),
            "data": ds.provenance,
            "provenance": provenance(self.device, determinism),
            "train_wall_seconds": time.time() - started,
        }


def checkpoint_path(results_dir: str | Path, cfg: RunConfig) -> Path:
    return Path(results_dir) / "_checkpoints" / f"{cfg.run_id()}.pt"


def run(cfg: RunConfig, results_dir: str | Path | None = None, log: Log | None = None) -> dict[str, Any]:
    """Train one run and return its full record, ``done`` or ``failed`` — never raises for a
    failure inside the run, so a sweep goes on."""
    resolved = cfg.resolve()
    ckpt = checkpoint_path(results_dir, cfg) if (results_dir is not None and cfg.checkpoint) else None
    started = time.time()
    record: dict[str, Any] = {
        "method": resolved.method, "dataset": resolved.dataset, "labels": resolved.labels,
        "seed": resolved.seed, "protocol": resolved.protocol, "run_id": cfg.run_id(),
        "status": "failed", "test_map": None,
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    try:
        record.update(Trainer(cfg, ckpt, log).run())
        record["status"] = "done"
        if ckpt is not None and ckpt.exists() and not cfg.keep_checkpoint:
            ckpt.unlink()
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - a failed run is recorded, the sweep goes on
        record["error"] = {"type": type(exc).__name__, "message": str(exc), "traceback": traceback.format_exc()}
        if "provenance" not in record:
            try:
                record["provenance"] = provenance(resolve_device(cfg.device), {})
            except Exception:  # noqa: BLE001
                record["provenance"] = provenance(torch.device("cpu"), {})
    record["config"] = resolved.model_dump()
    record["wall_seconds"] = time.time() - started
    record["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return record


__all__ = [
    "EpochSums", "NonFiniteLossError", "Normalizer", "RunData", "Trainer", "checkpoint_path", "forward_all",
    "iterate", "prepare_data", "run", "train_epoch",
]
