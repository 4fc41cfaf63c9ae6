import sys

from al_ray.cli import main

sys.exit(main())
