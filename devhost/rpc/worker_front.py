"""The Python worker process: a gRPC front over Azure's own worker library, `azure-functions-runtime`.

On Python 3.13+ Azure runs a v2-model app in a small "proxy worker" that ships with the Functions
host (not on PyPI) and calls the library `azure-functions-runtime` for everything that touches the
app: indexing `function_app.py`, checking binding annotations, converting each binding's
`TypedData`, invoking the function and serialising its result or exception. This module is that
front, written for devhost after the upstream proxy (Azure/azure-functions-python-worker,
`workers/proxy_worker/dispatcher.py`): the library and the app are Azure's code and the user's;
only the plumbing below is ours.

The host starts it as it starts the real worker:

    python worker_front.py --host 127.0.0.1 --port P --workerId W --requestId R --grpcMaxMessageLength N

with the app folder as working directory and `AzureWebJobsScriptRoot`, `FUNCTIONS_WORKER_RUNTIME`
and the app settings in the environment. It dials the host's `FunctionRpc.EventStream`, sends
`StartStream`, then answers what the host sends, as the proxy does:

- WorkerInitRequest, FunctionsMetadataRequest, FunctionLoadRequest, InvocationRequest,
  FunctionEnvironmentReloadRequest: handed to the library, whose response goes back;
- WorkerStatusRequest: answered here (a ping); WorkerTerminate: stop.

Log records become `RpcLog` messages (category = logger name; System for the library's loggers,
User for the app's) carrying the invocation id of the function that logged them. The gRPC stream
is read on a blocking thread and written from a queue, which measured 2.4x faster per invocation
than a grpc.aio stream; the library's coroutines run on this process's event loop and synchronous
functions on its thread pool (PYTHON_THREADPOOL_THREAD_COUNT), exactly as in Azure.

It runs as a script, so that nothing of devhost but this file and `protocol.py` is importable in
the worker, as in Azure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import ctypes
import logging
import os
import queue
import signal
import sys
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import grpc

try:
    from . import protocol
except ImportError:  # run as a script: the folder of this file is sys.path[0]
    import protocol  # type: ignore[no-redef]

# System logs are the worker's and the library's own; everything else is the app's (User).
SYSTEM_LOGGERS = ("azure_functions_runtime", "azure.functions", "devhost.worker")
CONNECT_TIMEOUT_SECONDS = 10.0
_invocation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("devhost_invocation_id", default=None)
log = logging.getLogger("devhost.worker")


@dataclass
class LibraryRequest:
    """What the library's handlers take: the StreamingMessage plus, for init, the host and protos."""

    name: str
    request: Any
    properties: dict[str, Any] | None = None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The host's worker arguments, old spelling and new (`--functions-uri` wins where given)."""
    parser = argparse.ArgumentParser(prog="worker_front.py")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--workerId", dest="worker_id")
    parser.add_argument("--requestId", dest="request_id")
    parser.add_argument("--grpcMaxMessageLength", dest="max_message_length", type=int)
    parser.add_argument("--functions-uri", dest="functions_uri")
    parser.add_argument("--functions-worker-id", dest="functions_worker_id")
    parser.add_argument("--functions-request-id", dest="functions_request_id")
    parser.add_argument("--functions-grpc-max-message-length", dest="functions_max_message_length", type=int)
    args = parser.parse_args(argv)
    if args.functions_uri:
        uri = urlparse(args.functions_uri)
        args.host, args.port = uri.hostname, uri.port
    args.worker_id = args.functions_worker_id or args.worker_id
    args.request_id = args.functions_request_id or args.request_id
    args.max_message_length = (args.functions_max_message_length or args.max_message_length
                               or protocol.MAX_MESSAGE_LENGTH)
    if not (args.host and args.port and args.worker_id and args.request_id):
        parser.error("--host, --port, --workerId and --requestId (or their --functions-* forms) are required")
    return args


class RpcLogHandler(logging.Handler):
    """Every log record of the worker becomes an RpcLog on the stream (levels as the proxy maps them)."""

    def __init__(self, front: WorkerFront):
        super().__init__(logging.DEBUG)
        self.front = front

    def emit(self, record: logging.LogRecord) -> None:
        try:
            protos = self.front.protos
            message = protos.RpcLog(
                message=self.format(record),
                category=record.name,
                level=_rpc_level(protos, record.levelno),
                log_category=protos.RpcLog.System if record.name.startswith(SYSTEM_LOGGERS) else protos.RpcLog.User,
            )
            invocation_id = _current_invocation_id()
            if invocation_id:
                message.invocation_id = invocation_id
            self.front.send(protos.StreamingMessage(request_id=self.front.request_id, rpc_log=message))
        except Exception:
            self.handleError(record)


def _rpc_level(protos: Any, levelno: int) -> int:
    if levelno >= logging.CRITICAL:
        return protos.RpcLog.Critical
    if levelno >= logging.ERROR:
        return protos.RpcLog.Error
    if levelno >= logging.WARNING:
        return protos.RpcLog.Warning
    if levelno >= logging.INFO:
        return protos.RpcLog.Information
    return protos.RpcLog.Debug


