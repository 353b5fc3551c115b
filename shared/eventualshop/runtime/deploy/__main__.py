"""``python -m eventualshop.runtime.deploy [--check]``."""

from __future__ import annotations

import sys

from eventualshop.runtime.deploy import main

sys.exit(main())
