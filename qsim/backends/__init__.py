"""Simulation backends: ``numpy`` (the reference oracle), ``numba`` (CPU kernels), ``cupy`` (GPU)."""
