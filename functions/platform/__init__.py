"""Platform jobs: the outbox sweep and the dead-letter sink (not sagas: they know no domain)."""
