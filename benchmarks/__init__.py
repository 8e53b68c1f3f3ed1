"""Fan-out benchmarks for jupyter-realtime and reference servers (not tests).

Run ``python benchmarks/run.py --quick``; see ``benchmarks/README.md``.
"""
