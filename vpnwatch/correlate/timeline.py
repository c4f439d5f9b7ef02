"""Adding evidence to an incident's timeline, bounded.

Evidence equal on (at, message, resource) to an entry is already there and is not added again.
Evidence from outside that repeats itself (Azure Monitor alerts, log rows, packet-drop samples)
is collapsed: the same message about the same resource counts as a repeat of the entry that
first said it. And no timeline holds more than `MAX_ENTRIES` entries: past that, new evidence
is only counted again where it repeats an entry, or else in the `timeline_omitted` attribute.
"""

from __future__ import annotations

from collections.abc import Iterable

from vpnwatch.incidents import Evidence, Incident

MAX_ENTRIES = 500
OMITTED = "timeline_omitted"  # attribute: evidence not kept because the timeline was full


def add_evidence(inc: Incident, evidence: Iterable[Evidence], *, collapse: bool = False) -> bool:
    """Add `evidence` to `inc.timeline`; True if the timeline changed."""
    incoming = list(evidence)
    if not incoming:
        return False
    seen = {(e.at, e.message, e.resource) for e in inc.timeline}
    first: dict[tuple[str, str | None], Evidence] = {}
    for entry in inc.timeline:
        first.setdefault((entry.message, entry.resource), entry)
    changed = False
    for e in incoming:
        ident = (e.at, e.message, e.resource)
        if ident in seen:
            continue
        seen.add(ident)
        same = first.get((e.message, e.resource))
        full = len(inc.timeline) >= MAX_ENTRIES
        if same is not None and (collapse or full):
            same.repeats += 1 + e.repeats
            latest = e.last_at or e.at
            if same.last_at is None or latest > same.last_at:
                same.last_at = latest
        elif full:
            inc.attributes[OMITTED] = str(int(inc.attributes.get(OMITTED, "0")) + 1)
        else:
            added = Evidence(e.at, e.message, e.resource, e.source, e.repeats, e.last_at)
            inc.timeline.append(added)
            first.setdefault((e.message, e.resource), added)
        changed = True
    if changed:
        inc.timeline_revision += 1
    return changed
