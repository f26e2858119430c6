"""The Functions worker protocol's message classes, generated from `FunctionRpc.proto`.

`FunctionRpc.proto` beside this file is the subset of the published protocol
(Azure/azure-functions-language-worker-protobuf, `src/proto/FunctionRpc.proto`) that the host and
the Python worker library exchange, with the upstream message names and field numbers.
grpcio-tools turns it into `_generated/FunctionRpc_pb2.py` (git-ignored): `make setup` does it,
and `load()` does it again whenever the module is missing or older than the .proto, so a
`python -m devhost` after a `git pull` never runs stale messages.

Only the message module is generated: the one RPC, `FunctionRpc.EventStream`, is wired by hand
with `grpc`'s generic handlers (`EVENT_STREAM`), so no generated stub has to be importable.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
PROTO = HERE / "FunctionRpc.proto"
GENERATED = HERE / "_generated"
MODULE_NAME = "FunctionRpc_pb2"
# The method path gRPC puts on the wire: /<package>.<service>/<method>.
EVENT_STREAM = "/AzureFunctionsRpcMessages.FunctionRpc/EventStream"
# What the Functions host passes as --grpcMaxMessageLength (int.MaxValue).
MAX_MESSAGE_LENGTH = 2147483647

_loaded: ModuleType | None = None


def _stamp() -> str:
    return "# proto sha256: " + hashlib.sha256(PROTO.read_bytes()).hexdigest()


def _is_current(target: Path) -> bool:
    try:
        with target.open(encoding="utf-8") as handle:
            return handle.readline().strip() == _stamp()
    except OSError:
        return False


def generate(force: bool = False) -> Path:
    """Write `_generated/FunctionRpc_pb2.py` from the .proto unless it is current; return its path."""
    target = GENERATED / f"{MODULE_NAME}.py"
    if not force and _is_current(target):
        return target
    from grpc_tools import protoc  # a development dependency: only needed to (re)generate

    GENERATED.mkdir(exist_ok=True)
    include = Path(protoc.__file__).resolve().parent / "_proto"  # google/protobuf/*.proto
    with tempfile.TemporaryDirectory(dir=GENERATED) as scratch:
        code = protoc.main(["grpc_tools.protoc", f"-I{HERE}", f"-I{include}", f"--python_out={scratch}", str(PROTO)])
        if code != 0:
            raise RuntimeError(f"grpc_tools.protoc failed on {PROTO} (exit code {code})")
        produced = Path(scratch) / f"{MODULE_NAME}.py"
        produced.write_text(_stamp() + "\n" + produced.read_text(encoding="utf-8"), encoding="utf-8")
        os.replace(produced, target)  # atomic: concurrent hosts never import a half-written module
    return target


def load() -> ModuleType:
    """The generated message module (generated first if needed), imported once per process."""
    global _loaded
    if _loaded is None:
        path = generate()
        spec = importlib.util.spec_from_file_location(MODULE_NAME, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules.setdefault(MODULE_NAME, module)
        spec.loader.exec_module(module)
        _loaded = module
    return _loaded


if __name__ == "__main__":  # `python -m devhost.rpc.protocol` (make setup)
    print(f"generated {generate(force='--force' in sys.argv).relative_to(Path.cwd())}")
