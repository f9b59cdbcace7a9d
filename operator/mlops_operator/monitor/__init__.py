"""The monitor: records every inference, joins delayed ground-truth labels, serves quality metrics and
exports live data as a training dataset (issue 9).

One module per concept: `cloudevents` (the wire format Seldon's executor logs in), `wal` (durability
before acknowledging), `store` (records and labels, Parquet compaction, retention), `reference`
(training bins of a model version), `feedback` (parsing labels), `export` (dataset snapshots),
`metrics` (Prometheus), `auth` (bearer token), `app` (the HTTP service), `client` (what the operator
calls), `sender` (the embedded splitter's asynchronous logger).
"""
