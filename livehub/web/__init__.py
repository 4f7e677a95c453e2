"""Thin adapters for the outside: the uvicorn websocket protocol, the websocket endpoint, HTTP routes."""
