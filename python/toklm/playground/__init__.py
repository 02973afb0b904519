"""The playground: a local web page that shows how tokenizers split text (`toklm playground`).

`app.py` is the web app (Starlette, from the ``toklm[web]`` extra) and `server.py` runs it on
uvicorn. The rest needs no web libraries and also serves `toklm.show` in notebooks and terminals:
`tokens.py` (ids, bytes, offsets), `pieces.py` (how a token is drawn), `render.py` (the HTML),
`catalog.py` (which tokenizers can be chosen) and `premium.py` (cost and token premium).
"""

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_MAX_CHARS = 1_000_000
