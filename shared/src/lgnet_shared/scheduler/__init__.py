"""`lgnet-scheduler`: the platform's daily work per city (docs/operators.md, "Scheduled work").

One small process calls the services' staff HTTP routes (the housing stalled-match check, payments' voucher expiry,
and any route listed in the jobs file) once a day per city, at a configured local time, with a staff token of that
city. A ledger in its own PostgreSQL schema records every (job, city, day): a day done is never run again, a day
missed while it was down is caught up, and a PostgreSQL advisory lock lets only one replica tick at a time.

- `rules`: the pure rules (which days are due, catch-up, retries), no I/O;
- `ledger`: the ledger in PostgreSQL;
- `runner`: one tick (lock, plan, call, record);
- `main`: the process (settings, the loop, /health and /metrics).
"""
