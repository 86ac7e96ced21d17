"""`orderflow bench` (or `python -m worker.bench`): orderflow against the naive peer and the
bare-Celery ceiling, in one run on this machine.

    run.py       the runner: phases, measurements, the report (table, bench.json)
    orders.py    producing orders and reading back what became of them
    harness.py   stacks, side workers, CPU sampling, Celery counters, percentiles
    naive.py     the naive peer: one Celery task per order that sleeps while it polls
    noop.py      bare Celery no-op tasks (the ceiling)
    capacity.py  100,000 orders waiting on a silent POS: slots, memory, timer lateness
    plot.py      bench.png
    cli.py       the click command (`from worker.bench.cli import bench`)
"""
