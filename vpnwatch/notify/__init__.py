"""Notifications: the exporter stage after the correlator.

`routing.py` picks receivers, `silences.py` mutes, `planner.py` decides what to write to the
outbox in the same transaction as the incident change, `delivery.py` sends it with retries, and
one module per receiver (`pagerduty.py`, `opsgenie.py`, `alertmanager.py`, `slack.py`,
`teams.py`, `webhook.py`) knows that service's wire format and nothing else.
"""
