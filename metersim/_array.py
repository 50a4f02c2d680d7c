"""One spelling of "a numpy array of any shape and dtype" that mypy --strict accepts with every numpy
the project supports (numpy < 2.3, the newest on Python 3.10, has no default type arguments for
``np.ndarray``, so a bare ``np.ndarray`` is a missing-type-arguments error there)."""

from typing import Any

import numpy.typing as npt

Array = npt.NDArray[Any]
