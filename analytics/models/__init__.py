"""The analytics app's models (tenant schema): statistics rollups and alert rules."""

from .alerts import *  # noqa: F403
from .rollups import *  # noqa: F403
