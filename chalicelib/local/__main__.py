"""`python -m chalicelib.local`: start the local stack."""

import sys

from chalicelib.local.stack import main

sys.exit(main())
