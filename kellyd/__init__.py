"""kellyd: a daemon that turns dropped music files into training datasets for the Kelly models."""

from pathlib import Path as _Path

__version__ = "0.1.0"

# The handler chain lives in the repository's top-level `handlers/` folder; a wheel installs it
# as `kellyd.handlers` (setuptools' package-dir mapping). Run from a checkout without an install,
# the same name is found here, so one import path serves both.
_checkout = _Path(__file__).resolve().parent.parent
if (_checkout / "handlers" / "registry.py").is_file() and (_checkout / "pyproject.toml").is_file():
    __path__.append(str(_checkout))  # noqa: F821 - a package's __path__
del _Path, _checkout
