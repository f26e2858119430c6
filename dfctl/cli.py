"""`python -m dfctl`: run and inspect this app's workflows, locally or in Azure.

Workflow commands go through the app's HTTP starters and the Durable HTTP management API
(`<url>/runtime/webhooks/durabletask/...`); `inspect` reads the task hub's tables directly.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dfctl import errors
from dfctl.errors import EXIT_CODES_HELP, CliError

TERMINAL = frozenset({"Completed", "Failed", "Terminated", "Canceled"})
FINISHED_STATUSES = ["Completed", "Failed", "Terminated"]
# The statuses a purge by filter acts on: the provider drops every other one from the list, and a list left
# empty purges every instance in the time range, running ones too (AzureTableTrackingStore).
PURGEABLE_STATUSES = (*FINISHED_STATUSES, "Canceled")
PURGE_PREVIEW = 10  # instance ids shown before a purge by filter asks
STATUSES = ("Pending", "Running", "Completed", "ContinuedAsNew", "Failed", "Terminated", "Suspended", "Canceled")
DEFAULT_INPUT_CONTAINER = "batch-input"

EPILOG = EXIT_CODES_HELP + """
environment: DFCTL_URL, DFCTL_KEY, DFCTL_SYSTEM_KEY; AzureWebJobsStorage, TASKHUB_NAME,
BATCH_INPUT_CONTAINER (also read from local.settings.json in the app folder)."""


# -- argument parsing ----------------------------------------------------------------------------


_FORMATTER = argparse.RawDescriptionHelpFormatter  # descriptions and the epilog keep their line breaks

type _Subcommands = argparse._SubParsersAction[argparse.ArgumentParser]  # add_subparsers(): add_parser adds one


@dataclass(frozen=True)
class _SharedOptions:
    """Option groups several commands take, as argparse parents, so each is defined (and documented) once."""

    app: argparse.ArgumentParser
    storage: argparse.ArgumentParser
    waiting: argparse.ArgumentParser
    output: argparse.ArgumentParser


def build_parser() -> argparse.ArgumentParser:
    """dfctl's whole command line; the commands are added in the order `--help` lists them."""
    parser = argparse.ArgumentParser(
        prog="python -m dfctl", formatter_class=_FORMATTER, epilog=EPILOG,
        description="Start, watch and manage this app's Durable Functions workflows, and inspect its task hub.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    options = _SharedOptions(app=_app_options(), storage=_storage_options(), waiting=_waiting_options(),
                             output=_output_options())
    _add_start(commands, options)
    _add_decide(commands, options)
    _add_status(commands, options)
    _add_list(commands, options)
    _add_terminate(commands, options)
    _add_raise(commands, options)
    _add_purge(commands, options)
    _add_inspect(commands, options)
    _add_report(commands, options)
    _add_outbox(commands, options)
    return parser


def _app_options() -> argparse.ArgumentParser:
    """How to reach the app: its URL, keys and folder."""
    app = argparse.ArgumentParser(add_help=False)
    group = app.add_argument_group("app")
    group.add_argument("--url", help="the app's base URL (env DFCTL_URL; default http://localhost:7071)")
    group.add_argument("--key", help="function or host key: x-functions-key for /api/, code= for the "
                                     "management API (env DFCTL_KEY)")
    group.add_argument("--system-key", help="key for the management API when it differs from --key: the "
                                            "durabletask_extension system key (env DFCTL_SYSTEM_KEY)")
    group.add_argument("--request-timeout", type=float, default=30.0, metavar="SECONDS",
                       help="HTTP timeout per request (default 30)")
    group.add_argument("--app-dir", type=Path, help="folder with local.settings.json / host.json "
                                                    "(default: the current folder if it has them, else this repo)")
    return app


def _storage_options() -> argparse.ArgumentParser:
    """How to reach the storage account, for the commands that read or write it directly."""
    storage = argparse.ArgumentParser(add_help=False)
    group = storage.add_argument_group("storage")
    group.add_argument("--connection", help="storage connection string (default: AzureWebJobsStorage from the "
                                            "environment or local.settings.json)")
    group.add_argument("--account", help="storage account name; sign in with Entra ID (DefaultAzureCredential)")
    return storage


def _waiting_options() -> argparse.ArgumentParser:
    """How often and how long to poll, for the commands that can watch an instance."""
    waiting = argparse.ArgumentParser(add_help=False)
    group = waiting.add_argument_group("waiting")
    group.add_argument("--interval", type=float, default=1.0, metavar="SECONDS", help="poll interval (default 1)")
    group.add_argument("--timeout", type=float, default=0, metavar="SECONDS",
                       help="give up waiting after this long, exit 6 (default: wait as long as it takes)")
    return waiting


def _output_options() -> argparse.ArgumentParser:
    output = argparse.ArgumentParser(add_help=False)
    output.add_argument("--json", action="store_true", help="print JSON (for scripts) instead of tables")
    return output


def _command(commands: _Subcommands, name: str, help_text: str, parents: list[argparse.ArgumentParser],
             handler: Callable[[argparse.Namespace], int], description: str | None = None) -> argparse.ArgumentParser:
    """A command run by `handler`; its description is its one-line help unless it needs more."""
    sub = commands.add_parser(name, help=help_text, description=description or help_text, parents=parents,
                              formatter_class=_FORMATTER, epilog=EPILOG)
    sub.set_defaults(handler=handler)
    return sub


