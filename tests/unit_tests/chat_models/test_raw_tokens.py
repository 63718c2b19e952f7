"""Raw K2.5 output (no server parsers) split into reasoning, answer and tool calls."""

import pytest

from kimi_graph.chat_models._raw_tokens import RawOutputParser, split_raw_output, tool_call_name

TWO_CALLS = (
    "I need the weather and the time."
    "<|tool_calls_section_begin|>"
    "<|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>"
    '{"city": "Beijing"}<|tool_call_end|>'
    "<|tool_call_begin|>functions.get_time:1<|tool_call_argument_begin|>{}<|tool_call_end|>"
    "<|tool_calls_section_end|>"
)


def _feed_in_pieces(text: str, size: int, *, thinking: bool):
    parser = RawOutputParser(thinking=thinking)
    pieces = [parser.feed(text[i : i + size]) for i in range(0, len(text), size)]
    pieces.append(parser.finish())
    reasoning = "".join(p.reasoning for p in pieces)
    content = "".join(p.content for p in pieces)
    calls = [c for p in pieces for c in p.tool_calls]
    return reasoning, content, calls


def test_reasoning_without_opening_tag() -> None:
    piece = split_raw_output("Let me add.\n2+2=4.</think>\n\nThe answer is 4.", thinking=True)
    assert piece.reasoning == "Let me add.\n2+2=4."
    assert piece.content == "The answer is 4."
    assert piece.tool_calls == []


def test_reasoning_with_opening_tag() -> None:
    piece = split_raw_output("<think>plan</think>answer", thinking=True)
    assert (piece.reasoning, piece.content) == ("plan", "answer")


def test_reasoning_ends_at_tool_section_and_calls_parse() -> None:
    piece = split_raw_output(TWO_CALLS, thinking=True)
    assert piece.reasoning == "I need the weather and the time."
    assert piece.content == ""
    assert [(c.id, c.name, c.parsed_args()) for c in piece.tool_calls] == [
        ("functions.get_weather:0", "get_weather", {"city": "Beijing"}),
        ("functions.get_time:1", "get_time", {}),
    ]


def test_whitespace_between_tokens_is_optional() -> None:
    text = (
        "<|tool_calls_section_begin|>\n<|tool_call_begin|> functions.search:0 \n"
        '<|tool_call_argument_begin|> {"q": "x"} \n<|tool_call_end|>\n<|tool_calls_section_end|>'
    )
    piece = split_raw_output(text, thinking=False)
    assert [(c.name, c.parsed_args()) for c in piece.tool_calls] == [("search", {"q": "x"})]


def test_instant_mode_content_is_never_reasoning() -> None:
    piece = split_raw_output("No think tags here.", thinking=False)
    assert (piece.reasoning, piece.content) == ("", "No think tags here.")


def test_thinking_mode_plain_text_stays_content() -> None:
    piece = split_raw_output("A plain answer.", thinking=True)
    assert (piece.reasoning, piece.content) == ("", "A plain answer.")


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 11, 64])
def test_tokens_split_across_chunks(size: int) -> None:
    reasoning, content, calls = _feed_in_pieces(TWO_CALLS + " Done.", size, thinking=True)
    assert reasoning == "I need the weather and the time."
    assert content == " Done."
    assert [c.name for c in calls] == ["get_weather", "get_time"]


@pytest.mark.parametrize("size", [1, 4, 9])
def test_think_close_split_across_chunks(size: int) -> None:
    reasoning, content, _ = _feed_in_pieces("abc</think>xyz", size, thinking=True)
    assert (reasoning, content) == ("abc", "xyz")


def test_reasoning_streams_incrementally_once_known() -> None:
    parser = RawOutputParser(thinking=True)
    assert parser.feed("<think>step one ").reasoning == "step one "
    assert parser.feed("step two").reasoning == "step two"
    assert parser.feed("</think>ok").content == "ok"


def test_server_reasoning_releases_held_text_as_content() -> None:
    parser = RawOutputParser(thinking=True)
    assert not parser.feed("held")
    assert parser.server_parses_reasoning().content == "held"
    assert parser.feed(" more").content == " more"


def test_malformed_arguments_are_kept_verbatim() -> None:
    text = (
        "<|tool_calls_section_begin|><|tool_call_begin|>functions.f:0"
        '<|tool_call_argument_begin|>{"a": <|tool_call_end|><|tool_calls_section_end|>'
    )
    (call,) = split_raw_output(text, thinking=False).tool_calls
    assert call.arguments == '{"a":'
    assert call.parsed_args() is None


def test_unterminated_section_keeps_complete_calls() -> None:
    text = TWO_CALLS.replace("<|tool_calls_section_end|>", "")
    assert [c.name for c in split_raw_output(text, thinking=True).tool_calls] == [
        "get_weather",
        "get_time",
    ]


@pytest.mark.parametrize(
    ("call_id", "name"),
    [("functions.get_weather:0", "get_weather"), ("search:3", "search"), ("plain", "plain")],
)
def test_tool_call_name(call_id: str, name: str) -> None:
    assert tool_call_name(call_id) == name
