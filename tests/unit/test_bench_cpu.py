"""The bench's CPU sampler: the bench's own process is the parent of the whole stack, so its
figure must not carry its children's CPU (it did: the "producer" showed the whole machine)."""

from __future__ import annotations

import os
import subprocess
import sys

from bench.harness import CpuSampler

BURN = "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass\n"


def test_a_process_sampled_alone_does_not_count_its_childrens_cpu() -> None:
    me = os.getpid()
    with CpuSampler({"alone": me}, alone=("alone",)) as alone, CpuSampler({"all": me}) as both:
        child = subprocess.Popen([sys.executable, "-c", BURN])
        # Sampled while the child runs (and once it has ended, but before it is reaped).
        child.wait()
        alone_s = alone._read()["alone"] - alone.samples[0][1]["alone"]
        both_s = both._read()["all"] - both.samples[0][1]["all"]
    assert both_s >= 0.35  # the child's 0.4 s, reaped: counted among the children's times
    assert alone_s < both_s - 0.3
