"""What measures and breaks orderflow: the benchmark, the chaos run, the demo's scenarios.

run.py            the benchmark runner: phases one after another, bench.json
options.py        what a run measures and the targets it is held to
orderflow_run.py  phases 1-2: orderflow saturated, then paced for latency
peers.py          phases 3-4: the naive peer and the bare-Celery ceiling
series.py         rates and time series from timestamps
report.py         the printed table
orders.py         producing orders and reading back what became of them
harness.py        stacks, side workers, CPU sampling, Celery counters, percentiles
naive.py          the naive peer: one Celery task per order that sleeps while it polls
noop.py           bare Celery no-op tasks (the ceiling)
capacity.py       orders waiting on a silent POS: slots, memory, timer lateness
plot.py           bench.png
demo.py           the demo's scenarios (one per lifecycle outcome), also used by chaos
chaos.py          the fault-injection run
cli.py            `orderflow bench`, `orderflow chaos`, `orderflow demo`
"""
