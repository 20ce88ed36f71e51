"""Benchmarks: `make bench` (or `python -m bench [name ...]`). Each prints `name: value unit`."""
