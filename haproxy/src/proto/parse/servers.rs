//! Parsers for the server replies: `show servers state`, `show servers conn`, `get weight`
//! and `set server … addr`.

use std::net::IpAddr;

use nom::Parser;
use nom::branch::alt;
use nom::bytes::complete::{is_not, tag, take_till};
use nom::character::complete::{char, u32 as nom_u32};
use nom::combinator::{all_consuming, map, opt, value};
use nom::sequence::{delimited, preceded, separated_pair};

use super::{Res, opt_str, run, words};

/// Column names of `show servers state` format 1, identical from 2.6 to 3.2.
pub const SERVERS_STATE_COLUMNS: [&str; 25] = [
    "be_id",
    "be_name",
    "srv_id",
    "srv_name",
    "srv_addr",
    "srv_op_state",
    "srv_admin_state",
    "srv_uweight",
    "srv_iweight",
    "srv_time_since_last_change",
    "srv_check_status",
    "srv_check_result",
    "srv_check_health",
    "srv_check_state",
    "srv_agent_state",
    "bk_f_forced_id",
    "srv_f_forced_id",
    "srv_fqdn",
    "srv_port",
    "srvrecord",
    "srv_use_ssl",
    "srv_check_port",
    "srv_check_addr",
    "srv_agent_addr",
    "srv_agent_port",
];

/// A server's operational state (`srv_op_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpState {
    /// 0: down.
    Stopped,
    /// 1: coming up (slowstart).
    Starting,
    /// 2: up.
    Running,
    /// 3: going down (soft stop).
    Stopping,
}

impl OpState {
    fn from_code(n: u32) -> Option<Self> {
        Some(match n {
            0 => OpState::Stopped,
            1 => OpState::Starting,
            2 => OpState::Running,
            3 => OpState::Stopping,
            _ => return None,
        })
    }

    /// The numeric code HAProxy prints.
    pub fn code(self) -> u32 {
        match self {
            OpState::Stopped => 0,
            OpState::Starting => 1,
            OpState::Running => 2,
            OpState::Stopping => 3,
        }
    }
}

/// A server's administrative state bits (`srv_admin_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServerAdmin(pub u32);

impl ServerAdmin {
    /// Forced maintenance (`state maint`, and every new dynamic server).
    pub const FORCED_MAINT: u32 = 0x01;
    /// Maintenance inherited from a tracked server.
    pub const INHERITED_MAINT: u32 = 0x02;
    /// The server was `disabled` in the configuration. It comes with [`Self::FORCED_MAINT`],
    /// and stays set after `state ready` or `state drain` clear that: a record of the
    /// configuration, not a maintenance state (HAProxy's `SRV_ADMF_MAINT` mask leaves it
    /// out; on 2.6.12 `show stat` says DRAIN for admin state 12, `no check` for 4).
    pub const CONFIG_MAINT: u32 = 0x04;
    /// Forced drain (`state drain`).
    pub const FORCED_DRAIN: u32 = 0x08;
    /// Drain inherited from a tracked server.
    pub const INHERITED_DRAIN: u32 = 0x10;
    /// Maintenance from DNS resolution.
    pub const RESOLVE_MAINT: u32 = 0x20;

    /// In maintenance, whatever the cause (forced, inherited, DNS; see
    /// [`Self::CONFIG_MAINT`] for why that bit alone is not maintenance).
    pub fn is_maint(self) -> bool {
        self.0 & (Self::FORCED_MAINT | Self::INHERITED_MAINT | Self::RESOLVE_MAINT) != 0
    }

    /// Draining (and not in maintenance).
    pub fn is_drain(self) -> bool {
        !self.is_maint() && self.0 & (Self::FORCED_DRAIN | Self::INHERITED_DRAIN) != 0
    }

    /// Ready: neither maintenance nor drain.
    pub fn is_ready(self) -> bool {
        !self.is_maint() && !self.is_drain()
    }
}

