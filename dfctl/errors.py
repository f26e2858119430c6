"""Exit codes and the one error type the commands raise.

| code | meaning                                                                              |
|------|--------------------------------------------------------------------------------------|
| 0    | done (for `--wait`/`--watch`: the instance Completed)                                 |
| 1    | the instance waited for ended Failed or Terminated                                    |
| 2    | usage error, or the app / the storage account cannot be reached                      |
| 3    | not found: no such instance, route or task hub                                        |
| 4    | the app refused the request: bad input (400), forbidden (403), conflict (409), gone (410) |
| 5    | not authorized: 401 from the app (key), or storage refused the credential             |
| 6    | timed out waiting (`--timeout`)                                                       |
| 7    | the app or storage answered with a server error (5xx) or something dfctl cannot read |
| 130  | interrupted (Ctrl-C)                                                                  |
"""

from __future__ import annotations

OK = 0
WORKFLOW_FAILED = 1
USAGE = 2
NOT_FOUND = 3
REFUSED = 4
UNAUTHORIZED = 5
TIMEOUT = 6
SERVER_ERROR = 7
INTERRUPTED = 130

EXIT_CODES_HELP = """exit codes:
  0  done (--wait/--watch: the instance Completed)
  1  the instance waited for ended Failed or Terminated
  2  usage error, or the app / storage account cannot be reached
  3  not found: no such instance, route or task hub
  4  refused by the app: bad input 400, forbidden 403, conflict 409, gone 410
  5  not authorized: 401 from the app, or storage refused the credential
  6  timed out waiting (--timeout)
  7  server error (5xx) or an answer dfctl cannot read
"""


class CliError(Exception):
    """A failure to report in one message, with the exit code that scripts see."""

    def __init__(self, message: str, code: int = USAGE, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.hint = hint
