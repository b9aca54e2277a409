"""Simulations, benchmarks and drills.

Nothing started from here may leave loopback: importing this package latches
loopback mode (``MESHPANTRY_NETWORK=loopback``) for this process and every
node process it starts, so a benchmark or drill run by hand is as safe as one
run by ``make bench``. (Drill nodes inside the drill's private network
namespaces are the one exception: :mod:`simulations.processes`.)
"""

import os

os.environ["MESHPANTRY_NETWORK"] = "loopback"
