//! Frames replies of a `prompt`-mode session: each reply ends with `\n> `. This is the only
//! framing that holds on 2.6.12, where some replies lack their own final LF.

use bytes::BytesMut;
use thiserror::Error;
use tokio_util::codec::Decoder;

/// The prompt HAProxy prints after each reply in prompt mode.
pub const PROMPT: &[u8] = b"\n> ";

/// Framing errors.
#[derive(Debug, Error)]
pub enum CodecError {
    /// A reply grew past the configured limit without a prompt.
    #[error("reply exceeds {max} bytes without a prompt")]
    FrameTooLong {
        /// The limit.
        max: usize,
    },
    /// The socket failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Splits the byte stream at each prompt. The frame is the reply body as HAProxy printed it
/// (usually ending in one LF, see [`crate::proto::normalize`]).
#[derive(Debug, Clone)]
pub struct PromptCodec {
    max_len: usize,
    /// Where to resume the search for the prompt, so a long reply is scanned once.
    scanned: usize,
}

impl PromptCodec {
    /// A codec that refuses replies longer than `max_len` bytes.
    pub fn new(max_len: usize) -> Self {
        Self {
            max_len,
            scanned: 0,
        }
    }
}

impl Decoder for PromptCodec {
    type Item = BytesMut;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, CodecError> {
        let start = self.scanned.min(src.len()).saturating_sub(PROMPT.len() - 1);
        match src[start..].windows(PROMPT.len()).position(|w| w == PROMPT) {
            Some(pos) => {
                let end = start + pos;
                let frame = src.split_to(end);
                let _ = src.split_to(PROMPT.len());
                self.scanned = 0;
                Ok(Some(frame))
            }
            None => {
                if src.len() > self.max_len {
                    self.scanned = 0;
                    return Err(CodecError::FrameTooLong { max: self.max_len });
                }
                self.scanned = src.len();
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn frames(input: &[u8], chunk: usize) -> Vec<Vec<u8>> {
        let mut codec = PromptCodec::new(1 << 20);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            buf.extend_from_slice(piece);
            while let Some(f) = codec.decode(&mut buf).unwrap() {
                out.push(f.to_vec());
            }
        }
        out
    }

    #[test]
    fn splits_recorded_session() {
        // A12 and B16b of the 2.6.12 transcript, concatenated.
        let input = b"\n> 2.6.12-1+deb12u4\n\n> No such backend.\n> \n> ";
        assert_eq!(
            frames(input, 1000),
            vec![
                b"".to_vec(),
                b"2.6.12-1+deb12u4\n".to_vec(),
                b"No such backend.".to_vec(),
                b"".to_vec(),
            ]
        );
    }

    #[test]
    fn refuses_overlong_reply() {
        let mut codec = PromptCodec::new(8);
        let mut buf = BytesMut::from(&b"0123456789"[..]);
        assert!(codec.decode(&mut buf).is_err());
    }

    proptest! {
        #[test]
        fn partial_reads_give_the_same_frames(
            bodies in proptest::collection::vec("[a-z0-9 \n#]{0,40}", 0..20),
            chunk in 1usize..64,
        ) {
            // Bodies that contain the prompt themselves cannot be framed; leave them out.
            let bodies: Vec<String> = bodies.into_iter().filter(|b| !b.contains("\n> ")).collect();
            let mut input = Vec::new();
            for b in &bodies {
                input.extend_from_slice(b.as_bytes());
                input.extend_from_slice(PROMPT);
            }
            let want: Vec<Vec<u8>> = bodies.iter().map(|b| b.as_bytes().to_vec()).collect();
            prop_assert_eq!(frames(&input, chunk), want);
        }

        #[test]
        fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..512), chunk in 1usize..32) {
            let mut codec = PromptCodec::new(256);
            let mut buf = BytesMut::new();
            for piece in input.chunks(chunk) {
                buf.extend_from_slice(piece);
                loop {
                    match codec.decode(&mut buf) {
                        Ok(Some(_)) => continue,
                        Ok(None) => break,
                        Err(_) => { buf.clear(); break; }
                    }
                }
            }
        }
    }
}
