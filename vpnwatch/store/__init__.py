"""The store: incidents with their timelines, the correlator's entity records, inbound alerts.

Everything durable sits behind this one package, so a PostgreSQL store for an HA pair can follow
with the same API. One module per concern: `connection` (opening, migrating, transactions),
`schema` (versions), `incidents`, `entities`, `alerts`, `meta`; `facade.Store` is what callers use.
"""

from vpnwatch.store.alerts import StoredAlert
from vpnwatch.store.connection import MEMORY
from vpnwatch.store.errors import StoreError
from vpnwatch.store.facade import Store
from vpnwatch.store.schema import MIGRATIONS, SCHEMA_VERSION

__all__ = ["MEMORY", "MIGRATIONS", "SCHEMA_VERSION", "Store", "StoreError", "StoredAlert"]
