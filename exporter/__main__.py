import sys

from promcast_exporter.cli import main

sys.exit(main())
