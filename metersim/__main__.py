"""``python -m metersim``."""

from metersim.cli import entrypoint

entrypoint()
