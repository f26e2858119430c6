"""dfctl: a command-line tool for the people who run this app (not deployed; see `python -m dfctl --help`)."""
