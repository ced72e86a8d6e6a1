"""kellyd: a daemon that turns dropped music files into training datasets for the Kelly models."""

__version__ = "0.1.0"
