"""The Python twin of test-cases/hash-all: fetches every URL named by a `url` request header, all
at once through `wasi:http/client`, and answers with one line per URL, in the order the fetches
finish, as each finishes:

- `URL: <hex SHA-256 of the response body>`, or
- `URL: error <error code>` when the URL is unusable or the request fails.

Only `http://host[:port][/path][?query]` URLs are fetched. No `url` header at all is a `400`.
"""

import asyncio
import hashlib

import wit_world
from componentize_py_async_support import spawn
from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import client
from wit_world.imports.wasi_http_types import (
    ErrorCode_HttpRequestUriInvalid,
    Fields,
    Method_Get,
    Request,
    Response,
    Scheme_Http,
)

CHUNK = 16 * 1024


def trailers_future():
    return wit_world.result_option_wasi_http_types_fields_wasi_http_types_error_code_future(
        lambda: Ok(None)
    )


class Handler(exports.Handler):
    async def handle(self, request: Request) -> Response:
        urls = [value.decode("utf-8", "replace").strip() for value in request.get_headers().get("url")]
        headers = Fields.from_list([("content-type", b"text/plain")])
        body, body_rx = wit_world.byte_stream()
        trailers, trailers_rx = trailers_future()
        response, _sent = Response.new(headers, body_rx, trailers_rx)
        if not urls:
            response.set_status_code(400)

            async def complain():
                with body:
                    await body.write_all(b"no `url` header\n")

            spawn(complain())
            return response

        async def write_lines():
            with body:
                # All fetches run at once; each line is written as soon as its fetch is done.
                for done in asyncio.as_completed([line_for(url) for url in urls]):
                    await body.write_all((await done).encode())
                    if body.reader_dropped:
                        return
            await trailers.write(Ok(None))

        spawn(write_lines())
        return response


async def line_for(url: str) -> str:
    try:
        return f"{url}: {await fetch_hash(url)}\n"
    except Err as error:
        return f"{url}: error {type(error.value).__name__.removeprefix('ErrorCode_')}\n"


async def fetch_hash(url: str) -> str:
    """GETs `url`; the hex SHA-256 of the response body."""
    parsed = parse_http_url(url)
    if parsed is None:
        raise Err(ErrorCode_HttpRequestUriInvalid())
    authority, path = parsed
    _, no_trailers = trailers_future()
    request, _sent = Request.new(Fields(), None, no_trailers, None)
    request.set_method(Method_Get())
    request.set_scheme(Scheme_Http())
    request.set_authority(authority)
    request.set_path_with_query(path)
    response = await client.send(request)
    consumed, consumed_rx = wit_world.result_unit_wasi_http_types_error_code_future(
        lambda: Ok(None)
    )
    body, trailers = Response.consume_body(response, consumed_rx)
    digest = hashlib.sha256()
    with body:
        while True:
            chunk = await body.read(CHUNK)
            if not chunk:
                break
            digest.update(chunk)
    await consumed.write(Ok(None))
    await trailers.read()
    return digest.hexdigest()


def parse_http_url(url: str):
    """(authority, path with query) of `http://authority[/path][?query][#fragment]`, or None."""
    if url[:7].lower() != "http://":
        return None
    rest = url[7:].split("#")[0]
    end = min([i for i in (rest.find("/"), rest.find("?")) if i >= 0], default=len(rest))
    authority, path = rest[:end], rest[end:]
    if not authority or "@" in authority:
        return None
    return authority, path if path.startswith("/") else "/" + path
