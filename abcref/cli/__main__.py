"""``python -m abcref.cli``: the same as the ``abcref`` command."""

import sys

from abcref.cli import main

sys.exit(main())
