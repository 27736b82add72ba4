"""npubench: benchmark harness for AI inference on phones and on the host."""

__version__ = "0.1.0"
