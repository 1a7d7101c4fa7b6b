"""Run and sweep configuration (pydantic). Unknown fields are errors.

A ``RunConfig`` may leave training fields as ``None``; ``resolve()`` fills them from the dataset's
defaults (PROTOCOL.md for VOC/COCO/NUS-WIDE/CUB) and the method's hyper-parameters from its own
per-dataset defaults. Every run records its resolved config, and the record's file name is a hash
of the fields that identify the run (``identity``): those that change the numbers, and the device
(so that a rerun on another device is not mistaken for the failed run it corrects).

Validation catches, before anything runs, every value a run would fail on or silently misuse: a
non-finite or non-positive lr, a hyper-parameter outside its method's declared range (with the
run's resolved epochs, for schedule rules such as em_apl's ``T_w <= epochs``), a malformed device
name, a backbone that is neither ``smallcnn`` nor a timm model. ``benchmark.core.cli.describe_validation``
condenses a pydantic error to one line: field, value, expected.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

import methods
from benchmark.core.cli import DEFAULT_SEEDS
from benchmark.data import get_spec
from benchmark.data.embedded import LOCAL_BACKBONES
from benchmark.data.protocol import check_regime
from benchmark.records import NON_IDENTITY_FIELDS  # the record contract defines a run's identity
from benchmark.records.identity import config_run_id
from benchmark.spec import variants
from benchmark.spec.defaults import seed_design, training_defaults
from benchmark.spec.recipes import recipe_defaults, recipe_of
from benchmark.spec.tune import Trial, default_check, draw_trials, search_space, study_tag
from benchmark.spec.validation import check_backbone, check_device_name
from benchmark.spec.variants import as_default_kind

#: the largest ``image_size`` (px a side): the protocol's is 448; the decoded-image cache of a larger
#: one would not fit (COCO at 100,000 px asks for terabytes)
MAX_IMAGE_SIZE = 2048
#: the most runs a sweep may plan unless raised (``--max-runs``): ten times the committed sweeps
MAX_RUNS = 10_000


def _known(lookup: Callable[[str], object]) -> AfterValidator:
    """A name field's check: ``lookup(name)`` raises on an unknown name; the name is kept."""

    def check(name: str) -> str:
        lookup(name)
        return name

    return AfterValidator(check)


def _each_known(lookup: Callable[[str], object]) -> AfterValidator:
    """A list of names' check: ``lookup`` of each, an unknown name as a ``ValueError``, which
    pydantic reports with the field (registries raise ``KeyError``)."""

    def check(names: list[str] | None) -> list[str] | None:
        for name in names or []:
            try:
                lookup(name)
            except KeyError as exc:
                raise ValueError(str(exc)) from None
        return names

    return AfterValidator(check)


