from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    return rng.uniform(-3, 3, 5), rng.uniform(-1, 1, (2, 3))
