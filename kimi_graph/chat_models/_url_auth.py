"""Credentials written into ``base_url`` (``http://user:pass@host``) leave the URL.

A URL is shown in many places: ``repr(ChatKimi)``, ``model_dump()``,
``langchain_core.load.dumps``, the ``serialized`` model of every callback, httpx's
request log and the OpenAI SDK's exceptions. So when a `ChatKimi` is made, the
user name and password are taken out of ``openai_api_base`` and kept as a
`SecretStr`; the OpenAI clients get the clean URL and an
``Authorization: Basic ...`` header (as the URL asked for: it replaces the bearer
key on that endpoint).
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from pydantic import SecretStr

from kimi_graph._transport.urls import split_credentials

if TYPE_CHECKING:
    from kimi_graph.chat_models.base import ChatKimi

__all__ = ["copy_url_auth", "move_url_credentials"]


def move_url_credentials(model: ChatKimi) -> None:
    """Take ``user:pass@`` out of the model's base URL into a secret auth header.

    Args:
        model: A `ChatKimi` whose clients were just built.
    """
    url, user, password = split_credentials(model.openai_api_base or "")
    if user is None and password is None:
        return
    model.openai_api_base = url
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    model._url_auth = SecretStr(f"Basic {token}")
    _apply(model)


def copy_url_auth(source: ChatKimi, target: ChatKimi) -> None:
    """Give ``target`` (same origin as ``source``) the credentials ``source`` took.

    Args:
        source: The model made with credentials in its URL.
        target: A model derived from it for the same origin.
    """
    secret = source._url_auth
    if secret is not None and target._url_auth is None:
        target._url_auth = secret
        _apply(target)


def _apply(model: ChatKimi) -> None:
    secret = model._url_auth
    if secret is None:
        return
    headers = {"Authorization": secret.get_secret_value()}
    url = model.openai_api_base
    if model.root_client is not None:
        model.root_client = model.root_client.copy(base_url=url, default_headers=headers)
        model.client = model.root_client.chat.completions
    if model.root_async_client is not None:
        model.root_async_client = model.root_async_client.copy(
            base_url=url, default_headers=headers
        )
        model.async_client = model.root_async_client.chat.completions
