//! Sans-IO protocol core: typed commands that encode into bytes, the prompt-mode frame
//! decoder, and nom parsers from reply text to typed results. No tokio in here.

pub mod codec;
pub mod command;
pub mod parse;
pub mod proc;
pub mod reply;

pub use codec::{CodecError, PromptCodec};
pub use command::{
    AddServer, AdminState, Command, DEFAULT_BUFSIZE, EncodeError, HealthCheck, MapTarget,
    PemPayload, Weight,
};
pub use proc::{ProcEntry, ProcList};
pub use reply::{Refusal, Reply, ReplyError, normalize, parse_reply};

#[cfg(test)]
mod fixture_tests;
