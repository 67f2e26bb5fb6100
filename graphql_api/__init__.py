"""graphql_api: the GraphQL gateway over groupstore (Strawberry on Starlette, served by uvicorn).

    from graphql_api import create_app
    app = create_app()            # settings from GROUPSTORE_* variables

Run it with ``python -m graphql_api`` or the ``groupstore-gateway`` script.
"""

from graphql_api.app import create_app
from graphql_api.schema import build_schema
from graphql_api.settings import Settings, SettingsError

__all__ = ["Settings", "SettingsError", "build_schema", "create_app"]
