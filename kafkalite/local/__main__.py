"""``python -m kafkalite.local``: the run-directory broker commands of :mod:`kafkalite.local.rundir`."""

import sys

from kafkalite.local.rundir import main

if __name__ == "__main__":
    sys.exit(main())
