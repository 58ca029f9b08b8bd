"""``python -m kafkalite.cli.perf``: the same as ``kafkalite-perf``."""

import sys

from kafkalite.cli.perf.main import main

if __name__ == "__main__":
    sys.exit(main())
