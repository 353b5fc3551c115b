"""Cross-context reactions and saga steps: CloudEvent functions declared in ``SAGAS``."""
