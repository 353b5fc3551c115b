"""Identity's credential functions: the only code that sees a password or mints a token.

Sign-up and change-password hash the password (argon2id) into Identity's credential lookup and
send the aggregate a command that names the credential; sign-in checks a password against it and
signs tokens with Identity's private key; refresh rotates refresh tokens; sign-out revokes them.
"""
