//! Declares `u32` as the payload of its `stream<string>` writes: never runs, since the host must
//! refuse to link a component whose typed pipe operations disagree on a pipe's payload.

wit_bindgen::generate!({
    path: ["../../protocol/wit", "wit"],
    world: "component:lying-ops/lying-ops",
    generate_all,
});

use component::lying_ops::isyswasfa_ops_lying_ops as ops;
use isyswasfa::pipes::stream_string;

struct Component;

impl Guest for Component {
    fn isyswasfa_poll_lying_ops(_input: Vec<PollInput>) {}

    fn smuggle() -> Vec<String> {
        let (writer, reader) = stream_string::new();
        ops::stream_string_write(&writer, &[1, 2, 3]);
        ops::stream_string_read(&reader, 10).unwrap_or_default()
    }
}

export!(Component);
