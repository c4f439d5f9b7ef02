"""Request dependencies: the one agent an app serves."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from vpnwatch.agent import Agent


def get_agent(request: Request) -> Agent:
    return request.app.state.agent


AgentDep = Annotated[Agent, Depends(get_agent)]
