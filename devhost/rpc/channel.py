"""The host's side of the Functions worker protocol: one Python worker process and its EventStream.

This is devhost's `GrpcWorkerChannel` (Azure/azure-functions-host,
`src/WebJobs.Script.Grpc/Channel/GrpcWorkerChannel.cs`). The host runs a gRPC server on loopback,
starts the worker with the arguments and environment the host gives a language worker, and on its
`FunctionRpc.EventStream` goes through the same sequence:

1. the worker sends `StartStream` (with its worker id);
2. host -> `WorkerInitRequest` (host version, capabilities, worker and app directories); the 3.13
   library indexes the app here, so an indexing or binding error comes back in this response;
3. host -> `FunctionsMetadataRequest`; the reply lists each function with its raw bindings;
4. host -> one `FunctionLoadRequest` per function (disabled ones too: the host loads them and only
   starts no listener for them);
5. then `InvocationRequest` / `InvocationResponse` pairs, `RpcLog`s from the worker in between,
   and `WorkerStatusRequest` pings.

If the worker process exits, the invocations in flight fail with `WorkerDied` (the engine leaves
their messages for redelivery), and a new worker is started and taken through the handshake again,
as the host restarts a language worker.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from . import protocol

log = logging.getLogger("devhost.worker")
FRONT = Path(__file__).resolve().parent / "worker_front.py"
HOST_VERSION = "4.1041.0.0"  # the Functions host line whose worker protocol this follows
START_TIMEOUT_SECONDS = float(os.environ.get("DEVHOST_WORKER_START_TIMEOUT_SECONDS") or 60)
# The capability the host always advertises in WorkerInitRequest (GrpcWorkerChannel.SendWorkerInitRequest).
HOST_CAPABILITIES = {"MultiStream": "10"}


class WorkerDied(RuntimeError):
    """The worker process exited while invocations were in flight (they are redelivered)."""


class WorkerStartError(RuntimeError):
    """The worker could not index or load the app: the host cannot start (as `func start` exits)."""


@dataclass
class FunctionMetadata:
    """One function as the worker indexed it: id, name and bindings (raw JSON, as the host gets them)."""

    function_id: str
    name: str
    bindings: list[dict[str, Any]]


@dataclass
class _Worker:
    """One worker process and the state of its stream."""

    worker_id: str
    request_id: str
    process: asyncio.subprocess.Process | None = None
    outgoing: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    connected: asyncio.Future[None] | None = None
    pending: dict[str, asyncio.Future[Any]] = field(default_factory=dict)
    exited: bool = False


class WorkerChannel:
    """Starts, handshakes, invokes and restarts the app's Python worker."""

    def __init__(self, app_dir: Path, *, python: str = sys.executable):
        self.app_dir = app_dir.resolve()
        self.python = python
        self.metadata: list[FunctionMetadata] = []
        self.functions_by_name: dict[str, FunctionMetadata] = {}
        self.on_log: Any = None  # callable(RpcLog) set by the owner to print worker logs
        self.protos = protocol.load()
        self._server: grpc.aio.Server | None = None
        self._port = 0
        self._workers: dict[str, _Worker] = {}
        self._current: _Worker | None = None
        self._ready = asyncio.Event()
        self._starting: asyncio.Task[None] | None = None
        self._closing = False
        self._ids = itertools.count(1)

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> list[FunctionMetadata]:
        """Start the gRPC server and the first worker; returns the functions the host loaded."""
        protos = self.protos
        handler = grpc.stream_stream_rpc_method_handler(
            self._event_stream,
            request_deserializer=protos.StreamingMessage.FromString,
            response_serializer=protos.StreamingMessage.SerializeToString,
        )
        length = protocol.MAX_MESSAGE_LENGTH
        self._server = grpc.aio.server(options=[("grpc.max_send_message_length", length),
                                                ("grpc.max_receive_message_length", length)])
        self._server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler("AzureFunctionsRpcMessages.FunctionRpc", {"EventStream": handler})])
        self._port = self._server.add_insecure_port("127.0.0.1:0")
        await self._server.start()
        await self._start_worker()
        return self.metadata

    async def close(self) -> None:
        """WorkerTerminate to every worker (killed if it has not exited after 3 s), then stop the server."""
        self._closing = True
        if self._starting is not None:
            self._starting.cancel()
        await asyncio.gather(*(self._stop(worker) for worker in list(self._workers.values())))
        if self._server is not None:
            await self._server.stop(0)

    async def _stop(self, worker: _Worker) -> None:
        process = worker.process
        if process is None or process.returncode is not None:
            return
        worker.outgoing.put_nowait(self.protos.StreamingMessage(
            worker_terminate=self.protos.WorkerTerminate(grace_period={"seconds": 1})))
        try:
            await asyncio.wait_for(process.wait(), 3)
        except TimeoutError:
            process.kill()
            await process.wait()

    async def _start_worker(self) -> None:
        """Spawn a worker and take it through StartStream, init, metadata and loads."""
        protos = self.protos
        worker = _Worker(worker_id=str(uuid.uuid4()), request_id=str(uuid.uuid4()))
        worker.connected = asyncio.get_running_loop().create_future()
        self._workers[worker.worker_id] = worker
        # The host's environment (app settings included), plus what RpcWorkerProcess and Core Tools add.
        env = {**os.environ, "FUNCTIONS_WORKER_RUNTIME": "python", "AzureWebJobsScriptRoot": str(self.app_dir),
               "FUNCTIONS_WORKER_DIRECTORY": str(FRONT.parent), "FUNCTIONS_APPLICATION_DIRECTORY": str(self.app_dir)}
        worker.process = await asyncio.create_subprocess_exec(
            self.python, str(FRONT), *worker_arguments(self._port, worker.worker_id, worker.request_id),
            cwd=self.app_dir, env=env, stdin=asyncio.subprocess.DEVNULL,
        )
        asyncio.get_running_loop().create_task(self._watch(worker))
        try:
            await asyncio.wait_for(asyncio.shield(worker.connected), START_TIMEOUT_SECONDS)
            init = await self._request(worker, "init", protos.StreamingMessage(
                request_id=worker.request_id,
                worker_init_request=protos.WorkerInitRequest(
                    host_version=HOST_VERSION, capabilities=HOST_CAPABILITIES,
                    worker_directory=str(FRONT.parent), function_app_directory=str(self.app_dir)),
            ))
            _raise_on_failure(protos, init.result, "The worker could not initialise the app")
            request_id = f"metadata-{next(self._ids)}"
            listing = await self._request(worker, request_id, protos.StreamingMessage(
                request_id=request_id,
                functions_metadata_request=protos.FunctionsMetadataRequest(function_app_directory=str(self.app_dir)),
            ))
            _raise_on_failure(protos, listing.result, "The worker could not index the app")
            metadata = [_metadata(item) for item in listing.function_metadata_results]
            loads = [self._load(worker, item) for item in listing.function_metadata_results]
            for response in await asyncio.gather(*loads):
                _raise_on_failure(protos, response.result, f"The worker could not load function {response.function_id}")
        except WorkerDied as died:
            code = worker.process.returncode
            raise WorkerStartError(f"The Python worker exited during start-up (exit code {code}).") from died
        except TimeoutError:
            await self._kill(worker)
            raise WorkerStartError(f"The Python worker did not connect within {START_TIMEOUT_SECONDS:.0f} s.") from None
        except BaseException:  # the app did not index or load: no worker is left behind
            await self._kill(worker)
            raise
        self.metadata = metadata
        self.functions_by_name = {item.name: item for item in self.metadata}
        self._current = worker
        self._ready.set()
        log.info("Worker process started and initialized.")

    @staticmethod
    async def _kill(worker: _Worker) -> None:
        if worker.process is not None and worker.process.returncode is None:
            worker.process.kill()
            await worker.process.wait()

    async def _load(self, worker: _Worker, item: Any) -> Any:
        protos = self.protos
        return await self._request(worker, f"load-{item.function_id}", protos.StreamingMessage(
            request_id=worker.request_id,
            function_load_request=protos.FunctionLoadRequest(function_id=item.function_id, metadata=item),
        ))

    async def _watch(self, worker: _Worker) -> None:
        """When a worker exits: fail what it had in flight, then start another (unless closing)."""
        assert worker.process is not None
        await worker.process.wait()
        worker.exited = True
        worker.outgoing.put_nowait(None)
        for future in worker.pending.values():
            if not future.done():
                future.set_exception(WorkerDied("the worker process exited"))
        worker.pending.clear()
        if worker.connected is not None and not worker.connected.done():
            worker.connected.set_exception(WorkerDied("the worker process exited"))
        self._workers.pop(worker.worker_id, None)
        if worker is not self._current or self._closing:
            return
        self._current = None
        self._ready.clear()
        log.error("The worker process exited unexpectedly (exit code %s); starting a new one",
                  worker.process.returncode)
        self._starting = asyncio.get_running_loop().create_task(self._restart())

    async def _restart(self) -> None:
        while not self._closing:
            try:
                await self._start_worker()
                return
            except WorkerStartError:
                log.exception("The new worker process did not start; trying again in 1 s")
                await asyncio.sleep(1)

    # -- the stream ------------------------------------------------------------------

    async def _event_stream(self, requests: AsyncIterator[Any],
                            context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        """FunctionRpc.EventStream: the worker's messages in, the host's messages out."""
        first = await anext(aiter(requests), None)
        if first is None or first.WhichOneof("content") != "start_stream":
            return
        worker = self._workers.get(first.start_stream.worker_id)
        if worker is None or worker.connected is None or worker.connected.done():
            return
        reader = asyncio.get_running_loop().create_task(self._read(worker, requests))
        worker.connected.set_result(None)
        try:
            while (message := await worker.outgoing.get()) is not None:
                yield message
        finally:
            reader.cancel()

    async def _read(self, worker: _Worker, requests: AsyncIterator[Any]) -> None:
        try:
            async for message in requests:
                self._receive(worker, message)
        except (grpc.aio.AioRpcError, asyncio.CancelledError):
            pass

    def _receive(self, worker: _Worker, message: Any) -> None:
        kind = message.WhichOneof("content")
        if kind == "rpc_log":
            if self.on_log is not None:
                self.on_log(message.rpc_log, worker.worker_id)
            return
        if kind == "invocation_response":
            key = message.invocation_response.invocation_id
        elif kind == "worker_init_response":
            key = "init"
        elif kind == "function_load_response":
            key = f"load-{message.function_load_response.function_id}"
        else:  # function_metadata_response, worker_status_response: matched by request id
            key = message.request_id
        future = worker.pending.pop(key, None)
        if future is not None and not future.done():
            future.set_result(getattr(message, kind))

    async def _request(self, worker: _Worker, key: str, message: Any) -> Any:
        if worker.exited:
            raise WorkerDied("the worker process is gone")
        future = asyncio.get_running_loop().create_future()
        worker.pending[key] = future
        worker.outgoing.put_nowait(message)
        return await future

    # -- invocations -----------------------------------------------------------------

    async def invoke(self, function_name: str, invocation_id: str, input_data: list[Any]) -> Any:
        """Send one InvocationRequest and return the worker's InvocationResponse."""
        worker = await self._worker()
        protos = self.protos
        function = self.functions_by_name[function_name]
        request = protos.InvocationRequest(
            invocation_id=invocation_id, function_id=function.function_id, input_data=input_data,
            trace_context=protos.RpcTraceContext(trace_parent=f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-00"),
        )
        return await self._request(worker, invocation_id, protos.StreamingMessage(
            request_id=worker.request_id, invocation_request=request))

    async def status(self) -> float:
        """A WorkerStatusRequest round trip, in seconds (the host's worker health ping)."""
        worker = await self._worker()
        request_id = f"status-{next(self._ids)}"
        started = asyncio.get_running_loop().time()
        await self._request(worker, request_id, self.protos.StreamingMessage(
            request_id=request_id, worker_status_request=self.protos.WorkerStatusRequest()))
        return asyncio.get_running_loop().time() - started

    async def _worker(self) -> _Worker:
        while self._current is None:
            if self._closing:
                raise WorkerDied("the host is stopping")
            await self._ready.wait()
        return self._current


def worker_arguments(port: int, worker_id: str, request_id: str) -> list[str]:
    """The language worker's arguments, both spellings (RpcWorkerContext.GetFormattedArguments)."""
    length = str(protocol.MAX_MESSAGE_LENGTH)
    return ["--host", "127.0.0.1", "--port", str(port), "--workerId", worker_id, "--requestId", request_id,
            "--grpcMaxMessageLength", length, "--functions-uri", f"http://127.0.0.1:{port}/",
            "--functions-worker-id", worker_id, "--functions-request-id", request_id,
            "--functions-grpc-max-message-length", length]


def _metadata(item: Any) -> FunctionMetadata:
    bindings = [json.loads(raw) for raw in item.raw_bindings]
    return FunctionMetadata(item.function_id, item.name, bindings)


def _raise_on_failure(protos: Any, result: Any, what: str) -> None:
    if result.status == protos.StatusResult.Failure:
        raise WorkerStartError(result.exception.message or what)
