import sys

from kellyd.train.command import main

sys.exit(main())
