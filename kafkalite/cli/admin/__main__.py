"""``python -m kafkalite.cli.admin``: the same as the ``kafkalite-admin`` console script."""

import sys

from kafkalite.cli.admin.main import main

sys.exit(main())
