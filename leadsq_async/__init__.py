"""leadsq-async: an asyncio LeadSquared client that batches single-lead calls."""
