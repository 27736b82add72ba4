"""What a benchmark runs on: the host, Android phones over ADB (later), the simulated phone."""
