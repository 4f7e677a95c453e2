import sys

from livehub.cli import main

sys.exit(main())
