"""The agents' HTTP API (FastAPI): register, lease by long-poll, heartbeat, events,
result, cancel. Every call carries the agent's own bearer token. State is the database's,
so any number of coordinator replicas can serve the same agents; each replica also
expires the leases of agents that went quiet (a conditional update: once per job).
"""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations, and
# `Authed` is local to `router`.
import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from starlette.types import Message

from runners.errors import AuthError, CoordinatorError, InvalidTransition
from runners.run.result import Event, RunResult
from runners.states import VERDICTS
from runners.store.agents import Agent
from runners.store.database import now
from runners.store.jobstore import JobStore
from runners.store.metrics import job_registry
from runners.store.records import Job
from runners.store.reply_sets import ReplyStore, finish

log = logging.getLogger("ascend_oncall.coordinator")

PREFIX = "/api/runners/v1"
MAX_WAIT_S = 30.0
POLL_S = 0.2
# The largest body an agent sends is a verdict (its log tail, triage, environment):
# tens of kB. Far more is refused unread.
MAX_BODY_BYTES = 2 * 1024 * 1024


class Registration(BaseModel):
    labels: list[str] = Field(default_factory=list, max_length=32)
    hostname: str = Field(default="", max_length=255)
    version: str = Field(default="", max_length=64)
    slots: int = Field(default=1, ge=1, le=64)


class LeaseRequest(BaseModel):
    wait_s: float = Field(default=20.0, ge=0, le=MAX_WAIT_S)


class Heartbeat(BaseModel):
    log_tail: list[str] = Field(default_factory=list, max_length=200)


class Events(BaseModel):
    events: list[Event] = Field(max_length=500)


def _job_view(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "status": job.status.value,
        "cancel": job.cancel_requested,
        "spec": job.spec.model_dump(mode="json"),
    }


class _TooLarge(HTTPException):
    def __init__(self, cap: int = MAX_BODY_BYTES) -> None:
        super().__init__(413, f"request body too large: at most {cap} bytes")


class _CappedRoute(APIRoute):
    """Bodies over MAX_BODY_BYTES are refused before they are read: by their declared
    length at once, streamed ones at the byte that crosses the cap. FastAPI reads and
    parses the body before it checks the token, so this stands in front of both."""

    cap = MAX_BODY_BYTES

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def capped(request: Request) -> Response:
            declared = request.headers.get("content-length", "0")
            # A length of many digits is refused before int() (which caps its input).
            size_ok = declared.isascii() and declared.isdigit() and len(declared) <= 12
            if not size_ok or int(declared) > self.cap:
                raise _TooLarge(self.cap)
            seen = 0

            async def receive() -> Message:
                nonlocal seen
                message = await request.receive()
                seen += len(message.get("body", b""))
                if seen > self.cap:
                    raise _TooLarge(self.cap)
                return message

            return await handler(Request(request.scope, receive))

        return capped


