"""``python -m portlens.cli``."""

import sys

from . import main

sys.exit(main())
