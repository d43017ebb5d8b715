"""Benchmarks of microgrid against micrograd, PyTorch scalars and a flat pure-Python tape."""
