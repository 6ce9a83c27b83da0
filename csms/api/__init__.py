"""The HTTP API (FastAPI, under `/api/v1`): an edge that parses requests and renders views.

Each module serves one area and calls the services through their interfaces (`ApiContext` in
`deps`); it must not talk OCPP or decide what a service should decide, and nothing below the
edges may import it.
"""
