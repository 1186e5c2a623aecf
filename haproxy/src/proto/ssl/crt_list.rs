//! `show ssl crt-list` lines, and the replies of `add/del ssl crt-list`.

use nom::bytes::complete::{take_till, take_till1};
use nom::character::complete::char;
use nom::combinator::{all_consuming, opt};
use nom::multi::many0;
use nom::sequence::{delimited, preceded};

use super::run;
use crate::names::{FilePath, SniFilter};
use crate::proto::command::{ClientAuth, CrtListEntry};

/// One line of `show ssl crt-list -n <list>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CrtListLine {
    /// The certificate file.
    pub cert: String,
    /// HAProxy's line number (`<cert>:<n>`, printed with `-n`); lines added at runtime
    /// number on from the last one, and numbers of deleted lines are not reused.
    pub line: Option<u32>,
    /// The bracketed SSL options, as printed but without the NUL 2.6.12 prints after an
    /// `alpn` value (`[alpn h2\0]`).
    pub options: Option<String>,
    /// SNI filters as printed (may hold `!` negations HAProxy accepts from files).
    pub sni: Vec<String>,
}

impl CrtListLine {
    /// The line as an entry the agent would write: `None` when it carries SSL options, or a
    /// path or filter the agent's types refuse.
    pub fn to_entry(&self) -> Option<CrtListEntry> {
        let auth = match &self.options {
            None => None,
            Some(o) => Some(ClientAuth::parse(o)?),
        };
        let cert = FilePath::new(self.cert.as_str()).ok()?;
        let sni = self
            .sni
            .iter()
            .map(|s| SniFilter::new(s.as_str()).ok())
            .collect::<Option<Vec<_>>>()?;
        let entry = CrtListEntry::new(cert, sni).ok()?.with_auth(auth);
        // Only filters HAProxy printed in canonical form compare equal to the agent's.
        (entry.sni.len() == self.sni.len()).then_some(entry)
    }

    /// Formats the line as `show ssl crt-list -n` prints it (without the NUL).
    pub fn to_row(&self) -> String {
        let mut s = self.cert.clone();
        if let Some(n) = self.line {
            s.push_str(&format!(":{n}"));
        }
        if let Some(o) = &self.options {
            s.push_str(&format!(" [{o}]"));
        }
        for f in &self.sni {
            s.push(' ');
            s.push_str(f);
        }
        s
    }
}

fn crt_list_line(line: &str) -> Option<CrtListLine> {
    let word = || take_till1(|c: char| c == ' ' || c == '\n');
    let (cert, options, sni) = run(
        all_consuming((
            word(),
            opt(preceded(
                char(' '),
                delimited(char('['), take_till(|c| c == ']' || c == '\n'), char(']')),
            )),
            many0(preceded(char(' '), word())),
        )),
        line,
    )?;
    let (cert, number) = match cert.rsplit_once(':') {
        Some((c, n)) if !c.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            (c, Some(n.parse().ok()?))
        }
        _ => (cert, None),
    };
    Some(CrtListLine {
        cert: cert.to_string(),
        line: number,
        options: options.map(|o: &str| o.replace('\0', "")),
        sni: sni.into_iter().map(str::to_string).collect(),
    })
}

/// Parses `show ssl crt-list [-n] <list>`: a `# <list>` header, then one line per entry.
pub fn crt_list(text: &str) -> Option<Vec<CrtListLine>> {
    let mut lines = text.split('\n');
    let header = lines.next()?.strip_prefix("# ")?;
    if header.is_empty() {
        return None;
    }
    lines.map(crt_list_line).collect()
}

/// `Inserting certificate '<cert>' in crt-list '<list>'` plus one dot per bind, any
/// warnings, then `Success!`.
pub fn is_inserted(text: &str, list: &str, cert: &str) -> bool {
    let list = list.trim_end_matches('/');
    let Some(first) = text.lines().next() else {
        return false;
    };
    let head = format!("Inserting certificate '{cert}' in crt-list '{list}'");
    text.ends_with("\nSuccess!")
        && first
            .strip_prefix(head.as_str())
            .is_some_and(|dots| dots.bytes().all(|b| b == b'.'))
}

/// `del ssl crt-list` success.
pub fn del_crt_list_message(list: &str, cert: &str) -> String {
    format!(
        "Entry '{cert}' deleted in crtlist '{}'!",
        list.trim_end_matches('/')
    )
}
