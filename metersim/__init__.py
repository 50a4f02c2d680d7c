"""metersim: a discrete-event simulator of smart electricity and gas meter fleets.

It publishes synthetic readings over MQTT (or to files) for testing billing and grid-analytics
backends, deterministically from a seed. The embedding API is :class:`Simulation`::

    from metersim import Simulation, load_scenario

    report = Simulation(load_scenario("configs/quickstart.yaml")).run()
"""

from metersim.config import Scenario, load_scenario
from metersim.errors import (
    BrokerUnreachableError,
    ConfigError,
    DeliveryError,
    MetersimError,
    MissingDependencyError,
    OutputNotWritableError,
    TlsError,
)

__version__ = "0.1.0"

__all__ = [
    "BrokerUnreachableError",
    "ConfigError",
    "DeliveryError",
    "MetersimError",
    "MissingDependencyError",
    "OutputNotWritableError",
    "Scenario",
    "Simulation",
    "TlsError",
    "__version__",
    "load_scenario",
]


def __getattr__(name: str) -> object:
    # The facade pulls in numpy, simpy and the models; `metersim validate` and `schema` need none of it.
    if name == "Simulation":
        from metersim.simulation import Simulation

        return Simulation
    raise AttributeError(f"module 'metersim' has no attribute {name!r}")
