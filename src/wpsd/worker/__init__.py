"""The worker: the process that runs a host's executions beside (or away from) the web tier.

``wpsd worker`` (or ``python -m wpsd.worker``) starts one; web processes start an embedded
one when none runs (:mod:`.embedded`).
"""
