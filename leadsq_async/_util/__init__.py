"""Plumbing that knows nothing of LeadSquared: JSON bodies, a signal, an event loop in a thread,
the old httpx told apart from httpx2.

May import: nothing of the package.
"""
