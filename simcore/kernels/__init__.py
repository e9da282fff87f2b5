"""Jitted kernels over flat float64 / int64 arrays. No Python objects, no plotting, no I/O."""
