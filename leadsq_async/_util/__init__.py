"""Plumbing that knows nothing of LeadSquared: JSON bodies, a signal, an event loop in a thread.

May import: nothing of the package.
"""
