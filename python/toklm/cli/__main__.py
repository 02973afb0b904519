import sys

from toklm.cli import main

sys.exit(main())
