"""The nightly device farm (issue 12): ``farm.yaml`` as data (``config``), and the ``npubench
farm`` commands (``commands``). Importing this package imports nothing heavy."""
