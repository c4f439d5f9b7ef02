"""vpnwatch: a monitoring agent for Azure hybrid connectivity (VPN gateways and ExpressRoute)."""

__version__ = "0.1.0"
