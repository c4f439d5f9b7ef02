"""How `vpnwatch run` runs: a thin front process answering the probes, and the agent in a child.

`serve` (the front) binds the service's address, starts the agent process (`child.py`: the
collectors, correlator, store, outbox, notification delivery and the full HTTP app, on one event
loop, served on a Unix socket in a private directory), answers `/livez`, `/readyz`, `/health` and
`/metrics` from what the child publishes over a socketpair (`front.py`), and proxies every other
route to it (`proxy.py`). No Python thread of the front competes with collection for the
interpreter, so the probes answer in constant time whatever the agent is doing.
"""

from vpnwatch.runtime.supervisor import AgentExited, serve

__all__ = ["AgentExited", "serve"]
