"""Upward sync (数据上报): every node reports to the node above it; the provincial hall is this same
app with the province as its root.

- `outbox`: reportable changes become events in the transaction that makes the change.
- `protocol`: the wire format, HMAC signatures and the receiver's answer (read this first).
- `sender`: `govhall sync once/run` sends unsent events upward in signed batches.
- `receiver`: `POST /api/sync/v1/batches` stores events once by global id, projects them into the
  province-wide case index and per-place daily counts, and relays them upward when this node has
  an upstream of its own.
- `registry`: the child nodes a receiver accepts, their subtrees and keys.
"""
