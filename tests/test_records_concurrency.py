"""Many jobs finishing at once: 8 writer processes write records at the same time, each its own
files and all of them the same file, while this process reads that file; every record read,
meanwhile and afterwards, is whole, valid JSON."""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

from benchmark.records import iter_records, read_record, write_record
from benchmark.records.identity import seal

WRITERS = 8
OWN_RECORDS = 6
SHARED_WRITES = 12
# large enough that a non-atomic write would be seen half-done: several pages per record
PAYLOAD = 200_000


def _record(writer: int, i: int) -> dict:
    return {
        "method": "an",
        "dataset": "digits",
        "labels": "1p",
        "seed": 100 * writer + i,
        "status": "done",
        "writer": writer,
        "i": i,
        "test_map": writer + i / 100,
        "blob": f"{writer}-{i}-" * (PAYLOAD // 8),
    }


def _write(args: tuple[str, int, mp.synchronize.Barrier]) -> None:
    root, writer, barrier = args
    barrier.wait()  # all writers start together
    for i in range(SHARED_WRITES):
        write_record(Path(root) / "digits" / "shared.json", _record(writer, i))
        if i < OWN_RECORDS:
            write_record(Path(root) / "digits" / f"w{writer}_{i}.json", _record(writer, i))


def _whole(rec: dict) -> dict:
    """``rec`` without its seal, once the seal matches (write_record seals every record)."""
    assert rec["digest"] == seal(rec)
    return {k: v for k, v in rec.items() if k != "digest"}


def test_parallel_writers_leave_every_record_whole(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")  # no fork of a process that may hold torch's threads
    barrier = ctx.Barrier(WRITERS)
    procs = [ctx.Process(target=_write, args=((str(tmp_path), w, barrier),)) for w in range(WRITERS)]
    for p in procs:
        p.start()
    # meanwhile a reader: it sees no file yet or a whole one, never a torn one
    shared_path = tmp_path / "digits" / "shared.json"
    reads = 0
    while any(p.is_alive() for p in procs):
        if shared_path.exists():
            rec = json.loads(shared_path.read_text())
            assert _whole(rec) == _record(rec["writer"], rec["i"])
            reads += 1
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0, f"writer {p.name} exited with {p.exitcode}"

    files = sorted((tmp_path / "digits").iterdir())
    # no temporary file left behind, and exactly the expected records
    assert [f.name for f in files] == sorted(
        ["shared.json", *(f"w{w}_{i}.json" for w in range(WRITERS) for i in range(OWN_RECORDS))]
    )
    for w in range(WRITERS):
        for i in range(OWN_RECORDS):
            assert _whole(read_record(tmp_path / "digits" / f"w{w}_{i}.json")) == _record(w, i)
    shared = json.loads((tmp_path / "digits" / "shared.json").read_text())
    assert _whole(shared) == _record(shared["writer"], shared["i"]), "the shared record mixes two writers' bytes"
    assert len(list(iter_records(tmp_path))) == WRITERS * OWN_RECORDS + 1
