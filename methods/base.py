"""The one small interface between the training loop and a method.

A method is an ``nn.Module`` so that its own parameters (ROLE's label estimator) and buffers
(APL's pseudo-labels) are checkpointed by ``state_dict`` and optimised without the harness knowing
what they are. The harness calls, in order:

``setup(info)``            once, with the training set's size and observed labels;
``param_groups(lr)``       extra optimiser groups (the method's own parameters);
``before_training(ctx)``   once, after the optimiser exists (ROLE+LI's linear phase);
``on_epoch_start(epoch, ctx)`` before each epoch's training phase (LL's rate, GR's schedules);
``batch_labels(obs, idx)`` per batch: the labels the loss sees (APL substitutes pseudo-labels);
``loss(logits, observed, index=..., model=...)`` per batch;
``on_epoch_end(epoch, ctx)`` after each epoch's training phase (APL's pseudo-labelling).

A method that overrides ``logits_from_map(feature_map, head)`` makes the logits itself from the
backbone's unpooled feature map and the classifier head (BoostLU), in training and at every
prediction (validation, test, the training-set pass of ``ctx.predict_train`` and the record's
analyses); every other method gets the model's own ``head(avgpool(feature_map))``.

A plain loss only implements ``loss_matrix``: the per-entry loss ``[B, C]``. The base class checks
the inputs and applies PROTOCOL.md's reduction: sum over entries divided by ``B*C``, then
``penalty`` (a regulariser) is added. A method whose loss depends on the epoch derives from
``Scheduled``, which keeps the epoch in its ``state_dict``.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

#: PROTOCOL.md: ``log`` is ``log(x + 1e-5)`` in the reference code.
LOG_EPS = 1e-5

#: Dataset keys whose per-dataset defaults are taken from PROTOCOL.md.
PROTOCOL_DATASETS = ("voc", "coco", "nuswide", "cub")
#: how a ``Method.sources`` entry marks a value no source gives (the page shows it as the project's choice)
PROJECT_CHOICE = "project choice"


@dataclass
class TrainInfo:
    """What a method may know about the training set before training starts."""

    num_train: int
    num_classes: int
    observed: torch.Tensor  # [N, C] observed training labels in {+1, 0, -1}
    num_epochs: int = 10


@dataclass
class TrainContext:
    """Handles to the run that hooks may use. Built by the harness; methods only read it."""

    num_epochs: int
    lr: float
    batch_size: int
    device: torch.device
    #: probabilities ``[N_train, C]`` of the current model on the whole training set, eval mode
    predict_train: Callable[[], torch.Tensor]
    #: pooled frozen-backbone features ``[N_train, D]`` of the training set (for linear phases)
    train_features: Callable[[], torch.Tensor]
    #: the classifier head of the model (``nn.Linear``) that a linear phase may initialise
    head: nn.Module | None = None
    generator: torch.Generator | None = None
    extras: dict[str, Any] = field(default_factory=dict)


def log_p(logits: torch.Tensor) -> torch.Tensor:
    """``log(p + 1e-5)``, the reference codebases' form. ``logsigmoid`` differs from it by up to
    ``1e-5/p`` (about 1e-3 at ``g = -5``), more than the precision the reference is checked to."""
    return torch.log(torch.sigmoid(logits) + LOG_EPS)


def log_1mp(logits: torch.Tensor) -> torch.Tensor:
    """``log(1 - p + 1e-5)``, the reference form (see ``log_p``)."""
    return torch.log(1.0 - torch.sigmoid(logits) + LOG_EPS)


def nll_positive(logits: torch.Tensor) -> torch.Tensor:
    """``-log p`` exactly (``softplus(-g)``): the form of the later methods whose authors use
    ``binary_cross_entropy_with_logits`` or ``logsigmoid`` rather than ``log(p + 1e-5)``."""
    return torch.nn.functional.softplus(-logits)


def nll_negative(logits: torch.Tensor) -> torch.Tensor:
    """``-log(1 - p)`` exactly (``softplus(g)``); see ``nll_positive``."""
    return torch.nn.functional.softplus(logits)


class HParamError(ValueError):
    """A hyper-parameter value outside its declared range; the message names the method, the
    hyper-parameter, the value and the valid range."""


@dataclass(frozen=True)
class Range:
    """The valid values of a numeric hyper-parameter and, for tuning, where to search.

    ``low``/``high`` bound the valid interval (``low_open``/``high_open`` exclude the bound);
    ``integer`` requires a whole number. ``search`` is the interval a tuning study draws from
    (inside the valid one; ``None``: not tuned), on a log scale when ``log``.
    """

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    integer: bool = False
    search: tuple[float, float] | None = None
    log: bool = False

    def __post_init__(self) -> None:
        if self.search is not None:
            lo, hi = self.search
            if not (self.contains(lo) and self.contains(hi) and lo <= hi):
                raise ValueError(f"search interval {self.search} is not inside the valid range {self.describe()}")
            if self.log and lo <= 0:
                raise ValueError(f"a log-scale search interval must be positive, got {self.search}")

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        try:
            if not math.isfinite(value):
                return False
        except OverflowError:  # an int past float's range (10**400) is in no range of real numbers
            return False
        if self.integer and value != int(value):
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def coerce(self, value: Any) -> Any:
        """An integral float (``5.0`` from a JSON sweep file) as the ``int`` an integer range
        means, so that ``range(value)`` works and ``T_w=5`` and ``T_w=5.0`` are one run."""
        if self.integer and isinstance(value, float) and math.isfinite(value) and value == int(value):
            return int(value)
        return value

    def describe(self) -> str:
        """``(0, 1]``, ``an integer in [1, inf)``: how error messages show the range."""
        interval = (
            f"{'(' if self.low_open or self.low == -math.inf else '['}{self.low:g}, "
            f"{self.high:g}{')' if self.high_open or self.high == math.inf else ']'}"
        )
        return f"an integer in {interval}" if self.integer else f"a finite number in {interval}"


#: the augmentations a recipe may name (``benchmark.run.loop`` maps each to a torchvision v2 transform)
AUGMENTATIONS = ("randaugment", "cutout")


@dataclass(frozen=True)
class Recipe:
    """A method's authors' training recipe (``--recipe authors``), on the real datasets; ``None``
    keeps the dataset's common-protocol value. ``benchmark.spec.recipes`` states its embedded-scale
    equivalent. ``stop``: ``"patience:K"`` (stop after K epochs without a better validation mAP),
    ``"none"`` (train every epoch) or ``"drop>D"`` (stop once the validation mAP is more than D
    points below the best). ``scheduler``: ``"constant"`` or ``"onecycle"`` (``OneCycleLR``,
    ``pct_start`` 0.2, stepped per batch, over ``cycle_epochs``; ``None``: the run's epochs).
    ``weight_decay`` applies to weight matrices and kernels, not biases or norms. ``sources``: where
    each value comes from (field name → source)."""

    batch_size: int | None = None
    lr: float | None = None
    head_lr_mult: float = 1.0
    scheduler: str = "constant"
    cycle_epochs: int | None = None
    weight_decay: float = 0.0
    stop: str | None = None
    augment: tuple[str, ...] = ()
    epochs: int | None = None
    sources: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.stop_rule()
        unknown = [a for a in self.augment if a not in AUGMENTATIONS]
        if unknown or self.scheduler not in ("constant", "onecycle"):
            raise ValueError(f"recipe: augment {unknown} / scheduler {self.scheduler!r} unknown")

    def is_common(self) -> bool:
        """Whether this recipe trains as the common protocol (its sources aside)."""
        return dataclasses.replace(self, sources={}) == Recipe()

    def stop_rule(self) -> tuple[str, float] | None:
        """``stop`` parsed: ``("patience", K)``, ``("none", 0)``, ``("drop", D)`` (``None``: the dataset's patience)."""
        if self.stop is None:
            return None
        kind, _, value = self.stop.replace(">", ":").partition(":")
        if kind == "none" and not value:
            return "none", 0.0
        if kind in ("patience", "drop") and value.replace(".", "", 1).isdigit():
            return kind, float(value)
        raise ValueError(f"recipe stop {self.stop!r}: expected 'patience:K', 'none' or 'drop>D'")


#: the common protocol as a method's own recipe: Cole et al. (2021) and Zhou et al. (2022) trained so
COMMON = Recipe(sources={"*": "the common protocol (PROTOCOL.md), the authors' own"})


def _same_kind(reference: Any, value: Any) -> bool:
    if isinstance(reference, bool) or isinstance(value, bool):
        return isinstance(reference, bool) and isinstance(value, bool)
    if isinstance(reference, (int, float)):
        return isinstance(value, (int, float))
    return isinstance(value, type(reference))


def trainable_parameters(model: nn.Module | None) -> list[nn.Parameter]:
    """The parameters a regulariser covers: those of ``model`` the optimiser updates."""
    return [] if model is None else [p for p in model.parameters() if p.requires_grad]


class LabelError(ValueError):
    """Observed labels or logits of the wrong shape or with values a method cannot read."""


def check_inputs(
    logits: torch.Tensor, observed: torch.Tensor, *, allow_soft_negative: bool = False, values: bool = True
) -> None:
    """Raise ``LabelError`` naming what is wrong with a (logits, observed) pair. ``values=False``
    checks shapes only: reading the values back is a host-device sync on an accelerator."""
    if logits.ndim != 2:
        raise LabelError(f"logits must be [B, C], got shape {tuple(logits.shape)}")
    if observed.shape != logits.shape:
        raise LabelError(
            f"observed labels have shape {tuple(observed.shape)} but logits have shape "
            f"{tuple(logits.shape)}; expected the same [B, C]"
        )
    if not values:
        return
    exact = (observed == 1) | (observed == 0) | (observed == -1)
    ok = exact | ((observed > -1) & (observed < 0)) if allow_soft_negative else exact
    if not bool(ok.all()):
        bad = observed[~ok].flatten()[:5].tolist()
        allowed = "{+1, 0, -1} or a soft pseudo-label in (-1, 0)" if allow_soft_negative else "{+1, 0, -1}"
        raise LabelError(f"observed labels must be in {allowed}; found {bad}")


class Method(nn.Module):
    """Base class of every method plugin. Subclasses set the class attributes below."""

    key: ClassVar[str] = ""
    #: one line for ``run_all.py --list``
    summary: ClassVar[str] = ""
    #: the paper the method comes from
    paper: ClassVar[str] = ""
    #: label regimes the default sweep runs this method under
    regimes: ClassVar[tuple[str, ...]] = ("1p",)
    #: hyper-parameter defaults: ``"*"`` for every dataset, then per dataset key overrides
    defaults: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    #: valid range (and tuning interval) of each numeric hyper-parameter, next to ``defaults``
    ranges: ClassVar[Mapping[str, Range]] = {}
    #: the small CI configuration that tests use (keyword overrides), benchopt-style
    test_config: ClassVar[Mapping[str, Any]] = {}
    #: the authors' training recipe (``--recipe authors``); ``COMMON`` where they used the common protocol
    recipe: ClassVar[Recipe] = COMMON
    #: where each default comes from, per dataset key as ``defaults``: hyper-parameter → source (a paper's
    #: table, a repository file, an issue's URL); one starting with ``PROJECT_CHOICE`` is the project's own
    sources: ClassVar[Mapping[str, Mapping[str, str]]] = {}
    #: hyper-parameters that are statistics of a dataset's labels, not knobs (ROLE's ``k``); see ``dataset_defaults``
    label_statistics: ClassVar[tuple[str, ...]] = ()
    #: optimiser learning-rate multiplier for the method's own parameters
    lr_multiplier: ClassVar[float] = 1.0
    #: whether observed labels may hold soft negative pseudo-labels in (-1, 0)
    allows_soft_labels: ClassVar[bool] = False
    #: the least value ``loss`` can take on valid inputs. An epoch's training loss below it means the
    #: objective is not this method's any more, and the harness records the run as diverged. A method
    #: whose loss can be negative (EM's -αH) declares its own, as a property where it depends on the
    #: hyper-parameters; ``tests/test_divergence.py`` checks every method's against its loss.
    loss_lower_bound: float = 0.0
    #: check label values on every ``loss`` call. The harness turns it off on an accelerator after
    #: checking the whole observed training matrix once, so that no batch waits for the device.
    check_values: bool = True

    def __init__(self, num_classes: int, dataset: str | None = None, **overrides: Any) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = int(num_classes)
        self.dataset = dataset
        self.hparams: dict[str, Any] = self.resolve_hparams(dataset, overrides)
        self.model: nn.Module | None = None

    # -- hyper-parameters -------------------------------------------------------------------
    @classmethod
    def dataset_defaults(cls, dataset: str) -> dict[str, Any]:
        """``defaults[dataset]``; a variant ``<family>-<like>`` that has none (``digits-voc``) takes its
        family's (``digits``), but its ``label_statistics`` from the dataset it is built like (``voc``)."""
        family, _, like = dataset.partition("-")
        if dataset in cls.defaults or not like:
            return dict(cls.defaults.get(dataset, {}))
        own = cls.defaults.get(like, {})
        return {**cls.defaults.get(family, {}), **{k: own[k] for k in cls.label_statistics if k in own}}

    @classmethod
    def resolve_hparams(
        cls, dataset: str | None, overrides: Mapping[str, Any], *, epochs: int | None = None
    ) -> dict[str, Any]:
        """Defaults for ``dataset`` with ``overrides`` on top; an unknown name is an error, and so
        is a value outside its declared range (``check_hparams``; ``epochs``: the run's, when
        known, for the rules on the schedule)."""
        hp: dict[str, Any] = dict(cls.defaults.get("*", {}))
        if dataset is not None:
            hp.update(cls.dataset_defaults(dataset))
        known = set(hp)
        for ds_defaults in cls.defaults.values():
            known |= set(ds_defaults)
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(
                f"method '{cls.key}' has no hyper-parameter {', '.join(map(repr, unknown))}; "
                f"known: {sorted(known) or 'none'}"
            )
        for name, value in overrides.items():
            reference = hp.get(name)
            if reference is not None and not _same_kind(reference, value):
                raise TypeError(
                    f"method '{cls.key}' hyper-parameter '{name}' must be {type(reference).__name__} "
                    f"(like its default {reference!r}), got {value!r}"
                )
        hp.update(overrides)
        for name, valid in cls.ranges.items():
            if name in hp:
                hp[name] = valid.coerce(hp[name])
        missing = sorted(k for k in known if k not in hp)
        if missing:
            raise TypeError(
                f"method '{cls.key}' has no default for {missing} on dataset {dataset!r}; pass them as keywords"
            )
        cls.check_hparams(hp, epochs=epochs)
        return hp

    @classmethod
    def check_hparams(cls, hp: Mapping[str, Any], *, epochs: int | None = None) -> None:
        """Raise ``HParamError`` for a value outside its declared ``ranges`` (``None`` values are
        left to the method, e.g. a default that must be given per dataset). A method with rules
        across hyper-parameters or on the schedule (``epochs``: the run's, when known) extends this."""
        for name, valid in cls.ranges.items():
            value = hp.get(name)
            if value is not None and not valid.contains(value):
                raise cls.out_of_range(name, value, valid.describe())

    @classmethod
    def out_of_range(cls, name: str, value: Any, expected: str) -> HParamError:
        """The error for ``name = value``, naming the method and what was ``expected``."""
        shown = repr(value)
        if len(shown) > 60:  # one readable line, whatever was given (10**400 has 401 digits)
            shown = f"{shown[:25]}...{shown[-10:]} ({len(shown)} characters)"
        return HParamError(f"method '{cls.key}' hyper-parameter '{name}' is {shown}; expected {expected}")

    # -- how logits are made ----------------------------------------------------------------
    def logits_from_map(self, feature_map: torch.Tensor, head: nn.Module) -> torch.Tensor:
        """Logits ``[B, C]`` from the backbone's unpooled feature map ``[B, D, H, W]`` and the
        classifier head. Override it to own how logits are made (the harness then calls it in
        training and at every prediction); this default, global average pooling then the head,
        is what the model itself computes for every other method."""
        return head(feature_map.mean(dim=(2, 3)))

    @classmethod
    def makes_own_logits(cls) -> bool:
        """Whether this method overrides ``logits_from_map``."""
        return cls.logits_from_map is not Method.logits_from_map

    @classmethod
    def protocol_problem(cls, protocol: str) -> str | None:
        """Why this method cannot run under ``protocol`` (``None``: it can)."""
        if protocol == "linear" and cls.makes_own_logits():
            return (
                f"method '{cls.key}' makes its logits from the backbone's unpooled feature map, but the "
                f"linear protocol trains on cached pooled features; use --protocol finetune"
            )
        return None

    def __getattr__(self, name: str) -> Any:
        # hyper-parameters read as attributes (self.alpha) keep loss code close to the formula
        hp = self.__dict__.get("hparams")
        if hp is not None and name in hp:
            return hp[name]
        return super().__getattr__(name)

    # -- the loss ---------------------------------------------------------------------------
    def loss(
        self,
        logits: torch.Tensor,
        observed: torch.Tensor,
        *,
        index: torch.Tensor | None = None,
        model: nn.Module | None = None,
    ) -> torch.Tensor:
        """Scalar loss with PROTOCOL.md's reduction: ``sum(loss matrix) / (B*C) + penalty``."""
        self.check_inputs(logits, observed)
        observed = observed.to(logits.dtype)
        matrix = self.loss_matrix(logits, observed, index=index)
        return matrix.sum() / logits.numel() + self.penalty(model if model is not None else self.model)

    def check_inputs(self, logits: torch.Tensor, observed: torch.Tensor) -> None:
        """``check_inputs`` plus: the logits have this method's number of classes (DW's γ and
        ROLE's regulariser depend on it)."""
        check_inputs(logits, observed, allow_soft_negative=self.allows_soft_labels, values=self.check_values)
        if logits.shape[1] != self.num_classes:
            raise LabelError(
                f"method '{self.key}' was built for {self.num_classes} classes but the logits have "
                f"{logits.shape[1]} (shape {tuple(logits.shape)})"
            )

    def loss_matrix(
        self, logits: torch.Tensor, observed: torch.Tensor, *, index: torch.Tensor | None = None
    ) -> torch.Tensor:
        raise NotImplementedError(f"method '{self.key}' implements neither loss nor loss_matrix")

    def penalty(self, model: nn.Module | None) -> torch.Tensor | float:
        return 0.0

    # -- hooks (no-ops by default) ----------------------------------------------------------
    def setup(self, info: TrainInfo) -> None:
        """Called once before training with the training set's size and observed labels."""

    def attach(self, model: nn.Module) -> None:
        """The harness hands over the model (L1R/L2R read its parameters). Not a submodule, so
        that the model is not duplicated in the method's state_dict."""
        object.__setattr__(self, "model", model)

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        params = [p for p in self.parameters() if p.requires_grad]
        return [{"params": params, "lr": lr * self.lr_multiplier}] if params else []

    def before_training(self, ctx: TrainContext) -> None:
        """Called once after the optimiser is built, before the first epoch."""

    def on_epoch_start(self, epoch: int, ctx: TrainContext) -> None:
        """Called before the training phase of epoch ``epoch`` (counted from 1), also on the
        first epoch after a resume."""

    def batch_labels(self, observed: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """The labels the loss sees for a training batch (APL substitutes pseudo-labels)."""
        return observed

    def on_epoch_end(self, epoch: int, ctx: TrainContext) -> None:
        """Called after the training phase of epoch ``epoch`` (counted from 1)."""

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.hparams.items())


class Scheduled(Method):
    """Base of a method whose loss depends on the epoch (LL's rejection rate, SPLC's start, GR's
    schedules). ``self.epoch`` is the epoch being trained, counted from 1, and ``self.num_epochs``
    the run's length: 1 and 10 (the protocol's) until ``on_epoch_start`` and ``setup`` say
    otherwise, so a freshly built method's ``loss`` is the first epoch's. Both are the module's
    extra state, in ``state_dict``: a restored method continues its schedule. They are Python
    numbers, so reading them in the loss costs no host-device sync."""

    def __init__(self, num_classes: int, dataset: str | None = None, **overrides: Any) -> None:
        super().__init__(num_classes, dataset, **overrides)
        self.epoch = 1
        self.num_epochs = 10

    def setup(self, info: TrainInfo) -> None:
        self.num_epochs = int(info.num_epochs)

    def on_epoch_start(self, epoch: int, ctx: TrainContext | None) -> None:
        if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral) or epoch < 1:
            raise ValueError(f"{self.key}: epochs are counted from 1, got epoch={epoch!r}")
        self.epoch = int(epoch)

    def get_extra_state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "num_epochs": self.num_epochs}

    def set_extra_state(self, state: dict[str, int]) -> None:
        self.epoch, self.num_epochs = int(state["epoch"]), int(state["num_epochs"])
