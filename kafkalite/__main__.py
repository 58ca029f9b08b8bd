"""``python -m kafkalite CONFIG [--override key=value ...]``: the same as ``kafkalite-server``."""

import sys

from kafkalite.cli.server import main

if __name__ == "__main__":
    sys.exit(main())
