"""``python -m maven.cli`` (as ``python -m maven``)."""

import sys

from maven.cli import main

sys.exit(main())
