"""Dataset validation: checks, one verdict with its reasons, and reports people read.

`validate_dataset` is the entry point; `kellyd.reports` writes what it returns.
"""

from kellyd.validate.checks import Limits
from kellyd.validate.dataset import quarantined_file, validate_dataset
from kellyd.validate.html import utc_text
from kellyd.validate.report import (
    Change,
    ClassCount,
    Distribution,
    FileStamp,
    QuarantinedFile,
    Reason,
    StorageUse,
    ValidationReport,
)
from kellyd.validate.report_json import report_from_json, report_to_json

__all__ = [
    "Change", "ClassCount", "Distribution", "FileStamp", "Limits", "QuarantinedFile", "Reason", "StorageUse",
    "ValidationReport", "quarantined_file", "report_from_json", "report_to_json", "utc_text", "validate_dataset",
]