/// One row of `show servers state`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerState {
    /// Backend id.
    pub backend_id: u32,
    /// Backend name.
    pub backend: String,
    /// Server id.
    pub server_id: u32,
    /// Server name.
    pub server: String,
    /// Address; `None` when unresolved (`-`).
    pub addr: Option<IpAddr>,
    /// Operational state.
    pub op_state: OpState,
    /// Administrative state bits.
    pub admin: ServerAdmin,
    /// Current (user) weight.
    pub weight: u32,
    /// Initial weight.
    pub initial_weight: u32,
    /// Seconds since the last state change.
    pub last_change: u64,
    /// Remaining columns from `srv_check_status` to `srv_f_forced_id`, as printed.
    pub check: [i64; 7],
    /// FQDN, when the address came from one.
    pub fqdn: Option<String>,
    /// Port (0 when none).
    pub port: u16,
    /// SRV record.
    pub srvrecord: Option<String>,
    /// `srv_use_ssl`.
    pub use_ssl: i64,
    /// `srv_check_port`.
    pub check_port: i64,
    /// `srv_check_addr`.
    pub check_addr: Option<String>,
    /// `srv_agent_addr`.
    pub agent_addr: Option<String>,
    /// `srv_agent_port`.
    pub agent_port: i64,
}

fn dash(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("-")
}

impl ServerState {
    /// Formats the row exactly as HAProxy prints it (used by tests and the debug tools).
    pub fn to_row(&self) -> String {
        let c = &self.check;
        format!(
            "{} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {}",
            self.backend_id,
            self.backend,
            self.server_id,
            self.server,
            self.addr.map_or("-".to_string(), |a| a.to_string()),
            self.op_state.code(),
            self.admin.0,
            self.weight,
            self.initial_weight,
            self.last_change,
            c[0],
            c[1],
            c[2],
            c[3],
            c[4],
            c[5],
            c[6],
            dash(&self.fqdn),
            self.port,
            dash(&self.srvrecord),
            self.use_ssl,
            self.check_port,
            dash(&self.check_addr),
            dash(&self.agent_addr),
            self.agent_port,
        )
    }
}

fn server_state_row(line: &str) -> Option<ServerState> {
    let (_, f) = all_consuming(words).parse(line).ok()?;
    if f.len() < SERVERS_STATE_COLUMNS.len() {
        return None;
    }
    let num = |i: usize| f[i].parse::<i64>().ok();
    let mut check = [0i64; 7];
    for (k, slot) in check.iter_mut().enumerate() {
        *slot = num(10 + k)?;
    }
    Some(ServerState {
        backend_id: f[0].parse().ok()?,
        backend: f[1].to_string(),
        server_id: f[2].parse().ok()?,
        server: f[3].to_string(),
        addr: match f[4] {
            "-" => None,
            a => Some(a.parse().ok()?),
        },
        op_state: OpState::from_code(f[5].parse().ok()?)?,
        admin: ServerAdmin(f[6].parse().ok()?),
        weight: f[7].parse().ok()?,
        initial_weight: f[8].parse().ok()?,
        last_change: f[9].parse().ok()?,
        check,
        fqdn: opt_str(f[17]),
        port: f[18].parse().ok()?,
        srvrecord: opt_str(f[19]),
        use_ssl: num(20)?,
        check_port: num(21)?,
        check_addr: opt_str(f[22]),
        agent_addr: opt_str(f[23]),
        agent_port: num(24)?,
    })
}

/// `show servers state [<backend>]`: format version 1, a `# ` header naming the columns,
/// then one row per server.
pub fn servers_state(text: &str) -> Option<Vec<ServerState>> {
    ServersStateRows::parse(text).map(|rows| rows.iter().collect())
}

/// The rows of `show servers state`, kept as the text HAProxy printed (every row checked)
/// and parsed one at a time when read: with 100,000 servers a vector of parsed rows held
/// about 40 MB at once, where the text is about 15. Read from the socket, the text is the
/// reply's own bytes ([`ServersStateRows::from_reply`]), not a copy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServersStateRows {
    /// The rows after the header, without a final line feed; empty when there is none.
    /// Valid UTF-8 (checked when parsed).
    body: bytes::Bytes,
}

impl ServersStateRows {
    /// Checks the header and every row of a reply.
    pub fn parse(text: &str) -> Option<Self> {
        let body = Self::checked_body(text)?;
        Some(Self {
            body: bytes::Bytes::copy_from_slice(text[body].as_bytes()),
        })
    }

    /// [`ServersStateRows::parse`] of a reply the caller hands over: the rows keep its bytes.
    pub fn from_reply(reply: bytes::Bytes) -> Option<Self> {
        let body = Self::checked_body(std::str::from_utf8(&reply).ok()?)?;
        Some(Self {
            body: reply.slice(body),
        })
    }

