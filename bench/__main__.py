"""`python -m bench [options]`: the same command as `orderflow bench`."""

from bench.cli import bench

bench()
