"""The Account context (reference §5.1): a customer's profile and addresses.

An account's id is its user's id (``AccountId = UserId``): it is created from Identity's
``UserRegistered`` (R1), activated when the user confirms their email, and its deletion reaches
Identity as ``DeleteUser`` (R7) without any look-up.
"""
