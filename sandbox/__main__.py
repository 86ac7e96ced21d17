"""`python -m sandbox --port 8100 --pos-delay 0.5 ...`"""

from __future__ import annotations

from sandbox.server import main

if __name__ == "__main__":
    raise SystemExit(main())
