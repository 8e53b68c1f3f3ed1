"""Kernels import the package: it stays light until the extension or progress is used."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_package_loads_neither_the_client_nor_ipython_nor_tqdm() -> None:
    code = (
        "import sys, jupyter_realtime\n"
        "heavy = ['jupyter_realtime.client', 'jupyter_realtime.kernel', 'IPython', 'tqdm',\n"
        "         'websockets', 'anyio', 'ipywidgets', 'jupyter_server']\n"
        "print([m for m in heavy if m in sys.modules])\n"
        "from jupyter_realtime import progress, load_ipython_extension\n"
        "print(progress.__mro__[1].__module__.split('.')[0], callable(load_ipython_extension))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["[]", "tqdm True"]
