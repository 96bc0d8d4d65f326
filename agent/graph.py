"""The agent graph: StateGraph(MessagesState) with the model and a ToolNode, compiled once per worker and model."""

from __future__ import annotations

from typing import Any

SYSTEM_PROMPT = (
    "You are chatsvc's QA assistant. You help a team work with the versioned requirement documents of "
    "their project: list, search and explain requirements, generate test cases, run coverage analysis "
    "and summarise artifacts. Use the tools to read real data; never invent requirement ids or numbers. "
    "Starting test generation or coverage analysis creates a background task: say so and give its id. "
    "Answer in concise Markdown."
)
RECURSION_LIMIT = 12


def build_graph(model: Any, tools: list[Any]) -> Any:
    """Compile agent -> tools -> agent until the model stops calling tools."""
    from langchain_core.messages import SystemMessage
    from langgraph.graph import START, MessagesState, StateGraph
    from langgraph.prebuilt import ToolNode, tools_condition

    llm = model.bind_tools(tools)

    async def agent(state: MessagesState) -> dict[str, Any]:
        reply = await llm.ainvoke([SystemMessage(SYSTEM_PROMPT), *state["messages"]])
        return {"messages": [reply]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode(tools, handle_tool_errors=True))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "agent")
    return builder.compile()


def to_messages(history: list[dict[str, str]]) -> list[Any]:
    """Turn our stored chat history (role, content) into langchain messages."""
    from langchain_core.messages import AIMessage, HumanMessage

    out: list[Any] = []
    for item in history:
        if item["role"] == "user":
            out.append(HumanMessage(item["content"]))
        elif item["role"] == "assistant" and item["content"]:
            out.append(AIMessage(item["content"]))
    return out
