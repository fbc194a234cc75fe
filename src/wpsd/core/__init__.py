"""The core: one execution path and the job operations, over the ports (:mod:`wpsd.ports`).

Nothing here knows a protocol encoding, a web framework or where executions run.
"""
