"""Role-based access control in the emulator: what the caller's role assignment allows.

By default the caller may do everything (an identity with Owner or Contributor). Given a role's
`actions`/`not_actions` (say Reader: `["*/read"]`), the emulator answers the permissions API with
them and refuses every request whose RBAC action they do not grant, with ARM's 403
`AuthorizationFailed` body. Which action a request needs comes from vpnwatch's own operation list
(`vpnwatch/permissions.py`); requests it does not list are not restricted here.

The permissions API: `GET /subscriptions/{sub}/resourcegroups/{rg}/providers/
Microsoft.Authorization/permissions` (REST reference "Permissions - List For Resource Group",
api-version 2022-04-01) answers `{"value": [{"actions", "notActions", "dataActions",
"notDataActions"}]}`, one entry per role assignment that applies at that scope.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from vpnwatch.emulator.arm import Reply, error
from vpnwatch.permissions import allowed, operation_for

PERMISSIONS_PATH = re.compile(
    r"^/subscriptions/([^/]+)/resourcegroups/([^/]+)/providers/microsoft\.authorization/permissions$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class RoleGrant:
    """The caller's permissions: one role assignment's actions and not-actions."""

    actions: tuple[str, ...] = ("*",)
    not_actions: tuple[str, ...] = field(default_factory=tuple)

    def permissions_reply(self, method: str) -> Reply:
        if method != "GET":
            return error(405, "MethodNotAllowed", f"The method '{method}' is not allowed here.")
        entry = {
            "actions": list(self.actions),
            "notActions": list(self.not_actions),
            "dataActions": [],
            "notDataActions": [],
        }
        return Reply(200, {"value": [entry]})

    def refuse(self, method: str, path: str, client_id: str = "emulator-client") -> Reply | None:
        """ARM's 403 when the grant does not allow the request's action; else None."""
        operation = operation_for(method, path)
        if operation is None or allowed(operation.action, self.actions, self.not_actions):
            return None
        scope = path.rsplit("/", 1)[0] if operation.method == "POST" else path
        return error(
            403,
            "AuthorizationFailed",
            f"The client '{client_id}' with object id '{client_id}' does not have authorization "
            f"to perform action '{operation.action}' over scope '{scope}' or the scope is "
            "invalid. If access was recently granted, please refresh your credentials.",
        )


def is_permissions_call(path: str) -> bool:
    return PERMISSIONS_PATH.match(path) is not None
