"""LeadSquared leads over HTTP: one batching client per process, shared by every request.

``uvicorn examples.fastapi_app.app:app`` from the repository root, with the account in the
environment (``LSQ_ACCESS_KEY``, ``LSQ_SECRET_KEY``, ``LSQ_HOST``, ``LSQ_RATE``; see
``LeadSquaredClient.from_env``). The client is made when the app starts and drained when it
stops; handlers get it from ``Depends(get_client)``; library errors become HTTP answers.

Environment read by this example itself:

- ``LSQ_DELIVERY_TIMEOUT`` (seconds, default 10 here): keep it below the request timeout of
  whatever sits in front of the app, and below uvicorn's ``--timeout-graceful-shutdown``, so
  every accepted request is answered before the server gives up on it.
- ``APP_CLOSE_TIMEOUT`` (seconds, default 5): how long shutdown waits for rows still unsent.
- ``LSQ_REDIS_URL`` and ``LSQ_REDIS_PREFIX`` (read by ``from_env``): several workers share
  one budget through Redis (one budget per prefix and access key).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

import leadsq_async as lsq

__all__ = ["app", "create_app", "get_client"]

logger = logging.getLogger("examples.fastapi_app")

DEFAULT_DELIVERY_TIMEOUT = 10.0
DEFAULT_CLOSE_TIMEOUT = 5.0


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise lsq.ValidationError(name, f"must be a number of seconds, got {text!r}") from None
    if not value > 0:
        raise lsq.ValidationError(name, f"must be > 0, got {text!r}")
    return value


def build_client(environ: Mapping[str, str]) -> lsq.LeadSquaredClient:
    """The client the environment describes (``LeadSquaredClient.from_env``).

    ``LSQ_REDIS_URL`` (with ``LSQ_REDIS_PREFIX``) makes every worker share one budget.
    """
    options: dict[str, Any] = {}
    if not environ.get("LSQ_DELIVERY_TIMEOUT", "").strip():
        options["delivery_timeout"] = DEFAULT_DELIVERY_TIMEOUT
    return lsq.LeadSquaredClient.from_env(environ, **options)


# -- request and answer bodies ---------------------------------------------------------------

LeadFields = Annotated[
    dict[str, Any],
    Body(
        description="Schema name to value: string, number, boolean, null (clears the field), "
        'or an object for a custom field set such as "mx_KYC".',
        examples=[{"EmailAddress": "ana@example.com", "FirstName": "Ana", "mx_City": "Pune"}],
    ),
]


class Upserted(BaseModel):
    """``POST /leads``: the lead's id and whether it was created or an existing one updated.

    ``created`` and ``updated`` are null when the sign-up went by ``Lead.CreateOrUpdate``
    (the single-lead road, taken on plans with a bulk budget), whose answer does not say.
    """

    lead_id: str
    created: bool | None
    updated: bool | None


class Updated(BaseModel):
    """``PATCH /leads/{lead_id}``."""

    lead_id: str


class Health(BaseModel):
    """``GET /healthz``: rows this process holds unsent and in flight."""

    status: str
    pending: int
    in_flight: int


# -- the client, per app ---------------------------------------------------------------------


def get_client(request: Request) -> lsq.LeadSquaredClient:
    """The app's client, for ``Depends``."""
    client: lsq.LeadSquaredClient = request.app.state.leads
    return client


