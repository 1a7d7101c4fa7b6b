"""The record contract, torch-free: one JSON file per run, the single source of truth between running
and reporting. ``schema`` (statuses, identity fields, the one validator and the NaN rule), ``layout``
(where a record, its checkpoint, epoch CSV, logs and quarantined copies live), ``scan`` (strict
reading, a run's state, every record of a folder) and ``store`` (atomic, strict writing)."""

from benchmark.records.layout import checkpoint_path, epochs_csv_path, record_path
from benchmark.records.scan import RecordCheck, inspect_record, invalid_records, iter_records, read_record, record_files
from benchmark.records.schema import (
    IDENTITY_DEFAULTS,
    IDENTITY_FIELDS,
    NON_IDENTITY_FIELDS,
    NOT_CELL_IDENTITY,
    STATUSES,
    RecordInvalid,
    check_record,
    comparable,
    is_number,
    with_defaults,
)
from benchmark.records.store import write_record

__all__ = [
    "IDENTITY_DEFAULTS",
    "IDENTITY_FIELDS",
    "NON_IDENTITY_FIELDS",
    "NOT_CELL_IDENTITY",
    "STATUSES",
    "RecordCheck",
    "RecordInvalid",
    "check_record",
    "checkpoint_path",
    "comparable",
    "epochs_csv_path",
    "inspect_record",
    "invalid_records",
    "is_number",
    "iter_records",
    "read_record",
    "record_files",
    "record_path",
    "with_defaults",
    "write_record",
]
