"""``python -m devfleet up|down|status|reset|stop NODE...|start NODE...``."""

import sys

from devfleet.fleet import main

sys.exit(main())
