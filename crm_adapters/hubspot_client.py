"""A hubspot-api-client `HubSpot` whose API objects share their HTTP connections.

The SDK builds a new `ApiClient`, with its own urllib3 pool, every time an API
is reached (`client.crm.companies.batch_api` is a new object each time), so by
default every call opens a new connection: a TCP and TLS handshake per batch.
Through the SDK's `api_factory` hook, the client made here keeps one
`ApiClient` per generated package (companies, contacts, associations v4, ...)
and hands every API of that package the same one, so a run's calls reuse a
few kept-alive connections.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from hubspot import HubSpot
from hubspot.discovery.discovery_base import DiscoveryBase


def shared_connection_client(access_token: str, host: str) -> HubSpot:
    """`HubSpot(access_token=..., host=...)`, with one connection pool per API package for its lifetime."""
    api_clients: dict[str, Any] = {}

    def factory(package: ModuleType, api_name: str, config: dict[str, Any]) -> Any:
        api_client = api_clients.get(package.__name__)
        if api_client is None:  # the SDK's own factory sets the configuration and user agent
            api = DiscoveryBase._default_api_factory(package, api_name, config)
            api_clients[package.__name__] = api.api_client
            return api
        return getattr(package, api_name)(api_client=api_client)

    return HubSpot(access_token=access_token, host=host, api_factory=factory)
