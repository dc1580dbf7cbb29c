"""What the fork server of local workers (lake/workers.py) runs once it has imported the
job's modules, before it forks a worker: the server imports this module last, and no other
process imports it (a worker has it from the server).

- what every worker would import at its first unit, imported once here: pyarrow imports
  pandas the first time it builds an array from Python objects (~0.2 CPU-seconds);
- Lance's fork warning silenced: the server has imported Lance, never used it (no runtime,
  no dataset), so its forks are safe;
- the objects so far frozen (`gc.freeze`), so that a worker's garbage collections neither
  touch nor copy the server's memory.
"""

from __future__ import annotations

import gc
import sys
import warnings

if "pyarrow" in sys.modules:
    try:
        sys.modules["pyarrow"].array(["pandas, if installed, now"])
    except Exception:  # noqa: BLE001 - a worker meets it at its first unit, as it would have
        pass
warnings.filterwarnings("ignore", message="lance is not fork-safe")
gc.freeze()
