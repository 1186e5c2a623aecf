//! The replies of the TLS certificate commands on 2.6: nom parsers for `show ssl cert` and
//! `show ssl crt-list`, the success messages of `new/set/commit/abort/del ssl cert` and
//! `add/del ssl crt-list`, and the refusals they phrase.
//!
//! Shapes recorded from 2.6.12 (haproxy/tests/fixtures/*ssl*):
//! - `show ssl cert`: `# transaction` (entries prefixed `*`) then `# filename` sections;
//! - `show ssl cert <file>`: `Key: value` lines from `Filename:` and `Status:`;
//! - `show ssl crt-list -n <list>`: `# <list>`, then `<cert>:<line> [<opts>] <sni>...`;
//! - `show ssl ca-file|crl-file`: an optional `# transaction` section (`*<file>`), then
//!   `# filename`, one store a line (`<file> - <n> certificate(s)` for CA files);
//! - progress dots: `Committing <file>` and `Inserting certificate …` print one `.` per
//!   TLS bind they update (none for a certificate no bind uses).
use nom::Parser;

mod ca;
mod cert;
mod crt_list;
mod replies;

pub use ca::{SslCaList, del_ca_message, new_ca_message, set_ca_file, ssl_ca_list};
pub use cert::{SslCertInfo, SslCertList, SslCertStatus, ssl_cert_info, ssl_cert_list};
pub use crt_list::{CrtListLine, crt_list, del_crt_list_message, is_inserted};
pub use replies::{
    abort_message, classify, del_cert_message, is_committed, new_cert_message, set_cert_file,
};

type Err<'a> = nom::error::Error<&'a str>;

/// Runs a parser on `i` with nom's default error type, keeping only success.
fn run<'a, O>(mut p: impl Parser<&'a str, Output = O, Error = Err<'a>>, i: &'a str) -> Option<O> {
    p.parse(i).ok().map(|(_, o)| o)
}
