"""The Python twin of test-cases/echo: the response body is the request body, streamed back
chunk by chunk as it arrives (never buffered whole), the response trailers are the request
trailers, and the request's `content-type` (and `trailer`) headers are copied."""

import wit_world
from componentize_py_async_support import spawn
from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports.wasi_http_types import ErrorCode_InternalError, Fields, Request, Response

CHUNK = 64 * 1024


class Handler(exports.Handler):
    async def handle(self, request: Request) -> Response:
        headers = Fields()
        for name in ("content-type", "trailer"):
            for value in request.get_headers().get(name):
                headers.append(name, value)
        consumed, consumed_rx = wit_world.result_unit_wasi_http_types_error_code_future(
            lambda: Ok(None)
        )
        body_in, trailers_in = Request.consume_body(request, consumed_rx)
        body_out, body_out_rx = wit_world.byte_stream()
        trailers_out, trailers_out_rx = wit_world.result_option_wasi_http_types_fields_wasi_http_types_error_code_future(
            lambda: Ok(None)
        )
        response, _sent = Response.new(headers, body_out_rx, trailers_out_rx)

        async def pump():
            # The body streams on after `handle` has returned the response.
            with body_out:
                while True:
                    chunk = await body_in.read(CHUNK)
                    if not chunk:
                        break
                    await body_out.write_all(chunk)
                    if body_out.reader_dropped:
                        await consumed.write(Err(ErrorCode_InternalError("response body reader gone")))
                        return
            await trailers_out.write(await trailers_in.read())
            await consumed.write(Ok(None))

        spawn(pump())
        return response
