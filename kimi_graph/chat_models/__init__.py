"""`ChatKimi`: the Kimi family (K2.5, K2.6, K2.7 Code, K3, K3.1) as a LangChain chat model.

`base` holds the class (its fields and LangChain's hooks); the private modules beside
it hold what one call needs: the call's plan (`_call_plan`), the platform's request
fields and thinking conflicts, reading responses, the raw-token parser for servers run
without parsers, structured output, content blocks, token usage, the model profile and
the prompt-size check.
"""

from kimi_graph.chat_models._model_not_found import ModelNotFoundError
from kimi_graph.chat_models.base import (
    DEFAULT_BASE_URL,
    DEFAULT_MODEL,
    DEFAULT_SELF_HOSTED_MODEL,
    ChatKimi,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MODEL",
    "DEFAULT_SELF_HOSTED_MODEL",
    "ChatKimi",
    "ModelNotFoundError",
]
