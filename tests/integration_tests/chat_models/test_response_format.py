"""`bind(response_format=<class>)` reaches the server as a JSON schema."""

from __future__ import annotations

import json

from pydantic import BaseModel

from kimi_graph.emulator import Emulator
from tests.integration_tests.conftest import requests_since


class Person(BaseModel):
    name: str
    age: int


def test_bound_pydantic_response_format_is_sent_as_json_schema(kimi, emulator: Emulator) -> None:
    mark = len(emulator.requests)
    answer = (
        kimi("vllm", thinking=False)
        .bind(response_format=Person)
        .invoke('Extract the person: "Ada" is 36 years old.')
    )
    body = requests_since(emulator, mark)[-1].body
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "Person"
    assert set(fmt["json_schema"]["schema"]["properties"]) == {"name", "age"}
    assert Person.model_validate(json.loads(answer.text)).age == 36
