"""What each method adds to a run on the embedded set, measured side by side in one process.

For every method, with the harness's pieces (digits data, its small CNN, its batch size and lr, the
method's own logits where it makes them): one training epoch at epoch 2 (``on_epoch_start``, batch
labels, loss, backward, Adam step; LL's selection and SPLC's correction are on from the second
epoch), ``before_training`` (ROLE+LI's linear phase) and one ``on_epoch_end`` that fires (APL's
pseudo-labelling pass). Methods are interleaved
over repeats; times are the process's CPU time on one torch thread (a machine shared with other
jobs slows wall time by whatever else runs) and the medians are reported as ratios to AN's
training epoch.

    python -m benchmark.bench.method_overhead [--repeats 3] [--data-root DIR] [--methods an em]
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext

import torch

import methods
from benchmark.core.cli import OneLineParser, add_data_root, add_methods, add_threads, guarded, user_error
from benchmark.run.environment import torch_threads
from benchmark.run.loop import Normalizer, forward_all, train_epoch
from benchmark.run.models import forward_for, run_model
from benchmark.run.rundata import prepare_data
from benchmark.spec.config import ResolvedRunConfig, RunConfig


def measure(key: str, cfg: ResolvedRunConfig, data, seed: int = 0) -> dict[str, float]:
    torch.manual_seed(seed)
    ds = data.dataset
    normalize = Normalizer(ds.mean, ds.std, torch.device("cpu"), channels_last=False)
    model = run_model(cfg, ds)
    method = methods.build(key, num_classes=ds.num_classes, dataset=cfg.dataset)
    method.setup(methods.TrainInfo(len(data.train), ds.num_classes, data.observed, num_epochs=cfg.epochs))
    method.attach(model)
    forward = forward_for(model, method.logits_from_map if method.makes_own_logits() else None)
    optimizer = torch.optim.Adam([{"params": list(model.parameters()), "lr": cfg.lr}, *method.param_groups(cfg.lr)])

    def over_train(fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        return forward_all(model, data.train, normalize, fn, batch_size=64, autocast=nullcontext)

    ctx = methods.TrainContext(
        num_epochs=cfg.epochs,
        lr=cfg.lr,
        batch_size=cfg.batch_size,
        device=torch.device("cpu"),
        predict_train=lambda: torch.sigmoid(over_train(forward)),
        train_features=lambda: over_train(model.features),
        head=model.head,
        generator=torch.Generator().manual_seed(seed),
    )
    t0 = time.process_time()
    method.before_training(ctx)
    t1 = time.process_time()
    method.on_epoch_start(2, ctx)
    model.train()
    order = torch.randperm(len(data.train), generator=ctx.generator).numpy()
    train_epoch(
        model,
        method,
        optimizer,
        torch.amp.GradScaler(enabled=False),
        normalize,
        data.train,
        data.observed,
        order,
        None,
        batch_size=cfg.batch_size,
        autocast=nullcontext,
        forward=forward,
    )
    t2 = time.process_time()
    method.on_epoch_end(int(method.hparams.get("T_w", 1)), ctx)  # an epoch at which APL fires
    t3 = time.process_time()
    return {"before_training": t1 - t0, "epoch": t2 - t1, "on_epoch_end": t3 - t2}


PROG = "python -m benchmark.bench.method_overhead"


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    return guarded(prog, lambda args: _main(args, prog), argv)


def _main(argv: list[str] | None, prog: str) -> int:
    p = OneLineParser(prog=prog, description=__doc__)
    p.add_argument("--repeats", type=int, default=3)
    add_data_root(p)
    add_methods(p)
    add_threads(p)
    args = p.parse_args(argv)
    try:
        for key in args.methods or []:
            methods.get(key)
        if args.repeats < 1:
            raise ValueError(f"--repeats must be at least 1, got {args.repeats}")
    except (KeyError, ValueError) as exc:
        return user_error(prog, exc)
    with torch_threads(args.threads):  # called in-process (tests), the caller's count stays
        cfg = RunConfig(dataset="digits", method="an", data_root=str(args.data_root)).resolve()
        data = prepare_data(cfg)
        keys = args.methods or methods.available()
        times: dict[str, list[dict[str, float]]] = {k: [] for k in keys}
        measure(keys[0], cfg, data)  # warm-up (allocator, first-call dispatch), not counted
        for _ in range(args.repeats):
            for key in keys:
                times[key].append(measure(key, cfg, data))
        threads = torch.get_num_threads()
    med = {k: {part: statistics.median(t[part] for t in v) for part in v[0]} for k, v in times.items()}
    base = med["an"]["epoch"] if "an" in med else statistics.median(m["epoch"] for m in med.values())
    print(
        f"digits: {len(data.train)} training images, batch {cfg.batch_size}, {args.repeats} repeats, "
        f"torch threads {threads}; AN epoch median {base:.2f}s CPU"
    )
    width = max(10, *map(len, med))
    print(f"{'method':{width}s} {'epoch/AN':>9s} {'before_training/AN':>19s} {'on_epoch_end/AN':>16s}")
    for key, m in med.items():
        print(
            f"{key:{width}s} {m['epoch'] / base:9.2f} "
            f"{m['before_training'] / base:19.2f} {m['on_epoch_end'] / base:16.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
