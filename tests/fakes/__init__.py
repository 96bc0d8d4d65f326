"""Test doubles that run in the pytest process with no network.

`tests.fakes.openai_server` is a local OpenAI-compatible HTTP server (Chat Completions, streaming and not) that the
real `langchain_openai.ChatOpenAI` / `openai` SDK can talk to. See its module docstring for the scripting API.
This package imports nothing heavy (aiohttp only); importing it does not pull in langchain.
"""

from tests.fakes.openai_server import (
    Disconnect,
    Error,
    FakeOpenAI,
    MalformedChunk,
    Slow,
    StreamError,
    StructuredOutput,
    Text,
    ToolCall,
    chat_openai_kwargs,
    start_fake_openai,
)

__all__ = [
    "Disconnect",
    "Error",
    "FakeOpenAI",
    "MalformedChunk",
    "Slow",
    "StreamError",
    "StructuredOutput",
    "Text",
    "ToolCall",
    "chat_openai_kwargs",
    "start_fake_openai",
]
