"""Port numbers shared by the lab builder (:mod:`lab.core`) and its servers (:mod:`lab.servers`).

Kept apart so that ``python3 -m lab.servers`` does not import itself twice.
"""

#: The hostile services, in port order from :data:`HOSTILE_BASE`.
HOSTILE_KINDS = ("tarpit", "flood", "garbage", "reset", "drip", "script")
HOSTILE_BASE = 7101
HOSTILE_PORTS = {kind: HOSTILE_BASE + i for i, kind in enumerate(HOSTILE_KINDS)}
