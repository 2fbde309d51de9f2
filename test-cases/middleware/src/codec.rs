//! Streaming `deflate` content coding (zlib, RFC 1950) over `flate2`'s pure-Rust backend: each
//! chunk in gives the output it makes possible at once, so bodies stream through.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// Room added to the output buffer when it is (nearly) full.
const GROW: usize = 4096;

/// One direction of the coding.
pub enum Coder {
    /// Decodes a zlib stream; `ended` once its end has been seen.
    Inflate { state: Decompress, ended: bool },
    /// Encodes into a zlib stream.
    Deflate(Compress),
}

impl Coder {
    pub fn inflate() -> Self {
        Coder::Inflate {
            state: Decompress::new(true),
            ended: false,
        }
    }

    pub fn deflate() -> Self {
        Coder::Deflate(Compress::new(Compression::default(), true))
    }

    /// Codes `input`, the next chunk of the body; returns all the output it makes possible now
    /// (when encoding, a sync flush makes the output decodable up to the end of `input`).
    pub fn chunk(&mut self, input: &[u8]) -> Result<Vec<u8>, String> {
        if input.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Coder::Inflate { ended: true, .. } => {
                Err("data after the end of the deflate stream".into())
            }
            Coder::Inflate { state, ended } => {
                let (status, out) = run(input, |input, out| {
                    let (before_in, before_out) = (state.total_in(), state.total_out());
                    let status = state
                        .decompress_vec(input, out, FlushDecompress::None)
                        .map_err(|e| format!("invalid deflate data: {e}"))?;
                    Ok(Step {
                        status,
                        consumed: state.total_in() - before_in,
                        produced: state.total_out() - before_out,
                    })
                })?;
                *ended = status == Status::StreamEnd;
                Ok(out)
            }
            Coder::Deflate(state) => {
                let (_, out) = run(input, |input, out| {
                    let (before_in, before_out) = (state.total_in(), state.total_out());
                    let status = state
                        .compress_vec(input, out, FlushCompress::Sync)
                        .map_err(|e| format!("deflate: {e}"))?;
                    Ok(Step {
                        status,
                        consumed: state.total_in() - before_in,
                        produced: state.total_out() - before_out,
                    })
                })?;
                Ok(out)
            }
        }
    }

    /// The body has ended: returns the rest of the output, or an error when the input was not a
    /// whole zlib stream.
    pub fn finish(&mut self) -> Result<Vec<u8>, String> {
        match self {
            Coder::Inflate { ended: true, .. } => Ok(Vec::new()),
            Coder::Inflate { .. } => Err("the deflate data ends early".into()),
            Coder::Deflate(state) => {
                let (status, out) = run(&[], |input, out| {
                    let before_out = state.total_out();
                    let status = state
                        .compress_vec(input, out, FlushCompress::Finish)
                        .map_err(|e| format!("deflate: {e}"))?;
                    Ok(Step {
                        status,
                        consumed: 0,
                        produced: state.total_out() - before_out,
                    })
                })?;
                match status {
                    Status::StreamEnd => Ok(out),
                    _ => Err("deflate: the stream did not end".into()),
                }
            }
        }
    }
}

/// What one call of a coder did.
struct Step {
    status: Status,
    consumed: u64,
    produced: u64,
}

/// Calls `step` (one call of the coder: input, output buffer) on what is left of `input`,
/// growing the output buffer, until the stream ends, or all input is used and the coder stopped
/// short of filling the buffer (so it holds no more output). Returns the last status and the
/// output.
fn run(
    mut input: &[u8],
    mut step: impl FnMut(&[u8], &mut Vec<u8>) -> Result<Step, String>,
) -> Result<(Status, Vec<u8>), String> {
    let mut out = Vec::with_capacity(input.len() + GROW);
    loop {
        if out.capacity() - out.len() < GROW / 4 {
            out.reserve(GROW.max(out.capacity()));
        }
        let Step {
            status,
            consumed,
            produced,
        } = step(input, &mut out)?;
        // `consumed` never exceeds what was given; `min` keeps a slicing panic impossible.
        let consumed = usize::try_from(consumed).map_or(input.len(), |n| n.min(input.len()));
        input = &input[consumed..];
        let buffer_full = out.len() == out.capacity();
        if status == Status::StreamEnd || (input.is_empty() && !buffer_full) {
            return Ok((status, out));
        }
        if consumed == 0 && produced == 0 && !buffer_full {
            // There was room and input, yet nothing moved.
            return Err("the deflate coder made no progress".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Coder;

    fn round_trip(data: &[u8], chunk: usize) {
        let mut deflate = Coder::deflate();
        let mut encoded = Vec::new();
        for piece in data.chunks(chunk) {
            encoded.extend(deflate.chunk(piece).unwrap());
        }
        encoded.extend(deflate.finish().unwrap());
        let mut inflate = Coder::inflate();
        let mut decoded = Vec::new();
        for piece in encoded.chunks(chunk) {
            decoded.extend(inflate.chunk(piece).unwrap());
        }
        decoded.extend(inflate.finish().unwrap());
        assert_eq!(decoded, data);
    }

    #[test]
    fn round_trips() {
        let text: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        round_trip(b"one byte at a time", 1);
        for chunk in [7, 1000, 65536, 1 << 20] {
            round_trip(&text, chunk);
            round_trip(b"", chunk);
            // Compresses about 1000 to 1: one small chunk in, a megabyte out.
            round_trip(&[0; 1 << 20], chunk);
        }
    }

    #[test]
    fn each_chunk_decodes_at_once() {
        let mut deflate = Coder::deflate();
        let mut inflate = Coder::inflate();
        for piece in [&b"hello "[..], b"streaming ", b"world"] {
            let encoded = deflate.chunk(piece).unwrap();
            assert_eq!(inflate.chunk(&encoded).unwrap(), piece);
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(Coder::inflate().chunk(b"not zlib at all").is_err());
        let mut deflate = Coder::deflate();
        let encoded = deflate.chunk(b"some text").unwrap();
        let mut inflate = Coder::inflate();
        inflate.chunk(&encoded).unwrap();
        assert!(inflate.finish().is_err(), "truncated stream");
    }
}
