"""The agent side: pure domain functions (extraction, generation, coverage) and the LLM run machinery.

Nothing here imports `storage/` or `handlers/`; pure functions take and return plain data.
"""
