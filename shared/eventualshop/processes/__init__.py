"""Processes across bounded contexts: reactions that turn one context's published events into
another context's commands (reference §6). Unlike a context, a process may know the message
contracts of the contexts it joins; it never reaches into their state."""
