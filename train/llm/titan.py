"""`python -m winnow.train.llm.titan ARGS`: torchtitan's own entry point (`torchtitan.train`, run
as `__main__` with the same arguments), after `winnow.train.llm.compat.install()`.

`torchtitan.train` imports torchtitan before it reads `--module`, so the shims that let
torchtitan 0.3.0 run on an older torch (`winnow.train.llm.compat`) must be in place before
it starts: `winnow train` launches GPU runs through this module. On torch 2.14 it is
exactly `python -m torchtitan.train ARGS`.
"""

from __future__ import annotations

import runpy

from winnow.train.llm import compat

compat.install()

if __name__ == "__main__":
    runpy.run_module("torchtitan.train", run_name="__main__", alter_sys=True)
