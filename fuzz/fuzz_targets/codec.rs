//! The prompt-mode frame decoder on arbitrary bytes cut at arbitrary places: it never
//! panics, and the frames do not depend on where reads were cut.
#![no_main]

use bytes::BytesMut;
use haproxy::proto::PromptCodec;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

fn frames(data: &[u8], chunk: usize) -> Option<Vec<Vec<u8>>> {
    let mut codec = PromptCodec::new(1 << 16);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in data.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(f)) => out.push(f.to_vec()),
                Ok(None) => break,
                Err(_) => return None,
            }
        }
    }
    Some(out)
}

fuzz_target!(|input: (u8, &[u8])| {
    let (chunk, data) = input;
    let whole = frames(data, data.len());
    let cut = frames(data, usize::from(chunk));
    assert_eq!(whole, cut);
});
