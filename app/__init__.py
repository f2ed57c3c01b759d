"""hookaudit server: ingest, store and query the events recorded by hookshim."""
