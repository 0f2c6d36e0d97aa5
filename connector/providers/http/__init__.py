"""Data providers over HTTP: each provider is a spec (data), one client runs them all.

`spec` says what a provider is (base URL, auth, statuses, costs, pagination,
endpoints); `client` makes the calls, with retries, the cache, the cost
ledger and the circuit breaker; `errors` is what a caller can catch.
"""
