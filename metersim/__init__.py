"""metersim: a discrete-event simulator of smart electricity and gas meter fleets.

It publishes synthetic readings over MQTT (or to files) for testing billing and grid-analytics
backends, deterministically from a seed.
"""

from metersim.config import Scenario, load_scenario
from metersim.errors import ConfigError, MetersimError

__all__ = ["ConfigError", "MetersimError", "Scenario", "__version__", "load_scenario"]
__version__ = "0.1.0"
