import sys

from breakerpanel.cli import main

sys.exit(main())
