"""Composition and infrastructure shared by every function: settings, wiring, HTTP, brokers."""
