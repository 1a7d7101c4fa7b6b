"""The training loop: one loop for every method and dataset.

Adam at a constant learning rate; after each epoch the clean validation mAP decides early stopping
(stop after ``patience`` epochs without a strictly better one; the paper's patience is 1) and the
reported number is the test mAP at the best validation epoch. The loop knows methods only through
``methods.build`` and the ``Method`` hooks. Each epoch end is checkpointed atomically, so a run
that is started again resumes and ends with the same numbers.

A run whose predictions carry no information ends ``diverged`` rather than ``done``: the rules and
why they never flag a legitimate collapse such as EntMin's are in ``benchmark.run.divergence``.
"""

from __future__ import annotations

import dataclasses
import errno
import math
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import methods
from benchmark.data.store import ImageStore
from benchmark.records import layout
from benchmark.run import analysis, checkpoint, divergence, linear
from benchmark.run.environment import provenance, torch_threads
from benchmark.run.loop import (
    NonFiniteLossError,
    Normalizer,
    augmenter,
    forward_all,
    resolve_device,
    stops,
    train_epoch,
)
from benchmark.run.metrics import average_precision, threshold_metrics
from benchmark.run.models import Classifier, forward_for, run_model
from benchmark.run.record import now, record_head
from benchmark.run.rundata import RunData, prepare_data
from benchmark.run.seeding import seed_everything, set_determinism
from benchmark.spec.config import RunConfig
from benchmark.spec.recipes import settings
from methods.base import Recipe, check_inputs

THRESHOLDS = (0.5, 0.75)
Log = Callable[[str], None]
#: called with each epoch's history entry once it is complete
EpochObserver = Callable[[dict[str, Any]], None]


@dataclass
class LoopState:
    """What the loop carries from one epoch to the next; checkpointed with the model."""

    epoch: int = 0  # the last completed epoch
    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] = field(default_factory=lambda: {"val_map": -1.0, "epoch": 0})
    best_state: dict[str, torch.Tensor] | None = None
    since_best: int = 0
    stopped: bool = False
    #: the first divergence rule that fired (``benchmark.run.divergence``); training stops there
    divergence: dict[str, Any] | None = None


#: the LoopState fields a checkpoint's progress (JSON) holds; ``best_state`` travels with its tensors
PROGRESS_FIELDS = ("epoch", "history", "best", "since_best", "stopped", "divergence")


