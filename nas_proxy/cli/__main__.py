import sys

from nas_proxy.cli import main

sys.exit(main())
