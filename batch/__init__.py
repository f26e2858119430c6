"""Batch processing (fan-out/fan-in): the domain behind BatchProcessing_Client, _Orchestrator, _Chunk and ProcessFile.

    contract   function names, file outcomes and chunking defaults the starter, orchestrators and activities share
    requests   the rules for a batch request (file names, prefix, batch id)
    settings   the workflow's app settings (containers, limits, chunking, retries)
    store      the four blob containers: inputs, outputs, quarantine and reports
    records    reading, converting and validating one input file (CSV or JSON lines)
"""
