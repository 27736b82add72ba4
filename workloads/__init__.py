"""The models and their inputs: built-in real and synthetic workloads, fetching, input generation.

The entry points are ``workloads.registry`` (``builtin``, ``resolve``, ``Workload``) and
``workloads.inputs`` (``TensorSpec``, ``make_inputs``); suites live in ``workloads/suites``.
"""
