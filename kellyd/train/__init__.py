"""Retraining: datasets in, real models out (checkpoints, RTNeural JSON, a registry, reports).

`kellyd.train.command.train` is the entry point (`kellyd train`, `python -m kellyd.train`).
Importing this package does not import torch; the modules that train do.
"""
