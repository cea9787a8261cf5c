"""The witness: a service of its own that cosigns a log's checkpoints (c2sp.org/tlog-witness).

`protocol.py` is the pure part (the add-checkpoint wire format and the checks the spec asks
for), `state.py` the durable record (SQLite, fsync'd before any cosignature leaves), `http.py`
the HTTP adapter, `submit.py` the log's side (a client that submits checkpoints and keeps the
cosignatures). A witness needs no Accord deployment: only its key, its state and the logs'
verifier keys.
"""
