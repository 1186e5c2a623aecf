//! Sans-IO protocol core: typed commands that encode into bytes, the prompt-mode frame
//! decoder, and nom parsers from reply text to typed results. No tokio in here.

pub mod codec;
pub mod command;
pub mod kind;
pub mod lookup;
pub mod parse;
pub mod proc;
pub mod refusal;
pub mod reply;
pub mod server_proto;
pub mod ssl;

pub use codec::{CodecError, PromptCodec};
pub use command::{
    AddServer, AdminState, CaStore, ClientAuth, ClientVerify, Command, CrtListEntry,
    DEFAULT_BUFSIZE, EncodeError, HealthCheck, MapTarget, PemPayload, Weight,
};
pub use kind::CommandKind;
pub use lookup::{MapLookup, MapMatch};
pub use proc::{MasterCommand, ProcEntry, ProcList, Worker};
pub use reply::{Refusal, Reply, ReplyError, normalize, parse_frame, parse_reply};
pub use server_proto::{InvalidTlsName, ServerProtocol, ServerTls, TlsName};
pub use ssl::{CrtListLine, SslCaList, SslCertInfo, SslCertList, SslCertStatus};

#[cfg(test)]
mod ca_fixture_tests;
#[cfg(test)]
mod fixture_tests;
#[cfg(test)]
mod ssl_fixture_tests;
