import sys

from bench.swarm.run import main

sys.exit(main())
