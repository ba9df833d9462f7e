"""What the three commands (zoo.run, zoo.evaluate, zoo.sample) share: bad input ends in one
clear line on stderr and exit status 2, not a stack trace (ZOO_DEBUG=1 shows the trace)."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

from hydra.errors import InstantiationException

from zoo.errors import ZooError


@contextmanager
def user_errors():
    try:
        yield
    except (ZooError, InstantiationException) as e:
        if os.environ.get("ZOO_DEBUG"):
            raise
        cause = e.__cause__ if isinstance(e.__cause__, ZooError) else e  # unwrap Hydra's wrapper
        print(f"error: {cause}", file=sys.stderr)
        sys.exit(2)
