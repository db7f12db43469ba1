"""``python -m maven`` (also ``accelerate launch -m maven ...``)."""

import sys

from maven.cli import main

sys.exit(main())
