//! Reads and writes a `stream<u32>` with the typed operations of a `stream<string>`, which its ops
//! interface declares to take `stream-u32` ends. wasmtime's handle type checks pass (the types
//! are what the component declared); the host's payload check (a pipe is bound to the one
//! interface that made it) must refuse it.

wit_bindgen::generate!({
    path: ["../../protocol/wit", "wit"],
    world: "component:hostile-pipes/hostile-pipes",
    generate_all,
});

use component::hostile_pipes::isyswasfa_ops_hostile_pipes as ops;
use isyswasfa::pipes::stream_u32;

struct Component;

impl Guest for Component {
    fn isyswasfa_poll_hostile_pipes(_input: Vec<PollInput>) {
        // Nothing here waits: the poller of the first event is dropped with the input.
    }

    fn honest() -> Vec<u32> {
        let (writer, reader) = stream_u32::new();
        let rejected = ops::stream_u32_write(&writer, &[1, 2, 3]);
        assert!(rejected.is_empty(), "room for three values");
        ops::stream_u32_read(&reader, 10).unwrap_or_default()
    }

    fn cross(which: String) -> String {
        let (writer, reader) = stream_u32::new();
        match which.as_str() {
            "read" => {
                ops::stream_u32_write(&writer, &[1, 2, 3]);
                format!("read {:?}", ops::stream_string_read(&reader, 10))
            }
            "write" => {
                let rejected = ops::stream_string_write(&writer, &["not a u32".to_string()]);
                format!("wrote, {} rejected", rejected.len())
            }
            "http-trailers" => {
                use isyswasfa::pipes::future_result_none_wasi_http_types_error_code as result;
                use wasi::http::types::{Fields, Response};
                let (_writer, reader) = result::new();
                let (_response, _sent) = Response::new(Fields::new(), None, reader);
                "made a response".to_string()
            }
            other => panic!("hostile-pipes: no attack `{other}`"),
        }
    }
}

export!(Component);