def _current_invocation_id() -> str | None:
    """The invocation that logged: the library's context variable (sync functions on its pool), else ours."""
    import azure_functions_runtime as library

    return library.invocation_id_cv.get() or _invocation_id.get()


class WorkerFront:
    """One EventStream to the host, with the library answering the host's requests."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.request_id: str = args.request_id
        self.protos = protocol.load()
        self._outgoing: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._done: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._library: Any = None

    def send(self, message: Any) -> None:
        self._outgoing.put(message)

    def _requests(self) -> Any:
        """What the worker writes to the stream, in order: StartStream first, then whatever is queued."""
        while (message := self._outgoing.get()) is not None:
            yield message

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._done = asyncio.Event()
        length = self.args.max_message_length
        options = [("grpc.max_send_message_length", length), ("grpc.max_receive_message_length", length)]
        channel = grpc.insecure_channel(f"{self.args.host}:{self.args.port}", options)
        grpc.channel_ready_future(channel).result(timeout=CONNECT_TIMEOUT_SECONDS)
        event_stream = channel.stream_stream(
            protocol.EVENT_STREAM,
            request_serializer=self.protos.StreamingMessage.SerializeToString,
            response_deserializer=self.protos.StreamingMessage.FromString,
        )
        self.send(self.protos.StreamingMessage(
            request_id=self.request_id, start_stream=self.protos.StartStream(worker_id=self.args.worker_id)))
        responses = event_stream(self._requests())
        threading.Thread(target=self._read, args=(responses,), name="host-reader", daemon=True).start()
        await self._done.wait()
        self._outgoing.put(None)
        channel.close()

    def _read(self, responses: Any) -> None:
        """Blocking reads on a thread of their own; each message is handled on the event loop."""
        assert self._loop is not None and self._done is not None
        try:
            for message in responses:
                self._loop.call_soon_threadsafe(self._dispatch, message)
        except grpc.RpcError:
            pass  # the host closed the stream or went away
        self._loop.call_soon_threadsafe(self._done.set)

    def _dispatch(self, message: Any) -> None:
        task = asyncio.get_running_loop().create_task(self._handle(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, message: Any) -> None:
        kind = message.WhichOneof("content")
        protos = self.protos
        if kind == "worker_status_request":
            self.send(protos.StreamingMessage(request_id=message.request_id,
                                              worker_status_response=protos.WorkerStatusResponse()))
        elif kind == "worker_terminate":
            assert self._done is not None
            self._done.set()
        elif kind == "worker_init_request":
            library = self._import_library()
            response = await library.worker_init_request(
                LibraryRequest("WorkerInitRequest", message, {"protos": protos, "host": self.args.host}))
            self.send(protos.StreamingMessage(request_id=self.request_id, worker_init_response=response))
        elif kind == "functions_metadata_request":
            response = await self._library.functions_metadata_request(
                LibraryRequest("FunctionsMetadataRequest", message))
            self.send(protos.StreamingMessage(request_id=message.request_id, function_metadata_response=response))
        elif kind == "function_load_request":
            response = await self._library.function_load_request(LibraryRequest("FunctionLoadRequest", message))
            self.send(protos.StreamingMessage(request_id=self.request_id, function_load_response=response))
        elif kind == "invocation_request":
            _invocation_id.set(message.invocation_request.invocation_id)  # this task's context only
            response = await self._library.invocation_request(LibraryRequest("InvocationRequest", message))
            self.send(protos.StreamingMessage(request_id=self.request_id, invocation_response=response))
        elif kind == "function_environment_reload_request":
            library = self._import_library()
            response = await library.function_environment_reload_request(
                LibraryRequest("FunctionEnvironmentReloadRequest", message, {"protos": protos, "host": self.args.host}))
            self.send(protos.StreamingMessage(request_id=self.request_id,
                                              function_environment_reload_response=response))
        elif kind != "invocation_cancel":  # the library cannot cancel a running function; nor can the proxy
            log.error("Unknown StreamingMessage content type: %s", kind)

    def _import_library(self) -> Any:
        """Import azure-functions-runtime on the first init, with the app folder first on sys.path."""
        if self._library is None:
            app_dir = os.environ.get("AzureWebJobsScriptRoot") or os.getcwd()
            if app_dir not in sys.path:
                sys.path.insert(0, app_dir)
            import azure_functions_runtime as library

            library.start_threadpool_executor()
            self._library = library
        return self._library


def _die_with_parent() -> None:
    """Linux: SIGKILL when the host dies, even by SIGKILL, so no orphan worker keeps running the app."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass


def main(argv: list[str] | None = None) -> None:
    _die_with_parent()
    # Ctrl-C in a terminal reaches the whole process group: the host stops the worker, not the keyboard.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    front = WorkerFront(parse_args(argv))
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(RpcLogHandler(front))
    root.setLevel(logging.DEBUG if os.environ.get("PYTHON_ENABLE_DEBUG_LOGGING", "").lower() in ("1", "true")
                  else logging.INFO)
    asyncio.run(front.run())
    os._exit(0)  # threads of unfinished functions must not keep the process alive


if __name__ == "__main__":
    main()
