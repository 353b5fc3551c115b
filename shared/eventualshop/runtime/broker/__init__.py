"""Event transport at the edges: CloudEvents bindings, publishers and Trigger-style delivery.

Modules are imported one by one (``binding``, ``publishers``, ``dispatch``, ``deadletters``):
nothing is re-exported here, so a function that only parses CloudEvents never pays for pika or
SQLAlchemy at cold start.
"""
