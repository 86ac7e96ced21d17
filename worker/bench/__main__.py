"""`python -m worker.bench [options]`: the same command as `orderflow bench`."""

from worker.bench.cli import bench

bench()
