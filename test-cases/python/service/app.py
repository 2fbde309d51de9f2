"""The Python twin of test-cases/service, the service the middleware tests put behind `middleware`:

- `GET /` → `200`, body `service: hello`;
- `POST /upper` → `200`, the request body with ASCII letters uppercased, streamed back chunk by
  chunk as it arrives; the request's `content-type` is copied;
- `GET /boom` → raises `ValueError` (an uncaught exception: the host answers 500);
- anything else → `404`.
"""

import wit_world
from componentize_py_async_support import spawn
from componentize_py_types import Ok, Err
from wit_world import exports
from wit_world.imports.wasi_http_types import (
    ErrorCode_InternalError,
    Fields,
    Method_Get,
    Method_Post,
    Request,
    Response,
)

CHUNK = 16 * 1024


class Handler(exports.Handler):
    async def handle(self, request: Request) -> Response:
        path = (request.get_path_with_query() or "").split("?")[0]
        method = request.get_method()
        if isinstance(method, Method_Get) and path == "/":
            return fixed(200, b"service: hello")
        if isinstance(method, Method_Post) and path == "/upper":
            return upper(request)
        if isinstance(method, Method_Get) and path == "/boom":
            raise ValueError("boom: the Python service failed on purpose")
        return fixed(404, b"not found")


def trailers_future():
    return wit_world.result_option_wasi_http_types_fields_wasi_http_types_error_code_future(
        lambda: Ok(None)
    )


def fixed(status: int, body: bytes) -> Response:
    """A `text/plain` response with status `status` and body `body`."""
    headers = Fields.from_list([("content-type", b"text/plain")])
    body_tx, body_rx = wit_world.byte_stream()
    trailers_tx, trailers_rx = trailers_future()
    response, _sent = Response.new(headers, body_rx, trailers_rx)
    response.set_status_code(status)

    async def send_body():
        with body_tx:
            await body_tx.write_all(body)
        await trailers_tx.write(Ok(None))

    spawn(send_body())
    return response


def upper(request: Request) -> Response:
    """Streams the request body back uppercased."""
    headers = Fields()
    for value in request.get_headers().get("content-type"):
        headers.append("content-type", value)
    consumed_tx, consumed_rx = wit_world.result_unit_wasi_http_types_error_code_future(
        lambda: Ok(None)
    )
    body_in, _trailers_in = Request.consume_body(request, consumed_rx)
    body_out, body_out_rx = wit_world.byte_stream()
    trailers_tx, trailers_rx = trailers_future()
    response, _sent = Response.new(headers, body_out_rx, trailers_rx)

    async def pump():
        with body_out:
            while True:
                chunk = await body_in.read(CHUNK)
                if not chunk:
                    break
                await body_out.write_all(chunk.upper())
                if body_out.reader_dropped:
                    await consumed_tx.write(
                        Err(ErrorCode_InternalError("response body reader gone"))
                    )
                    return
        await trailers_tx.write(Ok(None))
        await consumed_tx.write(Ok(None))

    spawn(pump())
    return response
