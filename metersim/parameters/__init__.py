"""The one adapter from the scenario schema to the models' plain parameters.

``metersim.model`` knows nothing of the config: each model takes numbers and arrays. This package
maps a validated group (and its region and tariff) onto them, one module per model: weather,
electricity, gas, and the shared parts (country, solar water heaters, grid, supply).
"""

from metersim.parameters.common import country_of, grid_losses, mean_interval_milli, solar_water_heater, supply_params
from metersim.parameters.electricity import electricity_params
from metersim.parameters.gas import gas_params
from metersim.parameters.weather import climate_params

__all__ = [
    "climate_params",
    "country_of",
    "electricity_params",
    "gas_params",
    "grid_losses",
    "mean_interval_milli",
    "solar_water_heater",
    "supply_params",
]
