"""The analytics app's models (tenant schema): statistics rollups and alert rules."""

from .rollups import *  # noqa: F403