class Trainer:
    """One run, in named steps: ``set_up`` → ``resume`` → (``train_one_epoch`` → ``evaluate`` →
    ``save_checkpoint``) per epoch → ``finish``. ``observers`` are called with each epoch's
    history entry once it is complete (per-epoch logs)."""

    def __init__(
        self,
        cfg: RunConfig,
        checkpoint_path: Path | None = None,
        log: Log | None = None,
        observers: Sequence[EpochObserver] = (),
    ) -> None:
        self.cfg = cfg.resolve()
        self.checkpoint_path = checkpoint_path
        self.log: Log = log or (lambda msg: None)
        self.observers = list(observers)
        self.state = LoopState()

    def run(self) -> dict[str, Any]:
        started = time.time()
        with torch_threads():  # a resumed run may take its checkpoint's count: the caller's is restored
            return self._run(started)

    def _run(self, started: float) -> dict[str, Any]:
        self.set_up()
        self.resume()
        while self.state.epoch < self.cfg.epochs and not self.state.stopped:
            epoch = self.state.epoch + 1
            try:
                trained = self.train_one_epoch(epoch)
            except FloatingPointError as exc:  # a NaN/inf loss or prediction inside the epoch: diverged
                rule = "non_finite_loss" if isinstance(exc, NonFiniteLossError) else "non_finite_values"
                self.state.divergence = divergence.divergence(
                    rule, str(exc), epoch=epoch, **getattr(exc, "evidence", {})
                )
                self.state.stopped = True
                break
            self.evaluate(epoch, trained)
            self.save_checkpoint()
        return self.finish(started)

    # -- helpers ------------------------------------------------------------------------------
    def _autocast(self) -> Any:
        cfg = self.cfg
        dtype = torch.bfloat16 if cfg.amp == "bf16" else torch.float16
        return torch.autocast(device_type=self.device.type, dtype=dtype, enabled=cfg.amp != "off")

    def _forward_all(self, store: ImageStore, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        return forward_all(
            self.model,
            store,
            self.normalize,
            fn,
            batch_size=max(self.cfg.batch_size, 64),
            num_workers=self.num_workers,
            pin=self.pin,
            autocast=self._autocast,
        )

    def predict(self, store: ImageStore) -> torch.Tensor:
        return torch.sigmoid(self._forward_all(store, self.forward))

    def _train_features(self) -> torch.Tensor:
        """``TrainContext.train_features``: the cached features of the pretrained backbone while no
        step has been taken, the current backbone's afterwards."""
        if self.probe_features is not None and self.state.epoch == 0 and not self.in_epoch:
            return self.probe_features()
        return self._forward_all(self.data.train, self.model.features)

    # -- set up -------------------------------------------------------------------------------
    def set_up(self) -> None:
        """Device, seeds, data, model, method, optimiser: everything an epoch needs."""
        cfg = self.cfg
        self.device = resolve_device(cfg.device)
        self.determinism = set_determinism(self.device, cfg.deterministic)
        self.generator = seed_everything(cfg.seed)
        self.pin = self.device.type == "cuda"
        self.num_workers = cfg.num_workers
        self.in_epoch = False

        self.data = data = prepare_data(cfg, self.log)
        ds = data.dataset
        # what a checkpoint is bound to: this run, this code, this data (a stale one is never resumed)
        self.binding = checkpoint.binding(cfg.run_id(), run_data_digest(data))
        self.normalize: Callable[..., torch.Tensor] = Normalizer(ds.mean, ds.std, self.device, cfg.channels_last)
        classifier = run_model(cfg, ds).to(self.device)
        model: Classifier | linear.LinearProbe = classifier  # the linear protocol trains its head alone
        self.probe_features: Callable[[], torch.Tensor] | None = None

        def features(split: str) -> torch.Tensor:  # the cached pooled features of the untrained backbone
            return linear.split_features(
                cfg, split, data, classifier, self.normalize, self.device, self.num_workers, self.log
            )

        if cfg.protocol == "linear":
            # Cole et al.'s linear probe: pooled features of the frozen backbone, extracted once and
            # cached on disk; from here on the "model" is the linear head and a "store" yields features
            train, val, test = (linear.DeviceFeatures(features(split)) for split in ("train", "val", "test"))
            self.data = data = dataclasses.replace(data, train=train, val=val, test=test)
            model = linear.LinearProbe(classifier.head)
            self.normalize, self.num_workers = linear.to_device(self.device), 0
        elif cfg.pretrained:
            # ROLE+LI's linear phase reads the pretrained backbone's features: shared across seeds
            self.probe_features = lambda: features("train")
        if cfg.channels_last and cfg.protocol == "finetune":
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        method = methods.build(cfg.method, num_classes=ds.num_classes, dataset=cfg.dataset, **cfg.hparams)
        problem = method.protocol_problem(cfg.protocol)
        if problem is not None:  # RunConfig refuses it first; this guards a config built otherwise
            raise ValueError(problem)
        # the model's forward, or the method's own logits from the feature map (in training and at
        # every prediction); compiled for speed, self.model stays the plain module so state_dicts
        # keep their keys
        forward = forward_for(model, method.logits_from_map if method.makes_own_logits() else None)
        self.forward: Callable[[torch.Tensor], torch.Tensor] = torch.compile(forward) if cfg.compile else forward
        self.observed = data.observed.to(self.device)
        check_inputs(self.observed, self.observed)  # once, whole matrix: per-batch value checks are CPU-only
        method.check_values = self.device.type == "cpu"
        method.setup(methods.TrainInfo(len(data.train), ds.num_classes, self.observed, num_epochs=cfg.epochs))
        method.to(self.device)
        method.attach(model)
        self.method = method
        self.recipe = recipe = settings(cfg.method, cfg.dataset, cfg.protocol, cfg.recipe)
        rule = Recipe(stop=recipe["stop"]).stop_rule()
        # a patience rule is the config's (which the recipe set, so --patience still applies)
        self.stop_rule = rule if rule is not None and rule[0] != "patience" else ("patience", cfg.patience)
        groups = [*recipe_groups(model, cfg.lr, recipe), *method.param_groups(cfg.lr)]
        self.optimizer = torch.optim.Adam(groups, lr=cfg.lr)
        self.scheduler = None
        if recipe["scheduler"] == "onecycle":
            steps = math.ceil(len(data.train) / cfg.batch_size) * max(recipe["cycle_epochs"] or 0, cfg.epochs)
            self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
                self.optimizer, [g["lr"] for g in groups], total_steps=steps, pct_start=0.2
            )
        self.train_normalize = self.normalize
        if recipe["augment"] and cfg.protocol == "finetune":  # the linear probe trains on cached features
            augment = augmenter(recipe["augment"], self.generator)
            self.train_normalize = lambda x, flip=None: self.normalize(augment(x), flip)
        self.scaler = torch.amp.GradScaler(enabled=cfg.amp == "fp16" and self.device.type == "cuda")
        self.ctx = methods.TrainContext(
            num_epochs=cfg.epochs,
            lr=cfg.lr,
            batch_size=cfg.batch_size,
            device=self.device,
            predict_train=lambda: self.predict(self.data.train),
            train_features=self._train_features,
            head=model.head,
            generator=self.generator,
        )
        self.val_labels = data.val_labels.to(self.device)
        self.test_labels = data.test_labels.to(self.device)

    # -- resume -------------------------------------------------------------------------------
    def resume(self) -> None:
        """Restore the last epoch's checkpoint if it is this run's (same run id, code and data,
        ``benchmark.run.checkpoint``); a fresh run calls the method's ``before_training`` instead
        (a resumed one has already had it)."""
        ckpt = checkpoint.load(self.checkpoint_path, self.binding, self.device, self.log, self.cfg.label())
        if ckpt is None:
            self.method.before_training(self.ctx)
            return
        t, p = ckpt["tensors"], ckpt["progress"]
        self.model.load_state_dict(t["model"])
        self.method.load_state_dict(t["method"])
        self.optimizer.load_state_dict(t["optimizer"])
        self.scaler.load_state_dict(t["scaler"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(t["scheduler"])
        checkpoint.unpack_rng(t["rng"], p["rng"], self.generator)
        threads = p.get("torch_threads")
        if self.device.type == "cpu" and threads and threads != torch.get_num_threads():
            # a CPU run's last bits depend on its thread count: it ends on the count it started with
            self.log(
                f"[{self.cfg.label()}] continues on the {threads} torch thread(s) it started with"
                f" (this process has {torch.get_num_threads()})"
            )
            torch.set_num_threads(int(threads))
        self.state = LoopState(**{k: p[k] for k in PROGRESS_FIELDS}, best_state=t["best_state"])
        self.log(f"[{self.cfg.label()}] resumed after epoch {p['epoch']} from {self.checkpoint_path}")

    # -- one epoch ----------------------------------------------------------------------------
    def train_one_epoch(self, epoch: int) -> dict[str, Any]:
        """The method's start-of-epoch hook, the training phase of ``epoch`` and the method's
        end-of-epoch hook; returns the history entry's training part."""
        cfg, n_train = self.cfg, len(self.data.train)
        self.epoch_started = t0 = time.time()
        self.method.on_epoch_start(epoch, self.ctx)
        self.model.train()
        self.in_epoch = True
        order = torch.randperm(n_train, generator=self.generator).numpy()
        flips = torch.rand(n_train, generator=self.generator) < 0.5 if cfg.hflip else None
        sums = train_epoch(
            self.model,
            self.method,
            self.optimizer,
            self.scaler,
            self.train_normalize,
            self.data.train,
            self.observed,
            order,
            flips,
            batch_size=cfg.batch_size,
            num_workers=self.num_workers,
            pin=self.pin,
            autocast=self._autocast,
            forward=self.forward,
            scheduler=self.scheduler,
            describe=lambda step, loss: (
                f"loss is {loss} at epoch {epoch}, batch {step} (method '{cfg.method}', "
                f"lr {cfg.lr}, hparams {cfg.hparams})"
            ),
        )
        train_seconds = time.time() - t0
        self.method.on_epoch_end(epoch, self.ctx)
        return {
            "epoch": epoch,
            "train_loss": float(sums.loss) / n_train,
            "train_observed_pos_loss": float(sums.observed_pos_loss / sums.num_observed_pos.clamp(min=1)),
            "train_seconds": train_seconds,
            "images_per_second": n_train / max(train_seconds, 1e-9),
        }

    # -- evaluate -----------------------------------------------------------------------------
    def evaluate(self, epoch: int, trained: dict[str, Any]) -> None:
        """Validation and test mAP of ``epoch`` completing its history entry (``trained``: the
        training part), the best epoch so far and the stopping rule: stop after ``patience`` epochs
        without a strictly better validation mAP."""
        cfg, state = self.cfg, self.state
        val_probs = self.predict(self.data.val)
        test_probs = self.predict(self.data.test)
        splits = {"val": val_probs, "test": test_probs}
        found = (
            divergence.check_parameters(epoch, [*self.model.state_dict().items(), *self.method.state_dict().items()])
            or divergence.check_predictions(epoch, splits)
            or divergence.check_loss(epoch, trained["train_loss"], float(self.method.loss_lower_bound))
        )
        finite = found is None or found["rule"] not in ("non_finite_parameters", "non_finite_predictions")
        nan = float("nan")
        val_map = float(average_precision(val_probs, self.val_labels).mean()) * 100 if finite else nan
        test_ap = average_precision(test_probs, self.test_labels) if finite else None
        test_map = float(test_ap.mean()) * 100 if test_ap is not None else nan
        entry = {
            "epoch": epoch,
            "train_loss": trained["train_loss"],
            "train_observed_pos_loss": trained["train_observed_pos_loss"],
            "val_map": val_map,
            "test_map": test_map,
            "train_seconds": trained["train_seconds"],
            "seconds": time.time() - self.epoch_started,
            "images_per_second": trained["images_per_second"],
            "lr": self.optimizer.param_groups[0]["lr"],  # the backbone's; constant under the protocol
        }
        state.history.append(entry)
        # an epoch with non-finite predictions is never the reported one (its mAP would be noise)
        if test_ap is not None and val_map > state.best["val_map"]:
            state.since_best = 0
            state.best = {
                "epoch": epoch,
                "val_map": val_map,
                "test_map": test_map,
                "per_class_ap": [float(a) * 100 for a in test_ap],
                "thresholds": {str(t): threshold_metrics(test_probs, self.test_labels, t) for t in THRESHOLDS},
                "predictions": divergence.predictions_summary(splits, self.data.dataset.class_names),
            }
            state.best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        else:
            state.since_best += 1
        state.stopped = stops(self.stop_rule, state.since_best, state.best["val_map"], val_map)
        if found is not None and state.divergence is None:
            state.divergence, state.stopped = found, True
        state.epoch = epoch
        stop = f" — diverged: {found['reason']}" if found is not None else " — early stop" if state.stopped else ""
        self.log(
            f"[{cfg.label()}] epoch {epoch}: loss {entry['train_loss']:.4f} val mAP {val_map:.2f} "
            f"test mAP {test_map:.2f} ({entry['seconds']:.1f}s){stop}"
        )
        for observer in self.observers:
            observer(entry)

    def save_checkpoint(self) -> None:
        """The whole state after an epoch, written atomically: a run started again resumes here."""
        if self.checkpoint_path is None:
            return
        s = self.state
        rng, rng_plain = checkpoint.pack_rng(self.generator)
        tensors = {
            "model": self.model.state_dict(),
            "method": self.method.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": rng,
            "best_state": s.best_state,
        }
        if self.scheduler is not None:
            tensors["scheduler"] = self.scheduler.state_dict()
        progress = {
            **{k: getattr(s, k) for k in PROGRESS_FIELDS},
            "rng": rng_plain,
            "torch_threads": torch.get_num_threads(),
        }
        checkpoint.save(self.checkpoint_path, self.binding, tensors, progress)

    # -- finish -------------------------------------------------------------------------------
    def finish(self, started: float) -> dict[str, Any]:
        """The paper's analyses on the model of the best validation epoch, and the record's fields;
        ``divergence`` (``benchmark.run.divergence``) where the run's predictions carry no information."""
        state, data = self.state, self.data
        best = state.best
        if state.divergence is None and "predictions" in best:
            state.divergence = divergence.check_constant(best["epoch"], best["predictions"])
        n_train = len(data.train)
        train_secs = sum(h["train_seconds"] for h in state.history)
        out: dict[str, Any] = {
            "test_map": None,
            "val_map": None,
            "best_epoch": None,
            "epochs_run": len(state.history),
            "history": state.history,
            "images_per_second": n_train * len(state.history) / max(train_secs, 1e-9),
            "num_train": n_train,
            "num_val": len(data.val),
            "num_test": len(data.test),
            "data": data.dataset.provenance,
            "provenance": provenance(self.device, self.determinism),
        }
        if state.divergence is not None:
            out["divergence"] = state.divergence
        if self.cfg.recipe != "common":  # what the loop trained with beside the config's fields
            out["recipe"] = self.recipe
        # diverged before any epoch had finite predictions: nothing to report
        if state.best_state is None:
            assert state.divergence is not None, "no epoch was evaluated"
            out["train_wall_seconds"] = time.time() - started
            return out
        self.model.load_state_dict(state.best_state)
        train_probs = self.predict(data.train)
        out.update(
            {
                "test_map": best["test_map"],
                "val_map": best["val_map"],
                "best_epoch": best["epoch"],
                "per_class_ap": dict(zip(data.dataset.class_names, best["per_class_ap"])),
                "thresholds": best["thresholds"],
                "analysis": analysis.unannotated_separation(train_probs.cpu(), data.train_labels, data.observed),
                "train_wall_seconds": time.time() - started,
            }
        )
        return out


def recipe_groups(model: torch.nn.Module, lr: float, recipe: dict[str, Any]) -> list[dict[str, Any]]:
    """The model's optimiser groups: one at ``lr`` under the common recipe; else the head (a
    ``Classifier``'s) at ``lr`` times the recipe's multiplier, and weight decay on weight matrices
    and kernels only (not on biases or norms, as the ASL code's ``add_weight_decay``)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if recipe["head_lr_mult"] == 1.0 and recipe["weight_decay"] == 0.0:
        return [{"params": params, "lr": lr}]
    head = {id(p) for p in model.head.parameters()} if isinstance(model, Classifier) else set()
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    for p in params:
        groups.setdefault((id(p) in head, p.ndim > 1), []).append(p)
    return [
        {
            "params": ps,
            "lr": lr * (recipe["head_lr_mult"] if in_head else 1.0),
            "weight_decay": recipe["weight_decay"] if decays else 0.0,
        }
        for (in_head, decays), ps in groups.items()
    ]


def run_data_digest(data: RunData, manifest: str | None = None) -> str:
    """The digest a checkpoint binds the run's data by: its labels and the dataset's provenance,
    and ``manifest`` — the prepared data's content digest (images included) once the data layer
    provides one."""
    arrays = {k: getattr(data, k) for k in ("train_labels", "observed", "val_labels", "test_labels")}
    return checkpoint.data_digest(data.dataset.provenance, arrays, manifest=manifest)


def checkpoint_path(results_dir: str | Path, cfg: RunConfig) -> Path:
    return layout.checkpoint_path(results_dir, cfg.run_id())


def run(
    cfg: RunConfig,
    results_dir: str | Path | None = None,
    log: Log | None = None,
    observers: Sequence[EpochObserver] = (),
    study: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train one run and return its full record, ``done``, ``diverged`` or ``failed`` — never
    raises for a failure inside the run, so a sweep goes on. Writes no record: ``results_dir`` only
    holds the run's checkpoint, which stays — whoever writes the record removes it once the record
    is safe (``benchmark.run_and_record`` trains and writes the record). The record's ``variant`` is
    the hyper-parameters that differ from the method's defaults for the dataset (``{}``: its main
    row); ``study`` tags a run of a tuning study (``benchmark.spec.tune.study_tag``), ``None`` otherwise."""
    ckpt = checkpoint_path(results_dir, cfg) if (results_dir is not None and cfg.checkpoint) else None
    started = time.time()
    record = {**record_head(cfg, study), "started_at": now()}
    try:
        record.update(Trainer(cfg, ckpt, log, observers).run())
        record["status"] = "diverged" if record.get("divergence") else "done"
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - a failed run is recorded, the sweep goes on
        record["error"] = {"type": type(exc).__name__, "message": str(exc), "traceback": traceback.format_exc()}
        if isinstance(exc, OSError) and exc.errno is not None:
            # the launcher stops a sweep whose storage is full: every later run would fail the same way
            record["error"]["errno"] = exc.errno
            record["error"]["errno_name"] = errno.errorcode.get(exc.errno, "")
        if "provenance" not in record:
            try:
                record["provenance"] = provenance(resolve_device(cfg.device), {})
            except Exception:  # noqa: BLE001
                record["provenance"] = provenance(torch.device("cpu"), {})
    record["config"] = cfg.resolve().model_dump()
    record["wall_seconds"] = time.time() - started
    record["finished_at"] = now()
    return record


__all__ = ["EpochObserver", "LoopState", "Trainer", "checkpoint_path", "recipe_groups", "run", "run_data_digest"]
