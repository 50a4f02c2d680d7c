"""The engine: SimPy owns time; groups step, transforms and observers run, emissions leave in order.

Only this package imports simpy.
"""

from metersim.engine.clocks import Stopped
from metersim.engine.core import Engine, EngineCounters, Observer, Transform, Window
from metersim.engine.lateness import Lateness
from metersim.engine.processes import Process

__all__ = ["Engine", "EngineCounters", "Lateness", "Observer", "Process", "Stopped", "Transform", "Window"]
