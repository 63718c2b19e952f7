"""ChatKimi in thinking and instant mode: invoke, stream, tools, structured output.

Runs offline on the bundled K2.5 emulator unless KIMI_BASE_URL is set:

    python examples/quickstart.py
    KIMI_BASE_URL=http://localhost:8000/v1 python examples/quickstart.py   # your vLLM
"""

import os

from langchain_core.tools import tool
from pydantic import BaseModel, Field

from kimi_graph import ChatKimi
from kimi_graph.emulator import Emulator, EmulatorConfig

emu = None
base_url = os.environ.get("KIMI_BASE_URL")
if not base_url:
    emu = Emulator(EmulatorConfig()).start()
    base_url = emu.base_url("moonshot")
# On the emulator, speak Moonshot's dialect; on a real endpoint, KIMI_BACKEND or detection.
backend = "moonshot" if emu else None
llm = ChatKimi(base_url=base_url, backend=backend)

# 1. Thinking mode (the default): the chain of thought comes back next to the answer.
msg = llm.invoke("What is 2+3*4?")
print("reasoning:", msg.additional_kwargs["reasoning_content"])
print("answer:   ", msg.content)
print("blocks:   ", [block["type"] for block in msg.content_blocks])

# 2. Instant mode, the same weights with thinking off: per call, bound, or per instance.
fast = llm.invoke("What is 2+3*4?", thinking=False)
print("instant:  ", fast.content, "| reasoning:", fast.additional_kwargs.get("reasoning_content"))
print("bound:    ", llm.bind(thinking=False).invoke("What is 7*6?").content)
instant_llm = ChatKimi(base_url=base_url, backend=backend, thinking=False)

# 3. Streaming: reasoning chunks arrive before answer chunks.
print("stream:    ", end="")
for chunk in llm.stream("In one sentence, what is LangGraph?"):
    if chunk.additional_kwargs.get("reasoning_content"):
        print(".", end="", flush=True)  # one dot per reasoning chunk
    print(chunk.content, end="", flush=True)
print()


# 4. Tool calling: the model asks, you run the tool.
@tool
def get_weather(city: str) -> str:
    """Return the current weather in a city."""
    return f"Sunny and 22 C in {city}."


ai = llm.bind_tools([get_weather]).invoke('Call get_weather for "Paris".')
print("tool calls:", [(call["name"], call["args"]) for call in ai.tool_calls])


# 5. Structured output (a pydantic class), in thinking and in instant mode.
class Person(BaseModel):
    """A person mentioned in the text."""

    name: str = Field(description="The person's name.")
    age: int = Field(description="Age in years.")


text = 'Extract the person: "Ada" is 36 years old.'
print("structured:", llm.with_structured_output(Person).invoke(text))
print("structured:", instant_llm.with_structured_output(Person).invoke(text))

if emu is not None:
    emu.stop()
