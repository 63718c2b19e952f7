"""kimi-graph: Moonshot's Kimi K2.5 in its four modes as LangGraph graphs."""

from kimi_graph._version import __version__
from kimi_graph.chat_models import ChatKimi

__all__ = ["ChatKimi", "__version__"]
