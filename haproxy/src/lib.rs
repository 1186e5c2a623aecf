//! Everything that speaks HAProxy: the runtime API client and its typed commands and reply
//! parsers, the master CLI (process list, verified reloads), and version capabilities.
//! It knows nothing of Kubernetes.
//!
//! Layers, from the wire up:
//! - [`proto`]: sans-IO; [`proto::Command`] encodes into bytes, [`proto::PromptCodec`] frames
//!   replies, [`proto::parse_reply`] turns each into a typed [`proto::Reply`] or an error that
//!   keeps HAProxy's text;
//! - [`RuntimeClient`]: a persistent prompt-mode session with pipelined batches, timeouts and
//!   reconnect;
//! - [`MasterClient`]: one-shot master CLI exchanges and [`MasterClient::reload`];
//! - [`config`]: the config model, deterministic haproxy.cfg and map rendering, runtime map
//!   updates, `haproxy -c` validation and atomic writes ([`ConfigWriter`]).

/// A validated word (of haproxy.cfg, a map file or a runtime command): a newtype over
/// `String` with `as_str` and `Display` (the invoking module imports `std::fmt`).
macro_rules! word {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

pub mod client;
pub mod config;
pub mod endpoint;
pub mod master;
pub mod names;
pub mod proto;
pub mod reload;
pub mod sorted_map;
pub mod version;

pub use client::{ClientError, Error, RuntimeClient, RuntimeConfig};
pub use config::{Config, ConfigWriter, Rendered, Structure, render, structure};
pub use endpoint::Endpoint;
pub use master::{MasterClient, MasterError, ReloadError, Reloaded, Worker};
pub use names::{
    AclPattern, BackendName, FilePath, FrontendName, InvalidName, MapKey, MapValue, ServerName,
    ServerRef,
};
pub use reload::{ReloadFailure, Reloader};
pub use sorted_map::SortedMap;
pub use version::{Capabilities, Version};
