"""``python -m devfleet up|down|status|reset``."""

import sys

from devfleet.fleet import main

sys.exit(main())