def _add_start(commands: _Subcommands, options: _SharedOptions) -> None:
    """`start` has a subcommand per workflow, since each starter takes a different request."""
    start = commands.add_parser("start", help="start a workflow: order, batch or leave",
                                description="Start a workflow through its HTTP starter.", formatter_class=_FORMATTER,
                                epilog=EPILOG)
    workflows = start.add_subparsers(dest="workflow", metavar="WORKFLOW")
    start.set_defaults(handler=lambda args: _missing(start, "a workflow"))
    parents = [options.app, options.waiting, options.output]
    _add_start_order(workflows, parents)
    _add_start_batch(workflows, [*parents, options.storage])
    _add_start_leave(workflows, parents)


def _add_start_order(workflows: _Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    order = workflows.add_parser(
        "order", parents=parents, formatter_class=_FORMATTER, epilog=EPILOG,
        help="process an order (OrderProcessing_Client)",
        description="Start the order workflow: an existing Pending order (--order-id only), a new order "
                    "(--order-id, --email and --item), or any request body (--file).")
    order.add_argument("--order-id", help="the order id (alone: process the stored order with this id)")
    order.add_argument("--email", help="customer e-mail of a new order")
    order.add_argument("--item", action="append", default=[], metavar="SKU=QTY",
                       help="an item of a new order (repeat for more), e.g. --item WIDGET-1=2")
    order.add_argument("--file", help="JSON request body from a file ('-' for stdin)")
    order.add_argument("--wait", action="store_true", help="watch the instance until it finishes")
    order.set_defaults(handler=cmd_start_order)


def _add_start_batch(workflows: _Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    batch = workflows.add_parser(
        "batch", parents=parents, formatter_class=_FORMATTER, epilog=EPILOG,
        help="upload files and process them as a batch (BatchProcessing_Client)",
        description="Upload local files into the batch input container (BATCH_INPUT_CONTAINER, default "
                    "batch-input) and start BatchProcessing_Client with their blob names; or name blobs that "
                    "are already there (--blob), or every blob under a prefix (--prefix).")
    batch.add_argument("files", nargs="*", type=Path, help="local files to upload (blob name: --blob-prefix + "
                                                            "file name)")
    batch.add_argument("--blob-prefix", default="", help="prefix for the uploaded files' blob names, e.g. incoming/")
    batch.add_argument("--blob", action="append", default=[], metavar="NAME",
                       help="a blob already in the container (repeat for more)")
    batch.add_argument("--prefix", help="process every blob whose name starts with this")
    batch.add_argument("--batch-id", help="name the batch (instance batch-<id>; a second start is refused)")
    batch.add_argument("--container", help="input container (default: BATCH_INPUT_CONTAINER or batch-input)")
    batch.add_argument("--wait", action="store_true", help="watch the batch (with a progress bar) until it finishes")
    batch.set_defaults(handler=cmd_start_batch)


def _add_start_leave(workflows: _Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    leave = workflows.add_parser(
        "leave", parents=parents, formatter_class=_FORMATTER, epilog=EPILOG,
        help="request leave (LeaveApproval_Client)",
        description="Start a leave request; the approver decides with `dfctl approve|reject`.")
    leave.add_argument("--employee-id")
    leave.add_argument("--employee-email")
    leave.add_argument("--approver-email")
    leave.add_argument("--start-date", metavar="YYYY-MM-DD")
    leave.add_argument("--end-date", metavar="YYYY-MM-DD")
    leave.add_argument("--reason")
    leave.add_argument("--request-id", help="your id for the request (instance leave-<id>); a second start with "
                                            "it is refused with 409, so a lost call can simply be repeated")
    leave.add_argument("--file", help="JSON request body from a file ('-' for stdin) instead of the options")
    leave.add_argument("--wait", action="store_true", help="watch the instance until it finishes")
    leave.set_defaults(handler=cmd_start_leave)


def _add_decide(commands: _Subcommands, options: _SharedOptions) -> None:
    """`approve` and `reject` are one command with two names: each sets the result it sends."""
    for verb in ("approve", "reject"):
        decide = _command(commands, verb, f"{verb} a leave request (SubmitApprovalResult)",
                          [options.app, options.waiting, options.output], cmd_decide)
        decide.add_argument("instance_id", metavar="INSTANCE_ID", help="the leave request's instance id (leave-...)")
        decide.add_argument("--approver", required=True, help="the approver's e-mail (must be the request's)")
        decide.add_argument("--comment")
        decide.add_argument("--wait", action="store_true", help="watch the instance until it finishes")
        decide.set_defaults(result="Approved" if verb == "approve" else "Rejected")


def _add_status(commands: _Subcommands, options: _SharedOptions) -> None:
    status = _command(commands, "status", "show an instance's status (--watch: until it finishes)",
                      [options.app, options.waiting, options.output], cmd_status)
    status.add_argument("instance_id", metavar="INSTANCE_ID")
    status.add_argument("--watch", action="store_true",
                        help="poll until the instance finishes (a progress bar for batches); exit 1 if it "
                             "Failed or was Terminated")
    status.add_argument("--history", action="store_true", help="also show the history (management API)")


def _add_list(commands: _Subcommands, options: _SharedOptions) -> None:
    listing = _command(commands, "list", "list instances (management API)", [options.app, options.output], cmd_list)
    _filters(listing)
    listing.add_argument("--all", action="store_true",
                         help="also list sub-orchestrations (a batch's chunks), which are hidden by default")
    listing.add_argument("--top", type=int, default=50, help="at most this many (default 50; 0 for all)")


def _add_terminate(commands: _Subcommands, options: _SharedOptions) -> None:
    terminate = _command(commands, "terminate", "terminate a running instance", [options.app, options.output],
                         cmd_terminate)
    terminate.add_argument("instance_id", metavar="INSTANCE_ID")
    terminate.add_argument("--reason", default="Terminated with dfctl")


def _add_raise(commands: _Subcommands, options: _SharedOptions) -> None:
    raise_event = _command(commands, "raise", "raise an external event to an instance", [options.app, options.output],
                           cmd_raise)
    raise_event.add_argument("instance_id", metavar="INSTANCE_ID")
    raise_event.add_argument("event", metavar="EVENT_NAME")
    raise_event.add_argument("--data", default="null", help="the event's JSON payload (default null)")


def _add_purge(commands: _Subcommands, options: _SharedOptions) -> None:
    purge = _command(
        commands, "purge", "purge the history of one finished instance, or of finished instances by filter",
        [options.app, options.output], cmd_purge,
        description="Purge one instance (INSTANCE_ID) or every instance created in a time range "
                    "(--created-from, optionally --created-to). It deletes the instance's row, its history and "
                    "its large-message blobs. It never deletes an instance that has not finished: the "
                    "management API refuses one by id (412), and by filter dfctl always sends the finished "
                    "statuses (Completed, Failed, Terminated by default; --status picks among them and "
                    "Canceled). It does not delete your business data (orders, reports, blobs).")
    purge.add_argument("instance_id", metavar="INSTANCE_ID", nargs="?")
    purge.add_argument("--yes", action="store_true",
                       help="purge by filter without showing what matches and asking first (scripts)")
    _filters(purge, prefix=False)


def _add_inspect(commands: _Subcommands, options: _SharedOptions) -> None:
    inspect = _command(
        commands, "inspect", "read the task hub's tables directly: instances, or one instance's timeline",
        [options.app, options.storage, options.output], cmd_inspect,
        description="Without INSTANCE_ID: the {hub}Instances table (entities, ids @name@key, marked as such). "
                    "With it: the instance's timeline from {hub}History (activities with durations, retries, "
                    "failures, timers, sub-orchestrations, entity calls and signals), and with --png a "
                    "Gantt-like picture; for an entity (@name@key): whether it exists, its state, queued "
                    "operations and lock. Works on tables written by the Durable extension in Azure and by the "
                    "local host.")
    inspect.add_argument("instance_id", metavar="INSTANCE_ID", nargs="?",
                         help="an orchestration's instance id, or an entity's @name@key")
    inspect.add_argument("--hub", help="task hub name (default: TASKHUB_NAME, else host.json's hubName)")
    inspect.add_argument("--png", type=Path, metavar="FILE", help="draw the timeline into a PNG file")
    inspect.add_argument("--depth", type=int, default=2,
                         help="follow sub-orchestrations this many levels deep (default 2; 0: none)")
    inspect.add_argument("--max-rows", type=int, default=200, help="timeline rows to print (default 200; 0: all)")
    _filters(inspect)
    inspect.add_argument("--top", type=int, default=50, help="instances to list (default 50; 0 for all)")


def _add_report(commands: _Subcommands, options: _SharedOptions) -> None:
    report = _command(commands, "report", "a batch's report: counts, each file's outcome, quarantine errors",
                      [options.app, options.storage, options.output], cmd_report,
                      description="Read a finished batch's report from the reports container (BATCH_REPORTS_"
                                  "CONTAINER): the counts and every file's outcome; --errors adds each rejected "
                                  "file's problems from its error report in quarantine.")
    report.add_argument("batch", metavar="BATCH", help="the batch id, or its instance id (batch-...)")
    report.add_argument("--errors", action="store_true", help="also list each rejected file's problems")


def _add_outbox(commands: _Subcommands, options: _SharedOptions) -> None:
    outbox = _command(commands, "outbox", "the e-mails a workflow wrote (order confirmation, leave e-mails)",
                      [options.app, options.storage, options.output], cmd_outbox)
    outbox.add_argument("instance_id", metavar="INSTANCE_ID", help="order-<orderId> or leave-<requestId>")


def _filters(sub: argparse.ArgumentParser, prefix: bool = True) -> None:
    group = sub.add_argument_group("filters")
    group.add_argument("--status", action="append", default=[], metavar="STATUS",
                       help=f"runtime status (repeat, or comma-separated): {', '.join(STATUSES)}")
    if prefix:
        group.add_argument("--prefix", help="instance id prefix, e.g. order- or batch-")
    group.add_argument("--created-from", metavar="TIME", help="created at or after: ISO date/time or 7d, 12h, 30m ago")
    group.add_argument("--created-to", metavar="TIME", help="created at or before (same forms)")


def _missing(parser: argparse.ArgumentParser, what: str) -> int:
    parser.print_help(sys.stderr)
    print(f"\n{parser.prog}: error: choose {what}", file=sys.stderr)
    return errors.USAGE


# -- shared helpers ------------------------------------------------------------------------------


def _console(args: argparse.Namespace) -> Any:
    from dfctl.render import console

    return console()


def _client(args: argparse.Namespace) -> Any:
    from dfctl.api import AppClient
    from dfctl.settings import default_url

    url = args.url or os.environ.get("DFCTL_URL") or default_url(args.app_folder)
    return AppClient(url, key=args.key or os.environ.get("DFCTL_KEY") or None,
                     system_key=args.system_key or os.environ.get("DFCTL_SYSTEM_KEY") or None,
                     timeout=args.request_timeout)


def _statuses(values: list[str]) -> list[str]:
    chosen: list[str] = []
    for value in values:
        for name in filter(None, (v.strip() for v in value.split(","))):
            match = next((s for s in STATUSES if s.lower() == name.lower()), None)
            if match is None:
                raise CliError(f"Unknown status {name!r}; use one of {', '.join(STATUSES)}.", errors.USAGE)
            chosen.append(match)
    return chosen


_RELATIVE = re.compile(r"^(\d+)([dhm])$")


def parse_moment(text: str | None) -> datetime | None:
    """ISO date or date-time (UTC unless it says otherwise), or `7d` / `12h` / `30m` ago."""
    if not text:
        return None
    relative = _RELATIVE.match(text.strip())
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        return datetime.now(UTC) - timedelta(**{{"d": "days", "h": "hours", "m": "minutes"}[unit]: amount})
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as error:
        raise CliError(f"Not a time: {text!r} (use 2026-01-31, 2026-01-31T12:00:00Z or 7d).", errors.USAGE) from error
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def _read_json(path: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8-sig")
    except OSError as error:
        raise CliError(f"Cannot read {path}: {error.strerror or error}", errors.USAGE) from error
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise CliError(f"{path} is not JSON: {error}", errors.USAGE) from error


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


# -- starting workflows --------------------------------------------------------------------------


def _started(args: argparse.Namespace, response: Any, what: str) -> int:
    """Report a starter's answer; 202: the new instance (and watch it with --wait)."""
    from dfctl.api import _error_text, expect, json_body

    if response.status_code == 409:
        body = json_body(response) or {}
        existing = body.get("instanceId")
        detail = f" (instance {existing}, {body.get('runtimeStatus')})" if existing else ""
        raise CliError(f"409 Conflict: {_error_text(response)}{detail}", errors.REFUSED)
    expect(response, 202)
    body = json_body(response) or {}
    instance_id = str(body.get("id") or body.get("instanceId") or "")
    if not instance_id:
        raise CliError(f"The {what} starter answered 202 without an instance id.", errors.SERVER_ERROR)
    if args.json and not args.wait:
        _print_json(body)
    elif not args.json:
        print(f"started {what}: {instance_id}")
        if not args.wait:
            print(f"  follow it:  python -m dfctl status {instance_id} --watch")
    if not args.wait:
        return errors.OK
    return watch(args, _client(args), instance_id)


def cmd_start_order(args: argparse.Namespace) -> int:
    client = _client(args)
    if args.file:
        if args.email or args.item:
            raise CliError("--file gives the whole request; do not combine it with --email/--item.", errors.USAGE)
        body = _read_json(args.file)
        params = {"orderId": args.order_id} if args.order_id else None
        return _started(args, client.function("POST", "OrderProcessing_Client", params=params, body=body), "order")
    if not args.order_id:
        raise CliError("Give --order-id (and --email and --item for a new order) or --file.", errors.USAGE)
    if not args.email and not args.item:
        response = client.function("POST", "OrderProcessing_Client", params={"orderId": args.order_id})
        return _started(args, response, "order")
    if not args.email or not args.item:
        raise CliError("A new order needs both --email and at least one --item SKU=QTY.", errors.USAGE)
    items = []
    for item in args.item:
        sku, _, quantity = item.partition("=")
        if not sku or not quantity.strip().lstrip("-").isdigit():
            raise CliError(f"--item takes SKU=QUANTITY, e.g. WIDGET-1=2 (got {item!r}).", errors.USAGE)
        items.append({"sku": sku.strip(), "quantity": int(quantity)})
    body = {"orderId": args.order_id, "customerEmail": args.email, "items": items}
    return _started(args, client.function("POST", "OrderProcessing_Client", body=body), "order")


def cmd_start_batch(args: argparse.Namespace) -> int:
    from dfctl.settings import app_data_connection_setting, storage_target
    from dfctl.storage import upload_files

    if args.prefix and (args.files or args.blob):
        raise CliError("--prefix selects the blobs itself; do not combine it with files or --blob.", errors.USAGE)
    if not args.prefix and not args.files and not args.blob:
        raise CliError("Give local files to upload, --blob NAME for blobs already uploaded, or --prefix.",
                       errors.USAGE)
    client = _client(args)  # a bad URL is reported before anything is uploaded
    uploads: list[tuple[Path, str]] = []
    for path in args.files:
        if not path.is_file():
            raise CliError(f"No such file: {path}", errors.USAGE)
        uploads.append((path, f"{args.blob_prefix}{path.name}"))
    names = [name for _, name in uploads]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise CliError(f"Two files would get the same blob name: {', '.join(duplicates)}.", errors.USAGE)
    if uploads:
        container = args.container or os.environ.get("BATCH_INPUT_CONTAINER", "").strip() or DEFAULT_INPUT_CONTAINER
        target = storage_target(args.connection, args.account, app_data_connection_setting())
        started = time.monotonic()
        upload_files(target, container, uploads)
        if not args.json:
            print(f"uploaded {len(uploads)} file(s) to {container} in {target.description} "
                  f"({time.monotonic() - started:.1f} s)")
    files = names + list(args.blob)
    # The starter's forms: a JSON array of names (the original call), or an object to name the batch.
    body: Any = {"prefix": args.prefix} if args.prefix else ({"files": files} if args.batch_id else files)
    if args.batch_id:
        body["batchId"] = args.batch_id
    return _started(args, client.function("POST", "BatchProcessing_Client", body=body), "batch")


def cmd_start_leave(args: argparse.Namespace) -> int:
    client = _client(args)
    options = {"employee_id": "employeeId", "employee_email": "employeeEmail", "approver_email": "approverEmail",
               "start_date": "startDate", "end_date": "endDate", "reason": "reason"}
    fields = {field: getattr(args, option) for option, field in options.items()}
    if args.file:
        if any(fields.values()):
            raise CliError("--file gives the whole request; do not combine it with the field options.", errors.USAGE)
        body = _read_json(args.file)
    else:
        missing = ["--" + option.replace("_", "-") for option, field in options.items() if not fields[field]]
        if missing:
            raise CliError(f"Missing {', '.join(missing)} (or give the request with --file).", errors.USAGE)
        body = fields
    if args.request_id:
        body["requestId"] = args.request_id
    return _started(args, client.function("POST", "LeaveApproval_Client", body=body), "leave request")


def cmd_decide(args: argparse.Namespace) -> int:
    from dfctl.api import _error_text, json_body

    client = _client(args)
    body = {"instanceId": args.instance_id, "result": args.result, "approver": args.approver}
    if args.comment:
        body["comment"] = args.comment
    response = client.function("POST", "SubmitApprovalResult", body=body)
    if response.status_code == 404:
        raise CliError(f"Not found: {_error_text(response)}", errors.NOT_FOUND)
    if response.status_code in (400, 403, 409, 413, 415):
        raise CliError(f"{response.status_code}: {_error_text(response)}", errors.REFUSED)
    if response.status_code != 202:
        raise CliError(f"Unexpected {response.status_code} from SubmitApprovalResult: {_error_text(response)}",
                       errors.SERVER_ERROR)
    if args.json and not args.wait:
        _print_json(json_body(response))
    elif not args.json:
        print(f"{args.result.lower()} by {args.approver}: {args.instance_id}")
    return watch(args, client, args.instance_id) if args.wait else errors.OK


# -- management API --------------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace) -> int:
    client = _client(args)
    if args.watch:
        return watch(args, client, args.instance_id)
    body = client.status(args.instance_id, history=args.history)
    if body is None:
        raise CliError(f"No instance {args.instance_id}.", errors.NOT_FOUND)
    if args.json:
        _print_json(body)
        return errors.OK
    from rich.table import Table

    from dfctl.render import esc, short_json, status_lines, when

    out = _console(args)
    for line in status_lines(body):
        out.print(line)
    if args.history:
        table = Table(title="history (management API)")
        for column in ("time", "event", "function", "detail"):
            table.add_column(column, overflow="fold")
        for event in body.get("historyEvents") or []:
            detail = event.get("Reason") or event.get("Name") or event.get("InstanceId") or ""
            if not detail and "Result" in event:
                detail = short_json(event.get("Result"), 80)
            table.add_row(when(event.get("Timestamp")), event.get("EventType", ""), esc(event.get("FunctionName")),
                          esc(detail))
        out.print(table)
    return errors.OK


def watch(args: argparse.Namespace, client: Any, instance_id: str) -> int:
    """Poll the instance until it finishes: 0 Completed, 1 Failed/Terminated, 6 on --timeout."""
    from dfctl.render import console

    out = console()
    deadline = time.monotonic() + args.timeout if args.timeout else None
    started = time.monotonic()
    with _watch_display(args, out, instance_id) as show:
        body = _poll_until_finished(args, client, instance_id, deadline, show)
    _print_watched(args, out, body, instance_id, started)
    return errors.OK if body.get("runtimeStatus", "") == "Completed" else errors.WORKFLOW_FAILED


type _ShowStatus = Callable[[str, Any], None]  # shows one poll's runtime status and custom status


def _poll_until_finished(args: argparse.Namespace, client: Any, instance_id: str, deadline: float | None,
                         show: _ShowStatus) -> dict[str, Any]:
    """The instance's status once it is terminal; every poll before is shown as it comes."""
    while True:
        body: dict[str, Any] | None = client.status(instance_id, show_input=False)
        if body is None:
            raise CliError(f"No instance {instance_id}.", errors.NOT_FOUND)
        state = body.get("runtimeStatus", "")
        show(state, body.get("customStatus"))
        if state in TERMINAL:
            return body
        if deadline is not None and time.monotonic() >= deadline:
            raise CliError(f"{instance_id} is still {state} after {args.timeout:g} s.", errors.TIMEOUT)
        time.sleep(max(0.05, args.interval))


@contextmanager
def _watch_display(args: argparse.Namespace, out: Any, instance_id: str) -> Iterator[_ShowStatus]:
    """How polls are shown: a live progress line at a terminal, a line per change in a log or pipe, nothing
    with --json (scripts read only the final JSON)."""
    if args.json:
        yield lambda state, custom: None
    elif out.is_terminal:
        bar = _ProgressLine(out, instance_id)
        with bar.progress:
            yield bar.show
    else:
        yield _ChangeLog(instance_id).show


class _ProgressLine:
    """At a terminal: one live line with a spinner and the elapsed time; for a batch also a bar of files
    processed out of the total."""

    def __init__(self, out: Any, instance_id: str):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.instance_id = instance_id
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=out, transient=False)
        self.task = self.progress.add_task(instance_id, total=None)

    def show(self, state: str, custom: Any) -> None:
        from dfctl.render import esc, step_of

        batch = _batch_progress(custom)
        if batch is not None:  # a batch: the bar shows n/total
            processed, total = batch
            text = _with_counts(f"{self.instance_id} {custom.get('step') or state}", custom)
            self.progress.update(self.task, description=esc(text), completed=processed, total=total)
        else:
            self.progress.update(self.task, description=esc(f"{self.instance_id} {state} {step_of(custom)}".strip()))


class _ChangeLog:
    """Not at a terminal: a timestamped line each time the status line changes, so a log is not flooded."""

    def __init__(self, instance_id: str):
        self.instance_id = instance_id
        self.last_line: str | None = None

    def show(self, state: str, custom: Any) -> None:
        from dfctl.render import step_of

        step = step_of(custom)  # the custom status's step, unless it only repeats the runtime status
        step = step[len(state):].strip() if step.startswith(state) else step
        line = _with_counts(f"{state} {step}".strip(), custom)
        if line != self.last_line:
            print(f"{time.strftime('%H:%M:%S')} {self.instance_id}: {line}", flush=True)
            self.last_line = line


def _batch_progress(custom: Any) -> tuple[int, int] | None:
    """Files processed and the total, when the custom status is a batch's (it has both as integers)."""
    if not isinstance(custom, dict):
        return None
    processed, total = custom.get("processed"), custom.get("total")
    return (processed, total) if isinstance(processed, int) and isinstance(total, int) else None


def _with_counts(text: str, custom: Any) -> str:
    """`text` with the custom status's non-zero counts (a batch's files per outcome) in brackets."""
    counts = custom.get("counts") if isinstance(custom, dict) else None
    count_text = ", ".join(f"{k} {v}" for k, v in counts.items() if v) if isinstance(counts, dict) else ""
    return text + (f" ({count_text})" if count_text else "")


def _print_watched(args: argparse.Namespace, out: Any, body: dict[str, Any], instance_id: str,
                   started: float) -> None:
    """The finished instance: its status as JSON, or its status lines and how it ended."""
    from dfctl.render import status_lines

    if args.json:
        _print_json(body)
        return
    state = body.get("runtimeStatus", "")
    for line in status_lines(body):
        out.print(line)
    out.print(f"{instance_id} Completed (watched {time.monotonic() - started:.1f} s)" if state == "Completed" else
              f"{instance_id} ended {state}")


def cmd_list(args: argparse.Namespace) -> int:
    client = _client(args)
    items = client.query(statuses=_statuses(args.status) or None, prefix=args.prefix,
                         created_from=iso(parse_moment(args.created_from)),
                         created_to=iso(parse_moment(args.created_to)), top=args.top or None)
    if args.json:
        _print_json(items)
        return errors.OK
    from dfctl.render import status_table

    hidden = [] if args.all else [i for i in items if _is_sub_orchestration(i)]
    shown = [i for i in items if i not in hidden]
    out = _console(args)
    out.print(status_table(shown, title=f"{len(shown)} instance(s)"))
    if hidden:
        out.print(f"{len(hidden)} sub-orchestration(s) hidden (a batch's chunks); --all lists them")
    return errors.OK


def _is_sub_orchestration(item: dict[str, Any]) -> bool:
    """A batch chunk (BatchProcessing_Chunk), or an id DurableTask gives a sub-orchestration (`<parent>:<n>`):
    the management API's listing does not say which instance has a parent."""
    return item.get("name") == "BatchProcessing_Chunk" or ":" in str(item.get("instanceId", ""))


def cmd_report(args: argparse.Namespace) -> int:
    from dfctl.results import batch_report
    from dfctl.settings import app_data_connection_setting, storage_target

    report = batch_report(storage_target(args.connection, args.account, app_data_connection_setting()),
                          args.batch, with_errors=args.errors)
    if args.json:
        _print_json(report)
        return errors.OK
    from dfctl.render import error_lines, report_table

    out = _console(args)
    out.print(report_table(report))
    for line in error_lines(report):
        out.print(line)
    return errors.OK


def cmd_outbox(args: argparse.Namespace) -> int:
    from dfctl.results import outbox_messages
    from dfctl.settings import app_data_connection_setting, storage_target

    messages = outbox_messages(storage_target(args.connection, args.account, app_data_connection_setting()),
                               args.instance_id)
    if args.json:
        _print_json([{"blobName": name, "message": text} for name, text in messages])
        return errors.OK
    if not messages:
        print(f"{args.instance_id} has written no e-mail (yet).")
    for name, text in messages:
        print(f"===== {name} =====\n{text.rstrip()}\n")
    return errors.OK


def cmd_terminate(args: argparse.Namespace) -> int:
    from dfctl.api import expect

    response = _client(args).terminate(args.instance_id, args.reason)
    if response.status_code == 404:
        raise CliError(f"No instance {args.instance_id}.", errors.NOT_FOUND)
    if response.status_code == 410:
        raise CliError(f"{args.instance_id} has already finished (410 Gone); nothing to terminate.", errors.REFUSED)
    expect(response, 202)
    _report(args, {"instanceId": args.instance_id, "terminated": True, "reason": args.reason},
            f"termination of {args.instance_id} requested ({args.reason})")
    return errors.OK


def cmd_raise(args: argparse.Namespace) -> int:
    from dfctl.api import expect

    try:
        data = json.loads(args.data)
    except json.JSONDecodeError as error:
        raise CliError(f"--data must be JSON: {error}", errors.USAGE) from error
    response = _client(args).raise_event(args.instance_id, args.event, data)
    if response.status_code == 404:
        raise CliError(f"No instance {args.instance_id}.", errors.NOT_FOUND)
    if response.status_code == 410:
        raise CliError(f"{args.instance_id} has finished (410 Gone); it takes no events.", errors.REFUSED)
    expect(response, 202)
    _report(args, {"instanceId": args.instance_id, "event": args.event},
            f"event {args.event} raised to {args.instance_id}")
    return errors.OK


def cmd_purge(args: argparse.Namespace) -> int:
    from dfctl.api import expect, json_body

    client = _client(args)
    if args.instance_id:
        if args.status or args.created_from or args.created_to:
            raise CliError("Purge one INSTANCE_ID, or by filter (--created-from ...), not both.", errors.USAGE)
        response = client.purge(args.instance_id)
        if response.status_code == 404:
            raise CliError(f"No instance {args.instance_id}.", errors.NOT_FOUND)
        if response.status_code in (400, 412):
            from dfctl.api import _error_text

            raise CliError(f"Cannot purge {args.instance_id}: {_error_text(response)}", errors.REFUSED)
        expect(response, 200)
        deleted = (json_body(response) or {}).get("instancesDeleted", 1)
        _report(args, {"instanceId": args.instance_id, "instancesDeleted": deleted},
                f"purged {args.instance_id} ({deleted} instance)")
        return errors.OK
    if not args.created_from:
        raise CliError("Give INSTANCE_ID, or --created-from (and optionally --created-to, --status) to purge "
                       "by filter.", errors.USAGE)
    statuses = _statuses(args.status) or FINISHED_STATUSES
    unfinished = [s for s in statuses if s not in PURGEABLE_STATUSES]
    if unfinished:
        # The API would drop these and, with no status left, purge every instance in the range.
        raise CliError(f"Only finished instances are purged ({', '.join(PURGEABLE_STATUSES)}); "
                       f"not {', '.join(unfinished)}. Terminate an instance first to purge it.", errors.USAGE)
    created_from, created_to = iso(parse_moment(args.created_from)) or "", iso(parse_moment(args.created_to))
    if not args.yes:
        _confirm_purge(args, client.query(statuses=statuses, created_from=created_from, created_to=created_to),
                       statuses)
    response = client.purge_by(created_from=created_from, created_to=created_to, statuses=statuses)
    if response.status_code == 404:
        deleted = 0
    else:
        expect(response, 200)
        deleted = (json_body(response) or {}).get("instancesDeleted", 0)
    _report(args, {"instancesDeleted": deleted, "runtimeStatus": statuses},
            f"purged {deleted} instance(s) ({', '.join(statuses)})")
    return errors.OK


def _confirm_purge(args: argparse.Namespace, matching: list[dict[str, Any]], statuses: list[str]) -> None:
    """Show what a purge by filter would delete; go on only when the person at the terminal says yes."""
    ids = [str(i.get("instanceId")) for i in matching]
    listed = ", ".join(ids[:PURGE_PREVIEW]) + (f", ... ({len(ids) - PURGE_PREVIEW} more)" if len(ids) > PURGE_PREVIEW
                                                  else "")
    print(f"This purges the history of {len(ids)} instance(s) ({', '.join(statuses)}) created since "
          f"{args.created_from}{' until ' + args.created_to if args.created_to else ''}"
          + (f": {listed}" if ids else "."), file=sys.stderr)
    if not sys.stdin.isatty():
        raise CliError("Not purged: add --yes to purge without asking.", errors.USAGE)
    if input("Purge them? [y/N] ").strip().lower() not in ("y", "yes"):
        raise CliError("Not purged.", errors.REFUSED)


def _report(args: argparse.Namespace, value: dict[str, Any], text: str) -> None:
    if args.json:
        _print_json(value)
    else:
        print(text)


# -- inspect (task hub tables) -------------------------------------------------------------------


def cmd_inspect(args: argparse.Namespace) -> int:
    from dfctl.settings import hub_name, storage_target
    from dfctl.taskhub import TaskHub

    target = storage_target(args.connection, args.account)
    hub = hub_name(args.hub, args.app_folder)
    with TaskHub(target, hub) as taskhub:
        if not args.instance_id:
            return _inspect_instances(args, taskhub)
        from dfctl.entities import entity_id

        if entity_id(args.instance_id) is not None:
            return _inspect_entity(args, taskhub)
        return _inspect_instance(args, taskhub)


def _inspect_instances(args: argparse.Namespace, taskhub: Any) -> int:
    """The Instances table; an entity's row (`@name@key`) says so: `entity` in --json, its status in the table."""
    from dfctl.entities import list_json
    from dfctl.render import instances_table

    found = taskhub.instances(statuses=_statuses(args.status) or None, prefix=args.prefix,
                              created_from=parse_moment(args.created_from),
                              created_to=parse_moment(args.created_to), top=args.top or None)
    entities = {i.instance_id: list_json(i) for i in found}
    if args.json:
        _print_json([{"instanceId": i.instance_id, "name": i.name, "runtimeStatus": i.runtime_status,
                      "createdTime": iso(i.created), "lastUpdatedTime": iso(i.last_updated),
                      "completedTime": iso(i.completed), "customStatus": i.custom_status}
                     | ({"entity": entities[i.instance_id]} if entities[i.instance_id] else {}) for i in found])
        return errors.OK
    out = _console(args)
    out.print(instances_table(found, taskhub.hub))
    count = sum(1 for e in entities.values() if e)
    out.print(f"{len(found)} instance(s) shown, newest first, from {taskhub.target.description}"
              + (f"; {count} of them entities (dfctl inspect @name@key shows one)" if count else ""))
    return errors.OK


def _inspect_entity(args: argparse.Namespace, taskhub: Any) -> int:
    """An entity (`@name@key`) has no timeline worth showing (each batch of operations replaces its history):
    its name, key, whether it exists, its state, queue and lock, from its Instances row. An entity without a
    row was never used: it does not exist, as the Durable client's read_entity_state says too."""
    from dfctl.entities import EntityView
    from dfctl.render import entity_lines

    if args.png:
        raise CliError(f"{args.instance_id} is an entity: it has no timeline to draw (--png is for "
                       f"orchestrations).", errors.USAGE)
    view = EntityView.from_row(args.instance_id, taskhub.instance(args.instance_id))
    if args.json:
        _print_json(view.to_json())
        return errors.OK
    out = _console(args)
    for line in entity_lines(view, taskhub.hub):
        out.print(line)
    return errors.OK


def load_timeline(taskhub: Any, instance_id: str, depth: int) -> tuple[Any, Any]:
    """The instance's row and timeline, with its sub-orchestrations `depth` levels down (read in parallel)."""
    from dfctl.timeline import SUB_ORCHESTRATION, build

    row = taskhub.instance(instance_id)
    if row is None:
        raise CliError(f"No instance {instance_id} in task hub {taskhub.hub} ({taskhub.target.description}).",
                       errors.NOT_FOUND)
    root = build(instance_id, taskhub.history(instance_id, row.execution_id), row)
    level = [root]
    while depth > 0 and level:
        wanted = list(dict.fromkeys(s.instance_id for t in level for s in t.of_kind(SUB_ORCHESTRATION)
                                    if s.instance_id))
        if not wanted:
            break
        rows = taskhub.instances_by_id(wanted)
        histories = taskhub.histories([(i, rows[i].execution_id if rows[i] else None) for i in wanted])
        next_level = []
        for parent in level:
            for span in parent.of_kind(SUB_ORCHESTRATION):
                child_id = span.instance_id
                if child_id and child_id in histories and child_id not in parent.children:
                    child = build(child_id, histories[child_id], rows.get(child_id))
                    parent.children[child_id] = child
                    next_level.append(child)
        level, depth = next_level, depth - 1
    return row, root


def _inspect_instance(args: argparse.Namespace, taskhub: Any) -> int:
    from dfctl.render import activity_stats, timeline_header, timeline_table
    from dfctl.timeline import to_json

    row, timeline = load_timeline(taskhub, args.instance_id, max(0, args.depth))
    if args.png:
        from dfctl.gantt import render_png

        args.png.parent.mkdir(parents=True, exist_ok=True)
        render_png(timeline, args.png)
    if args.json:
        _print_json(to_json(timeline) | ({"png": str(args.png)} if args.png else {}))
        return errors.OK
    out = _console(args)
    for line in timeline_header(timeline, row):
        out.print(line)
    table, hidden = timeline_table(timeline, args.max_rows)
    out.print(table)
    if hidden:
        out.print(f"… {hidden} more rows (--max-rows 0 shows all)")
    if timeline.all_activities():
        out.print(activity_stats(timeline))
    if args.png:
        out.print(f"timeline picture: {args.png}")
    return errors.OK


# -- entry point ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return errors.USAGE
    try:
        from dfctl.settings import app_dir, load_app_settings

        args.app_folder = app_dir(getattr(args, "app_dir", None))
        load_app_settings(args.app_folder)
        return args.handler(args)
    except CliError as error:
        print(f"dfctl: {error.message}", file=sys.stderr)
        if error.hint:
            print(f"  {error.hint}", file=sys.stderr)
        return error.code
    except KeyboardInterrupt:
        print("dfctl: interrupted", file=sys.stderr)
        return errors.INTERRUPTED
