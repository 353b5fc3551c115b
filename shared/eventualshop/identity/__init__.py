"""The Identity context (reference §5.4): users, their emails and their credentials.

The password hash never enters an event: ``UserRegistered`` and ``UserPasswordChanged`` carry a
``credentialId``, a reference to the hash kept in Identity's credential lookup, so the events other
contexts receive (and every read model outside Identity) hold no secret.
"""
