"""Reading run records into a DataFrame: one row per record file."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

COLUMNS = ["method", "dataset", "labels", "seed", "protocol", "status", "test_map", "best_epoch", "run_id", "path"]


def load_records(results_dir: str | Path) -> pd.DataFrame:
    """Every record under ``results_dir`` (folders starting with ``_`` hold scratch, skipped)."""
    root = Path(results_dir)
    rows = []
    for path in sorted(root.rglob("*.json")) if root.is_dir() else []:
        rel = path.relative_to(root)
        if path.name.startswith(".") or any(part.startswith("_") for part in rel.parts):
            continue
        with open(path, encoding="utf-8") as fh:
            rec = json.load(fh)
        rec["path"] = str(rel)
        rec.setdefault("protocol", (rec.get("config") or {}).get("protocol", "finetune"))
        rows.append(rec)
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    return pd.DataFrame(rows)
