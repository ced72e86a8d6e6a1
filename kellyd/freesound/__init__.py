"""Freesound pulls: search, download previews with their licences, respect the API's limits.

Public entry points: `run_pull` (one pull, as the scheduler and the CLI run
it), `parse_freesound_section` / `FreesoundSettings` (the `[freesound]`
config), `redact_secrets` / `RedactingFilter` (log scrubbers for the logging
setup), and `attributions` / `render_markdown` / `render_html` (credits).
"""

from kellyd.freesound.attribution import Attribution, attributions, render_html, render_markdown
from kellyd.freesound.pull import run_pull
from kellyd.freesound.redact import RedactingFilter, Secret, redact_secrets
from kellyd.freesound.report import CombinationReport, PullReport
from kellyd.freesound.settings import FreesoundSettings, combinations, parse_freesound_section

__all__ = [
    "Attribution", "CombinationReport", "FreesoundSettings", "PullReport", "RedactingFilter", "Secret",
    "attributions", "combinations", "parse_freesound_section", "redact_secrets", "render_html",
    "render_markdown", "run_pull",
]