    /// Where the rows are in `text`, when its header and every row check.
    fn checked_body(text: &str) -> Option<std::ops::Range<usize>> {
        let (body, header) = run(preceded(tag("1\n# "), take_till(|c| c == '\n')), text)?;
        let cols: Vec<&str> = header.split(' ').collect();
        if cols.len() < SERVERS_STATE_COLUMNS.len()
            || cols[..SERVERS_STATE_COLUMNS.len()] != SERVERS_STATE_COLUMNS
        {
            return None;
        }
        let rows = match body.strip_prefix('\n') {
            Some(b) => b,
            None if body.is_empty() => return Some(0..0),
            None => return None,
        };
        if !rows.split('\n').all(|l| server_state_row(l).is_some()) {
            return None;
        }
        Some(text.len() - rows.len()..text.len())
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("checked when parsed")
    }

    /// The rows, parsed as they are read.
    pub fn iter(&self) -> impl Iterator<Item = ServerState> + '_ {
        let lines = (!self.body.is_empty()).then(|| self.text().split('\n'));
        lines
            .into_iter()
            .flatten()
            .map(|l| server_state_row(l).expect("checked when parsed"))
    }

    /// How many rows.
    pub fn len(&self) -> usize {
        if self.body.is_empty() {
            0
        } else {
            self.body.iter().filter(|&&b| b == b'\n').count() + 1
        }
    }

    /// True when there is no row.
    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }
}

/// One row of `show servers conn`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServerConn {
    /// Backend name.
    pub backend: String,
    /// Server name.
    pub server: String,
    /// Address as printed.
    pub addr: String,
    /// Port.
    pub port: u16,
    /// Connections in use now.
    pub used_cur: i64,
    /// Most connections in use at once.
    pub used_max: i64,
}

fn server_conn_row(line: &str) -> Option<ServerConn> {
    let (_, f) = all_consuming(words).parse(line).ok()?;
    if f.len() < 8 || f[4] != "-" {
        return None;
    }
    let (backend, server) = f[0].split_once('/')?;
    Some(ServerConn {
        backend: backend.to_string(),
        server: server.to_string(),
        addr: f[2].to_string(),
        port: f[3].parse().ok()?,
        used_cur: f[6].parse().ok()?,
        used_max: f[7].parse().ok()?,
    })
}

/// `show servers conn [<backend>]`.
pub fn servers_conn(text: &str) -> Option<Vec<ServerConn>> {
    let (body, _) = run(
        preceded(tag("# bkname/svname "), take_till(|c| c == '\n')),
        text,
    )?;
    match body.strip_prefix('\n') {
        Some(b) => b.split('\n').map(server_conn_row).collect(),
        None if body.is_empty() => Some(Vec::new()),
        None => None,
    }
}

/// `get weight`: `50 (initial 10)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WeightInfo {
    /// Current weight.
    pub current: u32,
    /// Weight from the configuration or `add server`.
    pub initial: u32,
}

/// Parses `get weight`.
pub fn weight(text: &str) -> Option<WeightInfo> {
    let (_, (current, initial)) = run(
        all_consuming(separated_pair(
            nom_u32,
            tag(" (initial "),
            nom::sequence::terminated(nom_u32, char(')')),
        )),
        text,
    )?;
    Some(WeightInfo { current, initial })
}

/// What `set server … addr` changed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AddrChange {
    /// `(old, new)` address, when it changed.
    pub addr: Option<(String, String)>,
    /// `(old, new)` port, when it changed.
    pub port: Option<(String, String)>,
}

fn quoted(i: &str) -> Res<'_, &str> {
    delimited(
        char('\''),
        map(opt(is_not("'")), Option::unwrap_or_default),
        char('\''),
    )
    .parse(i)
}

fn from_to<'a>(
    what: &'static str,
) -> impl Parser<&'a str, Output = (&'a str, &'a str), Error = nom::error::Error<&'a str>> {
    (preceded(tag(what), quoted), preceded(tag(" to "), quoted))
}

/// Parses the reply to `set server … addr`. Replies that report a problem (an invalid
/// address, a port that did not convert) give `None`.
pub fn addr_change(text: &str) -> Option<AddrChange> {
    let addr_part = alt((
        map(from_to("IP changed from "), Some),
        value(None, tag("no need to change the addr")),
    ));
    let port_part = opt(alt((
        map(preceded(tag(", "), from_to("port changed from ")), Some),
        value(None, tag(", no need to change the port")),
    )));
    let (_, (addr, port, _)) = all_consuming((addr_part, port_part, preceded(tag(" by "), quoted)))
        .parse(text)
        .ok()?;
    let own = |p: Option<(&str, &str)>| p.map(|(a, b)| (a.to_string(), b.to_string()));
    Some(AddrChange {
        addr: own(addr),
        port: own(port.flatten()),
    })
}
