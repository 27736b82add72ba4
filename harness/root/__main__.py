"""``python -m npubench``: the same as the ``npubench`` command."""

import sys

from npubench.harness.cli import main

sys.exit(main())
