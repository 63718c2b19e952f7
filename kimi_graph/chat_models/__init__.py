"""`ChatKimi`: Kimi K2.5 and the K2 family as a LangChain chat model.

`base` holds the class (its fields and LangChain's hooks); the private modules beside
it hold what one call needs: the platform's request fields and thinking conflicts,
reading responses, the raw-token parser for servers run without parsers, structured
output, content blocks, token usage and the prompt-size check.
"""

from kimi_graph.chat_models.base import DEFAULT_BASE_URL, DEFAULT_MODEL, ChatKimi

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_MODEL", "ChatKimi"]
