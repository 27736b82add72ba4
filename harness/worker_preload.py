"""Imported once by the worker fork server, so that each forked worker starts warm."""

import contextlib

import numpy  # noqa: F401

with contextlib.suppress(ImportError):
    import onnxruntime  # noqa: F401
with contextlib.suppress(ImportError):
    from ai_edge_litert import interpreter  # noqa: F401
with contextlib.suppress(ImportError):
    import scipy.stats  # noqa: F401

import npubench.harness.host_job  # noqa: F401,E402
