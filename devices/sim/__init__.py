"""The simulated phone: a TCP server that speaks the real ADB protocol, with an emulated Android
userland behind it. A test instrument and a demo; its numbers are never a phone's.

``start_sim(profile)`` starts one (see ``devices.sim.launch``)."""


def start_sim(*args, **kwargs):
    from npubench.devices.sim.launch import start_sim as start

    return start(*args, **kwargs)
