"""The simulated phone: a TCP server that speaks the real ADB protocol, with an emulated Android
userland behind it. A test instrument and a demo; its numbers are never a phone's."""
