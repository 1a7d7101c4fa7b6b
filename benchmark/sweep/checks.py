"""The pre-run checks: everything a sweep (or one run) must have before its first run starts, so
that a mistake costs one line, not a trained run whose record cannot be kept. The CLI, the Python
API (``benchmark.run_and_record``) and every launcher call the same functions; each refuses with
``PreRunError`` (a ``ValueError``) and one line naming the value and what is expected, and the CLI
turns it into exit status 2.

- folders: the results folder (and its dataset and checkpoint folders) and the log folder can be
  made and written; the data root is not a file;
- data: each real dataset is prepared under the data root, and is the dataset its key names;
- devices: a run on this machine asks for a device this machine has;
- packing: ``--runs-per-gpu`` and ``--mps`` fit the executor and GPUs;
- before a SLURM submission (``submission_problems``): what its offline jobs would lack — the
  images, space for the decoded-image cache, pretrained weights — each with the command that fixes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from benchmark.core.cli import check_path, default_data_root, one_line
from benchmark.data import DatasetNotFoundError, UnknownDatasetError, get_spec
from benchmark.data.cache import cache_bytes, cache_path, check_space
from benchmark.data.embedded import LOCAL_BACKBONES
from benchmark.data.formatted import check_prepared, prepare_command
from benchmark.data.weights import pretrained_file_problem, weights_problem
from benchmark.records.layout import CHECKPOINTS
from benchmark.run.epochlog import TensorBoardUnavailableError, check_tensorboard
from benchmark.spec.config import RunConfig
from benchmark.spec.validation import check_device_available
from benchmark.sweep.plan import Job

#: at most this many problems are listed when a submission is refused
MAX_PROBLEMS = 5


class PreRunError(ValueError):
    """A pre-run check refused: nothing ran and nothing was written. One line naming the value."""


def _refused(exc: BaseException) -> PreRunError:
    return PreRunError(one_line(exc))


# -- folders ---------------------------------------------------------------------------------------
def check_folder(flag: str, path: Path, *, write: bool = True) -> None:
    """``path`` is a folder or can be made one; with ``write``, files can be created there."""
    try:
        check_path(flag, Path(path), "folder", write=write)
    except ValueError as exc:
        raise _refused(exc) from None


def check_results_dir(
    results_dir: Path, datasets: Iterable[str], *, write: bool = True, flag: str = "--results-dir"
) -> None:
    """The results folder and the folders runs write into (each dataset's, the checkpoints')."""
    results_dir = Path(results_dir)
    check_folder(flag, results_dir, write=write)
    for sub in [*dict.fromkeys(datasets), CHECKPOINTS]:
        if (results_dir / sub).exists():
            check_folder(flag, results_dir / sub, write=write)


def check_data_root(data_root: Path, flag: str = "--data-root") -> None:
    """The data root is a folder to read (or not there yet: the embedded set is built into it)."""
    check_folder(flag, Path(data_root), write=False)


# -- data ------------------------------------------------------------------------------------------
def is_prepared_dataset(key: str) -> bool:
    """Whether ``key`` is read from prepared files (every real dataset; not the embedded set)."""
    return get_spec(key).loader.startswith("benchmark.data.formatted:")


def check_data(datasets: Iterable[str], data_root: Path) -> None:
    """Each real dataset is prepared under ``data_root`` and is the dataset its key names; the
    message names the path and the command that prepares it."""
    for key in dict.fromkeys(datasets):
        if is_prepared_dataset(key):
            try:
                check_prepared(key, Path(data_root))  # the folder, its formatted files and dataset.json
            except (DatasetNotFoundError, ValueError) as exc:  # FormattedDataError, DatasetIdentityError
                raise _refused(exc) from None


def unprepared(datasets: Iterable[str], data_root: Path) -> list[str]:
    """``check_data``'s complaint about each dataset, without stopping at the first (a dry run)."""
    notes = []
    for key in dict.fromkeys(datasets):
        try:
            check_data([key], data_root)
        except PreRunError as exc:
            notes.append(str(exc))
    return notes


# -- devices and packing ---------------------------------------------------------------------------
def check_devices(devices: Iterable[str], executor: str = "inline") -> None:
    """Inline and local runs happen on this machine: their device must exist here (SLURM jobs run
    elsewhere, where the run itself checks)."""
    if executor == "slurm":
        return
    for device in sorted(set(devices)):
        try:
            check_device_available(device)
        except ValueError as exc:
            raise PreRunError(f"{one_line(exc)} (--executor slurm runs on the cluster's GPU nodes)") from None


def check_packing(runs_per_gpu: int, executor: str, gpus: int, mps: bool) -> None:
    """``--runs-per-gpu`` and ``--mps`` make sense only for jobs that hold one GPU (or none)."""
    k = runs_per_gpu
    if k < 1:
        raise PreRunError(f"--runs-per-gpu must be at least 1, got {k}")
    if k > 1 and executor == "inline":
        raise PreRunError(
            "--runs-per-gpu needs --executor local or slurm (inline runs one run at a time in this process)"
        )
    if k > 1 and gpus > 1:
        raise PreRunError(
            f"--runs-per-gpu packs runs onto one GPU: use --gpus 1 (or 0 for CPU runs), got --gpus {gpus}"
        )
    if mps and k < 2:
        raise PreRunError("--mps shares one GPU among packed runs: it needs --runs-per-gpu 2 or more")


# -- all of it, for a list of jobs -----------------------------------------------------------------
def data_root_of(cfg: RunConfig) -> Path:
    return Path(cfg.data_root) if cfg.data_root is not None else default_data_root()


