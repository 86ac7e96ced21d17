"""`orderflow chaos`: many orders through the real stack while it is being broken.

K-Series answers 5xx and 429 and loses answers, two of its locations go through a 429 storm,
webhooks are dropped, duplicated and reordered, one of two workers is SIGKILLed twice, one of
two sweepers is SIGKILLed and left dead for a while, and Redis is SIGKILLed once. Then the
sandbox's ledger (what K-Series really did with each order) is held against orderflow's
statuses: nothing lost, nothing accepted or paid twice, every order where it should be.
"""

from bench.chaos.report import ChaosReport
from bench.chaos.run import ChaosAborted, run_chaos

__all__ = ["ChaosAborted", "ChaosReport", "run_chaos"]
