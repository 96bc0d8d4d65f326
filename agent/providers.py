"""Model providers: `offline` (default, no network) and `openai` (any OpenAI-compatible server)."""

from __future__ import annotations

from typing import Any


class ProviderError(ValueError):
    """The provider settings cannot work (for example no API key for `openai`)."""


def provider_settings(settings: Any) -> dict[str, Any]:
    """Plain data describing the provider, sent to workers with each run (settings are server config only)."""
    return {
        "kind": settings.llm,
        "model": settings.llm_model,
        "base_url": settings.openai_base_url or None,
        "api_key": settings.openai_api_key,
        "tokens_per_s": settings.offline_tokens_per_s,
        "timeout_s": settings.llm_timeout_s,
        "max_retries": settings.llm_max_retries,
    }


def build_model(provider: dict[str, Any]) -> Any:
    """Build the chat model for a provider description; never builds ChatOpenAI without a key."""
    kind = provider.get("kind", "offline")
    if kind == "offline":
        from agent.offline import OfflineChatModel

        return OfflineChatModel(tokens_per_s=float(provider.get("tokens_per_s", 50.0)))
    if kind == "openai":
        if not provider.get("api_key"):
            raise ProviderError("The openai provider needs OPENAI_API_KEY (any value for a local server).")
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            model=provider.get("model") or "gpt-4o-mini",
            base_url=provider.get("base_url"),
            api_key=provider["api_key"],
            use_responses_api=False,  # plain /v1/chat/completions: what vLLM, llama.cpp and Ollama speak
            stream_usage=True,
            timeout=float(provider.get("timeout_s", 60.0)),
            max_retries=int(provider.get("max_retries", 2)),
        )
    raise ProviderError(f"Unknown model provider {kind!r}.")