Client = Annotated[lsq.LeadSquaredClient, Depends(get_client)]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Make the client at startup; at shutdown send what was admitted, then close it."""
    environ = os.environ
    close_timeout = _seconds(environ, "APP_CLOSE_TIMEOUT", DEFAULT_CLOSE_TIMEOUT)
    client = build_client(environ)
    app.state.leads = client
    logger.info("LeadSquared client ready: %r", client)  # the repr shows no keys
    try:
        yield
    finally:
        # uvicorn has already waited (up to --timeout-graceful-shutdown) for the requests in
        # progress, so little is left; what is still unsent after close_timeout fails.
        report = await client.aclose(timeout=close_timeout)  # also closes its Redis limiter
        logger.info(
            "LeadSquared client closed: %d sent, %d failed, %d abandoned",
            report.sent,
            report.failed,
            report.abandoned,
        )


# -- errors to HTTP answers ------------------------------------------------------------------


def _retry_after(request: Request, error: Exception) -> str:
    """Seconds a caller should wait: one window of the limit for a rate limit, else 1."""
    if isinstance(error, lsq.RateLimitedError):
        client = getattr(request.app.state, "leads", None)
        if isinstance(client, lsq.LeadSquaredClient):
            return str(max(1, math.ceil(client.limiter.rate.period)))
        return "5"
    if isinstance(error, lsq.ServiceError):
        return "10"
    return "1"


def _answer(
    status: int, error: Exception, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {"error": type(error).__name__, "detail": str(error), **extra}
    return JSONResponse(body, status_code=status, headers=headers)


async def _validation(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, lsq.ValidationError)
    return _answer(422, error, field=error.field, rule=error.rule)


async def _not_found(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, lsq.LeadNotFoundError)
    return _answer(404, error, reason=error.reason)


async def _rejected(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, lsq.LeadRejectedError)
    return _answer(409, error, exception_type=error.exception_type, reason=error.reason)


async def _unavailable(request: Request, error: Exception) -> JSONResponse:
    logger.warning("LeadSquared unavailable: %s: %s", type(error).__name__, error)
    return _answer(503, error, {"Retry-After": _retry_after(request, error)})


async def _unknown(request: Request, error: Exception) -> JSONResponse:
    logger.error("LeadSquared outcome unknown: %s", error)
    return _answer(502, error)


async def _internal(request: Request, error: Exception) -> JSONResponse:
    # Bad keys, a wrong host or a misused client: the operator's problem, not the caller's;
    # say nothing.
    logger.error("LeadSquared client error: %s: %s", type(error).__name__, error)
    return JSONResponse({"error": "internal error"}, status_code=500)


Handler = Callable[[Request, Exception], Coroutine[Any, Any, Response]]

ERROR_HANDLERS: dict[int | type[Exception], Handler] = {
    # Starlette picks the handler of the nearest class in the error's MRO.
    lsq.ValidationError: _validation,
    lsq.LeadNotFoundError: _not_found,
    lsq.LeadRejectedError: _rejected,
    lsq.RateLimitedError: _unavailable,  # also DeliveryTimeoutError, LimiterUnavailableError
    lsq.QueueFullError: _unavailable,
    lsq.ServiceError: _unavailable,  # also ServiceUnavailableError (fails at once while down)
    lsq.ClientClosedError: _unavailable,  # shutting down: another instance can take it
    lsq.OutcomeUnknownError: _unknown,  # also ResponseMismatchError, InFlightTimeoutError
    lsq.AuthenticationError: _internal,
    lsq.EndpointNotFoundError: _internal,  # a wrong host or base URL: the operator's to fix
    lsq.LeadSquaredError: _internal,
}


# -- the app ---------------------------------------------------------------------------------


def create_app() -> FastAPI:
    """The app: ``POST /leads``, ``PATCH /leads/{lead_id}``, ``GET /healthz``."""
    app = FastAPI(title="leads", lifespan=lifespan, exception_handlers=ERROR_HANDLERS)

    @app.post("/leads", status_code=201)
    async def upsert_lead(body: LeadFields, client: Client) -> Upserted:
        """Create the lead with this EmailAddress, or update it if it exists."""
        result = await client.upsert_lead(body, search_by="EmailAddress")
        return Upserted(lead_id=result.lead_id, created=result.created, updated=result.updated)

    @app.patch("/leads/{lead_id}")
    async def update_lead(lead_id: str, body: LeadFields, client: Client) -> Updated:
        """Update the lead with this LeadId (a GUID)."""
        result = await client.update_lead_by_id(lead_id, body)
        return Updated(lead_id=result.lead_id or lead_id)

    @app.get("/healthz", responses={503: {"description": "shutting down", "model": Health}})
    async def health(client: Client, response: Response) -> Health:
        """Ready while the client is open; 503 once shutdown began."""
        stats = client.stats()
        if client.closed:
            response.status_code = 503
        status = "closing" if client.closed else "ok"
        return Health(status=status, pending=stats.pending, in_flight=stats.in_flight)

    return app


app = create_app()
