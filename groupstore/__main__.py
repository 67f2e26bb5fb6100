import sys

from groupstore.cli import main

sys.exit(main())