def router(store: JobStore) -> APIRouter:
    api = APIRouter(prefix=PREFIX, route_class=_CappedRoute)
    replies = ReplyStore(store.engine)  # known-good and earlier replies (runners.replies.golden)

    async def agent(request: Request) -> Agent:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise HTTPException(401, "send the agent token as `Authorization: Bearer <token>`")
        try:
            return await to_thread.run_sync(store.agent_for, token.strip())
        except AuthError as exc:
            raise HTTPException(401, str(exc)) from exc

    Authed = Annotated[Agent, Depends(agent)]

    def owned(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except InvalidTransition as exc:
            raise HTTPException(409, str(exc)) from exc
        except CoordinatorError as exc:
            raise HTTPException(404, str(exc)) from exc

    @api.post("/agents/register")
    async def register(body: Registration, me: Authed) -> dict[str, Any]:
        try:
            agent = await to_thread.run_sync(
                store.register, me, body.labels, body.hostname, body.version, body.slots
            )
        except AuthError as exc:
            raise HTTPException(403, str(exc)) from exc
        # An agent that registers has just started: what its earlier self held is gone.
        lost = await to_thread.run_sync(store.reconcile, me, now())
        for job_id in lost:
            log.warning("job %s lost: %s restarted during it", job_id, me.name)
        return {
            "agent": agent.name,
            "labels": list(agent.labels),
            "lease_s": store.lease_for.total_seconds(),
            "max_log_bytes": store.max_log_bytes,  # the agent cuts its logs to this
        }

    @api.post("/lease", response_model=None)
    async def lease(body: LeaseRequest, me: Authed, request: Request) -> dict[str, Any] | Response:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + body.wait_s
        await to_thread.run_sync(store.seen, me)
        while True:
            if await request.is_disconnected():  # the agent gave up waiting: lease nothing
                return Response(status_code=204)
            try:  # the revoke is checked again each round: a long poll outlives a token
                job = await to_thread.run_sync(store.lease, me)
            except AuthError as exc:
                raise HTTPException(401, str(exc)) from exc
            if job is not None:
                log.info("job %s leased by %s", job.id, me.name)
                return _job_view(job)
            if loop.time() >= deadline:
                return Response(status_code=204)
            await asyncio.sleep(POLL_S)

    @api.post("/jobs/{job_id}/heartbeat")
    async def heartbeat(job_id: int, body: Heartbeat, me: Authed) -> dict[str, Any]:
        job = await to_thread.run_sync(
            lambda: owned(lambda: store.heartbeat(me, job_id, body.log_tail))
        )
        return _job_view(job)

    @api.post("/jobs/{job_id}/events", status_code=204)
    async def events(job_id: int, body: Events, me: Authed) -> None:
        await to_thread.run_sync(lambda: owned(lambda: store.add_events(me, job_id, body.events)))

    @api.post("/jobs/{job_id}/result")
    async def result(job_id: int, body: RunResult, me: Authed) -> dict[str, Any]:
        # A status that is no status at all is refused by the body's own type (422);
        # one that is not a verdict (running, lost) is as bad a body.
        if body.status not in VERDICTS:
            raise HTTPException(422, f"a result's status is a verdict, not {body.status}")
        job = await to_thread.run_sync(
            lambda: owned(lambda: finish(store, replies, me, job_id, body))
        )
        log.info("job %s %s on %s", job_id, job.status.value, me.name)
        return _job_view(job)

    class _LogRoute(_CappedRoute):
        cap = store.max_log_bytes + 64 * 1024  # an agent's cut log, not one byte more

    async def job_log(
        job_id: int, request: Request, me: Authed, total: Annotated[int, Query(ge=0)] = 0
    ) -> Response:
        """The job's redacted server log, raw bytes, sent before its verdict (once kept,
        a repeat changes nothing)."""
        data = await request.body()
        await to_thread.run_sync(lambda: owned(lambda: store.put_log(me, job_id, data, total)))
        return Response(status_code=204)

    api.add_api_route(
        "/jobs/{job_id}/log", job_log, methods=["POST"], route_class_override=_LogRoute
    )

    @api.post("/jobs/{job_id}/cancel")
    async def cancel(job_id: int, me: Authed) -> dict[str, Any]:
        """An agent giving up a job it holds (shutting down): stop it as if cancelled."""
        job = await to_thread.run_sync(store.job, job_id)
        if job is None or job.agent != me.name:
            raise HTTPException(404, f"job {job_id} is not leased to {me.name}")
        done = await to_thread.run_sync(store.cancel, job_id, me.name)
        assert done is not None
        return _job_view(done)

    return api


def reap_leases(
    store: JobStore,
    stop: threading.Event,
    every_s: float = 2.0,
    queue_for: timedelta = timedelta(hours=1),
) -> None:
    """Mark lost the jobs whose agent stopped heartbeating, and time out jobs no agent took
    (in every replica; once each). Agents first get a lease's time to find this replica."""
    try:
        store.extend_running()
    except Exception:
        log.exception("extending the leases of running jobs failed")
    while not stop.wait(every_s):
        try:
            for job_id in store.expire_leases():
                log.warning("job %s lost: its agent stopped heartbeating", job_id)
            for job_id in store.expire_queued(queue_for):
                log.warning("job %s timed out in the queue: no agent took it", job_id)
        except Exception:  # the database may be away a while; try next round
            log.exception("expiring leases failed")


def coordinator_app(
    store: JobStore, reap_every_s: float = 2.0, queue_for: timedelta = timedelta(hours=1)
) -> FastAPI:
    """The coordinator alone (`ascend-oncall coordinator`), with /healthz and /metrics;
    `serve` mounts the router beside its own (bot/service.py)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        thread = threading.Thread(
            target=reap_leases,
            args=(store, stop, reap_every_s, queue_for),
            daemon=True,
            name="reaper",
        )
        thread.start()
        yield
        stop.set()

    app = FastAPI(title="ascend-oncall coordinator", lifespan=lifespan)
    app.include_router(router(store))

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        store.job(0)  # the database answers
        return {"status": "ok"}

    # Here, not in `router`: `serve` has a /metrics of its own and adds job_registry to it.
    registry = job_registry(store, process=True)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
