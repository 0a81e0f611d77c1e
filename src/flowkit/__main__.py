"""``python -m flowkit``: the same as the ``flowkit`` command."""

import sys

from .cli import main

sys.exit(main())