Backbone = Annotated[str, AfterValidator(check_backbone)]
#: SweepConfig's field ``methods`` hides the module in its class body
_known_methods = _each_known(methods.get)


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: Annotated[str, _known(get_spec)]
    method: Annotated[str, _known(methods.get)]
    labels: Annotated[str, AfterValidator(check_regime)] = "1p"
    #: torch's CPU generator (mt19937) and numpy keep only a seed's low 32 bits: seeds equal modulo
    #: 2**32 would give bit-identical runs counted as two, so larger ones are refused
    seed: int = Field(default=0, ge=0, lt=2**32)
    #: the data seed: the validation split and the observed labels (``benchmark.data.protocol.draw_seed``);
    #: None: the published protocol's fixed draw (1200), which every run had before data seeds
    data_seed: int | None = Field(default=None, ge=0, lt=2**32)
    #: the tuning study a run was planned for (``SweepConfig.planned``), part of its identity so that
    #: no two studies share a run (each holds exactly its own trials); None: a run of no study
    study: str | None = None
    protocol: Literal["finetune", "linear"] = "finetune"
    #: "common": the protocol, every method alike; "authors": the method's published training recipe
    #: (``methods.base.Recipe``, its embedded-scale equivalent on digits: ``benchmark.spec.recipes``)
    recipe: Literal["common", "authors"] = "common"
    backbone: Backbone | None = None
    pretrained: bool | None = None
    #: a local state dict of the timm backbone to start from instead of timm's download (offline
    #: compute nodes); its path is part of the run's identity, so such runs are never averaged with
    #: runs on the downloaded weights
    #: (absolute, so a job started in another folder reads the same file)
    pretrained_file: Annotated[str, AfterValidator(lambda v: os.path.abspath(os.path.expanduser(v)))] | None = None
    #: at most MAX_IMAGE_SIZE px a side: a larger size only fails later, allocating tens of GiB
    image_size: int | None = Field(default=None, gt=0, le=MAX_IMAGE_SIZE)
    epochs: int | None = Field(default=None, gt=0)
    batch_size: int | None = Field(default=None, gt=0)
    lr: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    #: early stopping: stop after this many epochs without a strictly better validation mAP
    #: (the paper: 1, i.e. stop at the first non-improving epoch); 0 disables early stopping
    patience: int | None = Field(default=None, ge=0)
    hflip: bool | None = None
    hparams: dict[str, Any] = Field(default_factory=dict)
    #: "auto": CUDA when present, else CPU
    device: Annotated[str, AfterValidator(check_device_name)] = "auto"
    amp: Literal["off", "bf16", "fp16"] = "off"
    channels_last: bool = False
    #: torch.compile the model's forward (fused kernels; numbers may differ in the last bits)
    compile: bool = False
    #: decode and resize file-backed images once into a memory-mapped uint8 cache under the data root
    image_cache: bool = True
    #: None: deterministic on CPU, cuDNN benchmark mode on CUDA
    deterministic: bool | None = None
    num_workers: int = Field(default=0, ge=0)
    data_root: str | None = None
    #: checkpoint at every epoch end, resume from it, remove it when the record is written
    checkpoint: bool = True
    keep_checkpoint: bool = False

    @field_validator("hparams")
    @classmethod
    def _hparams_of_declared_kind(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        # a whole number for a float hyper-parameter is that float (alpha=1 from the API, alpha=1.0
        # from the CLI): one configuration, one run id
        method, dataset = info.data.get("method"), info.data.get("dataset")
        if method is None or dataset is None:
            return v  # refused by its own validator
        return {k: as_default_kind(method, dataset, k, x) for k, x in v.items()}

    @model_validator(mode="after")
    def _pretrained_file_fits(self) -> RunConfig:
        if self.pretrained_file is not None:
            backbone, pretrained = self._resolved("backbone"), self._resolved("pretrained")
            if not pretrained:
                raise ValueError(
                    "pretrained_file: a pretrained checkpoint needs pretrained=True (drop --no-pretrained)"
                )
            if backbone in LOCAL_BACKBONES:
                raise ValueError(
                    f"pretrained_file: '{backbone}' builds its pretrained weights locally; "
                    "--pretrained-file is for timm backbones"
                )
        return self

    @model_validator(mode="after")
    def _valid_hparams(self) -> RunConfig:
        method = methods.get(self.method)
        try:
            hp = method.resolve_hparams(self.dataset, self.hparams)
            method.check_hparams(hp, epochs=self._resolved("epochs"))
        except TypeError as exc:
            raise ValueError(f"hparams: {exc}") from None
        return self

    @model_validator(mode="after")
    def _method_runs_under_protocol(self) -> RunConfig:
        # e.g. a method that makes its logits from the unpooled feature map cannot train on the
        # linear protocol's cached pooled features: refused here, not as a failed record
        problem = methods.get(self.method).protocol_problem(self.protocol)
        if problem is not None:
            raise ValueError(problem)
        return self

    def _resolved(self, name: str) -> Any:
        """``name``'s value once ``None`` is filled from the dataset's (protocol's) defaults."""
        value = getattr(self, name)
        return value if value is not None else self._defaults().get(name)

    def _defaults(self) -> dict[str, Any]:
        """The dataset's (protocol's) training defaults, with what the run's recipe changes."""
        base = training_defaults(self.dataset, self.protocol)
        return {**base, **recipe_defaults(self.method, self.dataset, self.protocol, self.recipe)}

    def resolve(self) -> ResolvedRunConfig:
        """This config with every ``None`` training field filled in and the method's full
        hyper-parameters."""
        defaults = self._defaults()
        filled = {k: (defaults[k] if getattr(self, k) is None else getattr(self, k)) for k in defaults}
        filled["hparams"] = methods.get(self.method).resolve_hparams(self.dataset, self.hparams)
        if recipe_of(self.method, self.recipe).is_common():  # its authors' recipe is the common one: one run
            filled["recipe"] = "common"
        # not validated again (as model_copy(update=) did not): this config was, and the defaults are ours
        return ResolvedRunConfig.model_construct(self.model_fields_set | filled.keys(), **{**dict(self), **filled})

    def identity(self) -> dict[str, Any]:
        return {k: v for k, v in self.resolve().model_dump().items() if k not in NON_IDENTITY_FIELDS}

    def run_id(self) -> str:
        """Stable hash of the resolved identity: the record's file name (the record contract's one
        function, which the leaderboard recomputes from a record's config)."""
        return config_run_id(self.resolve().model_dump())

    def label(self) -> str:
        """``digits/em/1p/seed0`` (``.../seed0/data2`` with data seed 2); a variant names its hyper-parameters
        (``digits/em (alpha=0.3)/1p/seed0``), so two runs of a grid never print the same label."""
        method = variants.label(self.method, variants.variant(self.method, self.dataset, self.hparams))
        recipe = "" if self.resolve().recipe == "common" else f" [{self.recipe}]"
        data = "" if self.data_seed is None else f"/data{self.data_seed}"
        return f"{self.dataset}/{method}{recipe}/{self.labels}/seed{self.seed}{data}"


class ResolvedRunConfig(RunConfig):
    """A ``RunConfig`` after ``resolve()``: the fields the dataset's defaults fill in are set, and
    typed so, for the code that trains with them. Same fields in the same order (the record's
    ``config``), same run id."""

    backbone: Backbone
    pretrained: bool
    image_size: int = Field(gt=0, le=MAX_IMAGE_SIZE)
    epochs: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    lr: float = Field(gt=0, allow_inf_nan=False)
    patience: int = Field(ge=0)
    hflip: bool


#: RunConfig fields a sweep sets itself, one value per run (not shared overrides) → its sweep field
SWEEP_AXES = {
    "dataset": "datasets",
    "method": "methods",
    "labels": "labels",
    "seed": "seeds",
    "data_seed": "data_seeds",
    "study": "tuning",
}
#: the selection seeds of a tuning study unless given (``--tune-seeds``): fresh against the default seeds
DEFAULT_TUNE_SEEDS = (100, 101, 102)
SeedDesign = Literal["fixed", "paired", "crossed"]


class Tuning(BaseModel):
    """An equal-budget tuning study: ``trials`` configurations per method (trial 0: the default
    one), drawn from each method's search space with the generator seed ``seed``, each run on the
    selection seeds ``select_seeds`` (S: the winner is chosen on them) and on the sweep's seeds (T:
    the winner's test mAP is read on them, fresh, so the choice does not inflate it)."""

    model_config = ConfigDict(extra="forbid")

    trials: int = Field(ge=1)
    seed: int = 0
    select_seeds: list[int] = Field(default_factory=lambda: list(DEFAULT_TUNE_SEEDS), min_length=1)

    @field_validator("select_seeds")
    @classmethod
    def _distinct(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v) or any(not 0 <= s < 2**32 for s in v):
            raise ValueError(f"expected distinct seeds in [0, 2**32), got {v}")
        return v

    def study_id(self) -> str:
        """The study a run belongs to (``RunConfig.study``): its trials, space seed and selection seeds."""
        return f"tune{self.trials}/space{self.seed}/select{'.'.join(map(str, self.select_seeds))}"


class PlannedRun(NamedTuple):
    """A run of a sweep and the study it belongs to (the record's ``study`` field), if any."""

    cfg: RunConfig
    study: dict[str, Any] | None = None


class SweepConfig(BaseModel):
    """A study: datasets × methods × (regimes) × (grid points or tuning trials) × seeds, with
    shared overrides. Also what a sweep file (``--sweep FILE.toml``) holds."""

    model_config = ConfigDict(extra="forbid")

    datasets: Annotated[list[str], _each_known(get_spec)] = Field(default_factory=lambda: ["digits"], min_length=1)
    #: None: every registered method
    methods: Annotated[list[str] | None, _known_methods] = Field(default=None, min_length=1)
    seeds: list[int] = Field(default_factory=lambda: list(DEFAULT_SEEDS), min_length=1)
    #: data seeds (``RunConfig.data_seed``) for the "paired"/"crossed" designs; None: the model seeds
    data_seeds: list[int] | None = Field(default=None, min_length=1)
    #: how model and data seeds combine: "fixed" (the protocol's fixed draw), "paired" (the k-th model
    #: seed with the k-th data seed), "crossed" (every pair); None: "paired" where data seeds are given,
    #: else the dataset's default (``benchmark.spec.defaults.seed_design``)
    seed_design: SeedDesign | None = None
    #: None: each method's own regimes (the table's rows); else these regimes for every method
    labels: Annotated[list[str] | None, _each_known(check_regime)] = Field(default=None, min_length=1)
    #: RunConfig fields shared by every run (epochs, backbone, device, ...; ``hparams``: fixed
    #: hyper-parameters of every run)
    overrides: dict[str, Any] = Field(default_factory=dict)
    #: hyper-parameter → values: one variant per value, several names → their product
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    tuning: Tuning | None = None
    #: the most runs the sweep may have, checked before any run is planned (``--max-runs``)
    max_runs: int = Field(default=MAX_RUNS, ge=1)

    @field_validator("overrides")
    @classmethod
    def _run_fields(cls, v: dict[str, Any]) -> dict[str, Any]:
        for key in v:
            if key in SWEEP_AXES:
                raise ValueError(
                    f"'{key}' is a sweep axis, not an override; set '{SWEEP_AXES[key]}' of the sweep instead"
                )
            if key not in RunConfig.model_fields:
                valid = ", ".join(k for k in RunConfig.model_fields if k not in SWEEP_AXES)
                raise ValueError(f"'{key}' is not a run setting; expected one of {valid}")
        if not isinstance(v.get("hparams", {}), dict):
            raise ValueError(f"'hparams' must be a table of hyper-parameter values, got {v['hparams']!r}")
        return v

    @field_validator("grid")
    @classmethod
    def _nonempty_axes(cls, v: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for name, values in v.items():
            if not values:
                raise ValueError(f"hyper-parameter '{name}' has an empty list of values")
        return v

    @model_validator(mode="after")
    def _one_source_per_hparam(self) -> SweepConfig:
        fixed = set(self.overrides.get("hparams", {}))
        if self.tuning is not None and (self.grid or fixed):
            raise ValueError(
                "tuning draws the hyper-parameters from each method's search space; "
                "it cannot be combined with a grid or with overrides.hparams"
            )
        both = sorted(fixed & set(self.grid))
        if both:
            raise ValueError(
                f"hyper-parameter {', '.join(map(repr, both))} is set both in overrides.hparams and in grid"
            )
        return self

    @model_validator(mode="after")
    def _seed_axes(self) -> SweepConfig:
        if self.seed_design == "fixed" and self.data_seeds is not None:
            raise ValueError("data_seeds: the 'fixed' seed design uses the protocol's fixed draw; drop the data seeds")
        if self.data_seeds is not None and len(set(self.data_seeds)) != len(self.data_seeds):
            raise ValueError(f"data_seeds: {self.data_seeds} repeats a seed")
        paired = self.seed_design in (None, "paired") and self.data_seeds is not None
        if paired and len(self.data_seeds or []) != len(self.seeds):
            raise ValueError(
                f"data_seeds: the paired design takes one data seed per model seed ({len(self.seeds)}), "
                f"got {len(self.data_seeds or [])}; or use the crossed design (--seed-design crossed)"
            )
        if self.tuning is not None and set(self.tuning.select_seeds) & set(self.seeds):
            raise ValueError(
                f"tuning.select_seeds: {self.tuning.select_seeds} share a seed with the report seeds {self.seeds}; "
                "a tuned figure is read on seeds its choice did not see"
            )
        return self

    @model_validator(mode="after")
    def _bounded(self) -> SweepConfig:
        # counted from the axes' lengths, before anything is drawn or built: 10**8 runs is one line, not a MemoryError
        count = self.size()
        if count > self.max_runs:
            raise ValueError(
                f"the sweep has up to {count:,} runs, more than the limit of {self.max_runs:,}; "
                f"narrow it, or raise the limit (max_runs, --max-runs N)"
            )
        return self

    def size(self) -> int:
        """The most runs this sweep plans: datasets × methods × regimes × (grid points or trials) × seed pairs."""
        variants = self.tuning.trials if self.tuning is not None else math.prod(len(v) for v in self.grid.values())
        regimes = sum(len(self.regimes(m)) for m in self.method_keys())
        pairs = max(len(self.seed_pairs(d, self.seeds)) for d in self.datasets)
        if self.tuning is not None:
            pairs += max(len(self.seed_pairs(d, self.tuning.select_seeds)) for d in self.datasets)
        return len(self.datasets) * regimes * variants * pairs

    def design(self, dataset: str) -> SeedDesign:
        """The seed design on ``dataset``: the sweep's, else "paired" with data seeds given, else the dataset's."""
        return self.seed_design or ("paired" if self.data_seeds is not None else seed_design(dataset))

    def seed_pairs(self, dataset: str, seeds: list[int]) -> list[tuple[int, int | None]]:
        """(model seed, data seed) of each run on ``dataset``: data seed None is the fixed draw. A tuning
        study's selection seeds are their own data seeds (``data_seeds`` are the report seeds')."""
        design = self.design(dataset)
        data = self.data_seeds if self.data_seeds is not None and seeds == self.seeds else seeds
        if design == "fixed":
            return [(s, None) for s in seeds]
        if design == "paired":
            return list(zip(seeds, data))
        return list(itertools.product(seeds, data))

    # -- the runs -----------------------------------------------------------------------------
    def method_keys(self) -> list[str]:
        return list(self.methods) if self.methods is not None else methods.available()

    def regimes(self, method: str) -> list[str]:
        return list(self.labels) if self.labels is not None else list(methods.get(method).regimes)

    def _config(
        self,
        dataset: str,
        method: str,
        regime: str,
        seeds: tuple[int, int | None],
        hparams: dict[str, Any],
        study: str | None = None,
    ) -> RunConfig:
        shared = {k: v for k, v in self.overrides.items() if k != "hparams"}
        seed, data_seed = seeds
        return RunConfig(
            dataset=dataset,
            method=method,
            labels=regime,
            seed=seed,
            data_seed=data_seed,
            study=study,
            hparams=hparams,  # written in each default's kind by RunConfig's own validator
            **shared,
        )

    def grid_points(self) -> list[dict[str, Any]]:
        """The hyper-parameters of each variant: ``overrides.hparams`` with one point of the grid."""
        fixed = dict(self.overrides.get("hparams", {}))
        names = list(self.grid)
        return [{**fixed, **dict(zip(names, values))} for values in itertools.product(*(self.grid[n] for n in names))]

    def planned(self) -> list[PlannedRun]:
        """Every run of the sweep in order (dataset, method, regime, variant or trial, seed pair), each
        once: runs with the same run id (a grid value equal to the default, say) are one run. A tuning
        study runs every trial on its selection seeds and on the report seeds, each run tagged with the
        study (``RunConfig.study``), except the default configuration on the report seeds: the main
        table's runs."""
        out: list[PlannedRun] = []
        drawn: dict[tuple[str, str], list[Trial]] = {}
        if self.tuning is not None:
            drawn = {(d, m): self.trials(d, m) for d in self.datasets for m in self.method_keys()}
        # the study's budget as it ran: fewer trials than asked where no space holds that many
        # distinct configurations (--tune 100000); one figure for the whole study, which names it
        budget = max((len(t) for t in drawn.values()), default=0)
        for dataset in self.datasets:
            for method in self.method_keys():
                variants: list[tuple[dict[str, Any], dict[str, Any] | None]] = [(hp, None) for hp in self.grid_points()]
                select: list[tuple[int, int | None]] = []
                sid = None
                if self.tuning is not None:
                    tuning, trials, sid = self.tuning, drawn[dataset, method], self.tuning.study_id()
                    variants = [
                        (t.hparams, study_tag(budget, t.index, tuning.seed, tuning.select_seeds)) for t in trials
                    ]
                    # nothing to choose between where a method has trial 0 only: no selection runs
                    select = self.seed_pairs(dataset, tuning.select_seeds) if len(trials) > 1 else []
                report = self.seed_pairs(dataset, self.seeds)
                for regime in self.regimes(method):
                    for hparams, study in variants:
                        for pair in select + report:
                            own = None if study is None or (study["trial"] == 0 and pair in report) else sid
                            out.append(PlannedRun(self._config(dataset, method, regime, pair, hparams, own), study))
        unique: dict[str, PlannedRun] = {}
        for run in out:
            unique.setdefault(run.cfg.run_id(), run)
        return list(unique.values())

    def runs(self) -> list[RunConfig]:
        return [run.cfg for run in self.planned()]

    def trials(self, dataset: str, method: str) -> list[Trial]:
        """The tuning study's trials of ``method`` on ``dataset`` (trial 0 only without a search space)."""
        assert self.tuning is not None
        base = self._config(dataset, method, self.regimes(method)[0], (self.seeds[0], None), {})
        epochs = base.resolve().epochs
        method_check = default_check(method, dataset, epochs)

        def check(hparams: dict[str, Any]) -> None:
            method_check(hparams)
            self._config(dataset, method, base.labels, (base.seed, None), hparams)  # the run config's own rules

        return draw_trials(method, dataset, self.tuning.trials, self.tuning.seed, epochs=epochs, check=check)

    def untuned_methods(self) -> list[str]:
        """The sweep's methods that declare no search space (a study runs their trial 0 only)."""
        return [m for m in self.method_keys() if not search_space(m)]