def check_jobs(
    jobs: Sequence[Job],
    executor: str = "inline",
    *,
    results_flag: str = "--results-dir",
    data_flag: str = "--data-root",
) -> None:
    """Every check a list of jobs must pass before the first starts (``PreRunError``, nothing
    written): their results folders, data roots and data, TensorBoard where asked for, and their
    devices where they run on this machine. The flags name the values in messages."""
    for results_dir in dict.fromkeys(job.results_dir for job in jobs):
        check_results_dir(
            results_dir, [job.cfg.dataset for job in jobs if job.results_dir == results_dir], flag=results_flag
        )
    for data_root in dict.fromkeys(data_root_of(job.cfg) for job in jobs):
        check_data_root(data_root, data_flag)
        check_data([job.cfg.dataset for job in jobs if data_root_of(job.cfg) == data_root], data_root)
    boards = list(dict.fromkeys(job.tensorboard_dir for job in jobs if job.tensorboard_dir is not None))
    for board in boards:
        check_folder("--tensorboard", Path(board))
    if boards:
        try:
            check_tensorboard()
        except TensorBoardUnavailableError as exc:
            raise _refused(exc) from None
    check_devices((job.cfg.device for job in jobs), executor)


# -- before a SLURM submission ---------------------------------------------------------------------
def _data_problems(dataset: str, data_root: Path, image_size: int | None) -> list[str]:
    spec = get_spec(dataset)
    if not is_prepared_dataset(dataset):
        return []  # built locally on first use (the embedded set)
    try:
        check_prepared(dataset, data_root)  # the folder, its files, and that it is this dataset
        ds = spec.load(data_root, image_size=image_size or spec.image_size, check_files=False)
    except (DatasetNotFoundError, ValueError) as exc:  # FormattedDataError, DatasetIdentityError are ValueErrors
        return [one_line(exc)]
    stores = {"pool": ds.pool.images, "test": ds.test.images}
    for split, store in stores.items():
        # the first image of each split stands for all: a full check stats every file (the run does that)
        first = store.path(0) if hasattr(store, "path") and len(store) else None
        if first is not None and not Path(first).is_file():
            return [
                f"the images of {dataset} are not on this machine: {first} (the first {split} image) "
                f"does not exist; unpack them there or prepare again with: {prepare_command(dataset, data_root)}"
            ]
    try:
        need, missing = 0, []
        for split, store in stores.items():
            path, shape = cache_path(store, data_root, dataset, split, data_digest=ds.provenance.get("digest"))
            if not path.exists():
                need += cache_bytes(len(store), shape)
                missing.append(path)
        if missing:
            check_space(missing[0].parent, need, f"the decoded-image caches of {dataset} the first job builds")
    except (OSError, ValueError) as exc:
        return [one_line(exc)]
    return []


def _weights_problems(backbone: str, pretrained: bool, pretrained_file: str | None) -> list[str]:
    if backbone in LOCAL_BACKBONES:  # built locally (benchmark.run.pretrain): nothing to fetch
        problem = None
    elif pretrained_file is not None:
        problem = pretrained_file_problem(backbone, pretrained_file)
    else:
        problem = weights_problem(backbone) if pretrained else None
    return [] if problem is None else [problem]


def check_available(
    dataset: str,
    data_root: str | Path,
    *,
    backbone: str,
    pretrained: bool,
    pretrained_file: str | None = None,
    image_size: int | None = None,
) -> list[str]:
    """What would make a run of this configuration fail on an offline node, one line each with the
    command that fixes it; ``[]`` when all it needs is here."""
    try:
        get_spec(dataset)
    except UnknownDatasetError as exc:
        return [str(exc)]
    return _data_problems(dataset, Path(data_root), image_size) + _weights_problems(
        backbone, pretrained, pretrained_file
    )


def sweep_problems(configs: Iterable[RunConfig], default_root: str | Path) -> list[str]:
    """``check_available`` over the distinct (dataset, data root, backbone, weights, image size) of
    a sweep's runs, each asked once; problems in order, without repeats."""
    seen: set[tuple[object, ...]] = set()
    problems: list[str] = []
    for cfg in configs:
        r = cfg.resolve()
        root = r.data_root or str(default_root)
        key = (r.dataset, root, r.backbone, bool(r.pretrained), r.pretrained_file, r.image_size)
        if key not in seen:
            seen.add(key)
            problems += check_available(
                r.dataset,
                root,
                backbone=str(r.backbone),
                pretrained=bool(r.pretrained),
                pretrained_file=r.pretrained_file,
                image_size=r.image_size,
            )
    return list(dict.fromkeys(problems))


def submission_problems(configs: Sequence[RunConfig]) -> list[str]:
    """Before a SLURM submission: the lines saying what its offline jobs would lack (data,
    weights), each with its fix, at most ``MAX_PROBLEMS``; ``[]`` when everything is here."""
    problems = sweep_problems(configs, default_data_root())
    if len(problems) > MAX_PROBLEMS:
        problems = [*problems[: MAX_PROBLEMS - 1], f"and {len(problems) - MAX_PROBLEMS + 1} more problems like these"]
    return problems


__all__ = [
    "MAX_PROBLEMS",
    "PreRunError",
    "check_available",
    "check_data",
    "check_data_root",
    "check_devices",
    "check_folder",
    "check_jobs",
    "check_packing",
    "check_results_dir",
    "data_root_of",
    "is_prepared_dataset",
    "submission_problems",
    "sweep_problems",
    "unprepared",
]
