"""Fault tests reach PostgreSQL and RabbitMQ through a TCP proxy each test starts and cuts; the
machine's servers are never stopped."""

from __future__ import annotations

from tests.integration.broker.conftest import rabbitmq_url

__all__ = ["rabbitmq_url"]
