"""The Functions worker protocol: the host side (`channel`) and the worker front that drives
azure-functions-runtime (`worker_front`), over `FunctionRpc.EventStream` as the Functions host runs it."""
