"""The host controller (``npubench.harness``): the command line, suites and plans, the jobs on
the host and on phones, runners, monitors, statistics."""
