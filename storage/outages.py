"""Errors that say a service around us failed (S3, the database, the network), not the input.

Such an error must never become a verdict on a file or a letter: the work stays where it is
and is resumed once the service is back (`flows.recovery`).
"""

from __future__ import annotations

from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.exceptions import HTTPClientError
from sqlalchemy.exc import DBAPIError, OperationalError

# botocore's EndpointConnectionError, ConnectTimeoutError (ConnectionError) and
# ConnectionClosedError, ReadTimeoutError (HTTPClientError); sockets' OSErrors.
_SERVICE_ERRORS = (BotoConnectionError, HTTPClientError, OperationalError, ConnectionError,
                   TimeoutError)


def is_outage(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) is a service being unreachable or dropping us."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _SERVICE_ERRORS):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        current = current.__cause__ or current.__context__
    return False


def which_service(exc: BaseException) -> str:
    """"the blob store (S3)", "the database" or "the network", in words for a message."""
    current: BaseException | None = exc
    seen: set[int] = set()
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, BotoConnectionError | HTTPClientError):
            return "the blob store (S3)"
        if isinstance(current, DBAPIError):
            return "the database"
        current = current.__cause__ or current.__context__
    return "the network"
