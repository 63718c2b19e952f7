"""How ChatKimi's requests reach a server; private to kimi-graph.

- `pools`: one async HTTP pool per event loop and endpoint, closed with the loop;
  the sync client.
- `limited_client`: httpx and aiohttp clients that send every request through the
  endpoint's limiter.
- `abort`: the sync client's transport, which closes a request in flight when its
  abort signal fires; `abort_signal`: that signal (a context variable set by the caller).
- `ratelimit`: one adaptive window per endpoint, shared on 429s by every model,
  thread and event loop.
- `endpoint`: default timeouts, errors that name the endpoint, malformed responses.
- `urls`: base-URL checks, the exact API hosts, credential-free URLs for messages.
- `caps`: bounds on one response (size, duration) and streams that are not streams.
- `openai_compat`: the private langchain-openai helpers this layer relies on, copied.
"""
