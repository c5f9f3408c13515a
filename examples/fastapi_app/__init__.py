"""A FastAPI app that creates and updates LeadSquared leads through one shared client.

Run it from the repository root with ``uvicorn examples.fastapi_app.app:app``; see
docs/guides/web-apps.md.
"""
