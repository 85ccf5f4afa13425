"""Benchmarks: yamldb next to OpenBao's built-in database plugins (``python -m bench``, docs/benchmarks.md)."""
