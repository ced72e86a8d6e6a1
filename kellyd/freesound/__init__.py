"""Freesound pulls: search, download previews with their licences, respect the API's limits.

Entry points: `pull.run_pull` (one pull, as the scheduler and the CLI run it),
`settings.parse_freesound_section` (the `[freesound]` config), `redact.redact_secrets` /
`redact.RedactingFilter` (log scrubbers), `attribution` (credits). This package
module imports nothing, so reading the config stays light.
"""
