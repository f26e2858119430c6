"""`python -m dfctl ...`"""

import sys

from dfctl.cli import main

sys.exit(main())
