//! nom parsers for the data replies of the runtime API, on normalized reply text (no prompt,
//! one trailing LF removed). Each returns `None` when the text is not of the expected shape;
//! the caller turns that into an error carrying the raw text.
//!
//! By reply family: [`servers`] (`show servers state|conn`, `get weight`, `set server
//! addr`), [`stats`] (`show info|stat|backend`), [`maps`] (`show map|acl`, `prepare map`).

mod maps;
mod servers;
mod stats;

use nom::bytes::complete::take_till1;
use nom::character::complete::char;
use nom::multi::separated_list1;
use nom::{IResult, Parser};

pub use maps::{AclEntry, MapEntry, MapInfo, acl_entries, map_entries, map_list, map_version};
pub use servers::{
    AddrChange, OpState, SERVERS_STATE_COLUMNS, ServerAdmin, ServerConn, ServerState,
    ServersStateRows, WeightInfo, addr_change, servers_conn, servers_state, weight,
};
pub use stats::{InfoField, StatRow, backends, info, stat_csv};

type Res<'a, T> = IResult<&'a str, T>;

/// Runs a parser on `i` with nom's default error type, keeping only success.
pub(super) fn run<'a, O>(
    mut p: impl Parser<&'a str, Output = O, Error = nom::error::Error<&'a str>>,
    i: &'a str,
) -> Option<(&'a str, O)> {
    p.parse(i).ok()
}

/// One word: everything up to a space or LF.
pub(super) fn word(i: &str) -> Res<'_, &str> {
    take_till1(|c: char| c == ' ' || c == '\n').parse(i)
}

/// Words separated by single spaces, up to the end of the line.
pub(super) fn words(i: &str) -> Res<'_, Vec<&str>> {
    separated_list1(char(' '), word).parse(i)
}

pub(super) fn opt_str(s: &str) -> Option<String> {
    (s != "-").then(|| s.to_string())
}
