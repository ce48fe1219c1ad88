import sys

from promcast_forecaster.cli import main

sys.exit(main())
