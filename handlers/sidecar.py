"""Reading a JSON sidecar safely: size-limited before it is read, finite JSON, an object.

The import step checks a sidecar with these before anything lands in `raw/`,
and the annotate step reads the copy with them, so both refuse the same files
with the same reason.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from kellyd.config import LimitsConfig
from kellyd.errors import InvalidInput
from kellyd.limits import BYTES_PER_KIB, check_sidecar_size
from kellyd.pathpolicy import open_regular


class _NotFinite(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _NotFinite(f"{name} is not a finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses as inf
        raise _NotFinite(f"{text} is not a finite number")
    return value


def read_sidecar_bytes(path: Path, limits: LimitsConfig) -> bytes:
    """The sidecar's bytes, refused (InvalidInput naming `limits.max_sidecar_kb`) when over the limit.

    The size is checked from stat before reading, and the read itself stops one
    byte past the limit, so a sidecar that grows meanwhile costs no more.
    """
    check_sidecar_size(path.stat().st_size, limits, name=path.name)
    with open_regular(path) as f:  # never through a link
        data = f.read(int(limits.max_sidecar_kb * BYTES_PER_KIB) + 1)
    check_sidecar_size(len(data), limits, name=path.name)
    return data


def parse_sidecar(data: bytes, *, name: str) -> dict[str, Any]:
    """Pure: the sidecar's JSON object; InvalidInput for bad UTF-8 or JSON, NaN/Infinity, or not an object."""
    try:
        parsed = json.loads(data.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite_float)
    except _NotFinite as exc:
        raise InvalidInput(f"sidecar {name} holds a value that is not finite JSON: {exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"sidecar {name} is not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidInput(f"sidecar {name} is nested too deeply") from None
    if not isinstance(parsed, dict):
        raise InvalidInput(f"sidecar {name} must hold a JSON object, got {type(parsed).__name__}")
    return parsed
