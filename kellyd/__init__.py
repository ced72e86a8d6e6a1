"""kellyd: a daemon that turns dropped music files into training datasets for the Kelly models."""

from pathlib import Path as _Path

__version__ = "0.1.0"

# The handler chain lives in the repository's top-level `handlers/` folder; a wheel installs it
# as `kellyd.handlers` (setuptools' package-dir mapping). Run from a checkout without an install,
# the same name is found here, so one import path serves both.
from kellyd.locations import checkout_root as _checkout_root  # noqa: E402

_checkout = _checkout_root(_Path(__file__).resolve().parent)
if _checkout is not None:
    __path__.append(str(_checkout))  # noqa: F821 - a package's __path__
del _Path, _checkout, _checkout_root
