//! The agent's recent syncs in a bounded ring, for `/debug/history` and `ctl history`.
//!
//! Recording is on the path to HAProxy's ack, so it stays cheap: a record holds at most
//! [`MAX_OBJECTS`] object names and [`MAX_COMMANDS`] command lines (and counts the rest),
//! built from what the loop and the applier already have; no state is cloned.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use haproxy::proto::{Command, ReplyError};
use serde::{Deserialize, Serialize};

use crate::reconcile::ReloadReason;

/// How many syncs the ring keeps.
pub const HISTORY_LEN: usize = 256;
/// How many changed objects a record names (the others are counted).
pub const MAX_OBJECTS: usize = 64;
/// How many commands a record lists (the others are counted).
pub const MAX_COMMANDS: usize = 128;
/// How many problems a record names in each direction.
pub const MAX_PROBLEMS: usize = 32;

/// What became of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// HAProxy answered as expected.
    Ok,
    /// HAProxy refused it and said why.
    Refused,
    /// The reply had an unexpected shape.
    Unexpected,
    /// No reply: the connection failed.
    Failed,
}

/// One runtime command of a sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentCommand {
    /// The command's stable name (`set server addr`, `add map`, …).
    pub name: String,
    /// The command line (payloads left out: certificates never appear here).
    pub line: String,
    /// Its outcome.
    pub outcome: Outcome,
    /// HAProxy's words when it refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
}

/// One reload of a sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadRecord {
    /// The reason's label (`new_backend`, `frontends`, …).
    pub reason: String,
    /// The reason in words (naming the backend when there is one).
    pub detail: String,
    /// How long the reload took, verified, in milliseconds.
    pub took_ms: u64,
    /// False when the reload failed (HAProxy kept its last good config).
    pub ok: bool,
}

/// What the applier did during one sync: filled as commands go out, taken by the loop.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Journal {
    /// The first [`MAX_COMMANDS`] commands.
    pub commands: Vec<SentCommand>,
    /// Commands sent beyond those.
    pub commands_omitted: usize,
    /// Reloads, in order.
    pub reloads: Vec<ReloadRecord>,
}

/// A command's line for people: the text HAProxy got, without payload lines.
pub fn command_line(c: &Command) -> String {
    match c {
        Command::SetSslCert(file, _) => format!("set ssl cert {file} <<"),
        Command::AddMapBulk(target, entries) => {
            let first = Command::ShowMap(target.clone())
                .to_text()
                .unwrap_or_default()
                .replacen("show map", "add map", 1);
            format!("{first} << ({} entries)", entries.len())
        }
        other => match other.to_text() {
            Ok(t) => t.lines().next().unwrap_or_default().to_string(),
            Err(e) => format!("{} <{e}>", other.name()),
        },
    }
}

impl Journal {
    /// Notes a command and its reply (`None`: the connection failed before a reply).
    pub fn command<T>(&mut self, c: &Command, reply: Option<&Result<T, ReplyError>>) {
        if self.commands.len() >= MAX_COMMANDS {
            self.commands_omitted += 1;
            return;
        }
        let (outcome, text) = match reply {
            Some(Ok(_)) => (Outcome::Ok, None),
            Some(Err(ReplyError::Refused { message, .. })) => {
                (Outcome::Refused, Some(message.clone()))
            }
            Some(Err(ReplyError::Unexpected { raw, .. })) => {
                (Outcome::Unexpected, Some(raw.chars().take(200).collect()))
            }
            None => (Outcome::Failed, None),
        };
        self.commands.push(SentCommand {
            name: c.name().to_string(),
            line: command_line(c),
            outcome,
            reply: text,
        });
    }

    /// Notes a reload.
    pub fn reload(&mut self, reason: &ReloadReason, took: Duration, ok: bool) {
        self.reloads.push(ReloadRecord {
            reason: reason.label().to_string(),
            detail: reason.to_string(),
            took_ms: took.as_millis() as u64,
            ok,
        });
    }
}

/// One sync.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRecord {
    /// When it started, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The store generation it brought HAProxy to.
    pub generation: u64,
    /// The objects that changed since the previous sync (`Kind ns/name`), at most
    /// [`MAX_OBJECTS`].
    pub objects: Vec<String>,
    /// Changed objects not named.
    pub objects_omitted: usize,
    /// Everything was looked at (start-up, a resync, after a failure, or more changes than
    /// the store remembers).
    pub everything: bool,
    /// Runtime commands sent, with their outcome.
    pub commands: Vec<SentCommand>,
    /// Commands sent and not listed.
    pub commands_omitted: usize,
    /// Reloads, with reasons and durations.
    pub reloads: Vec<ReloadRecord>,
    /// Problems that appeared with this sync.
    pub problems_appeared: Vec<String>,
    /// Problems that were resolved.
    pub problems_resolved: Vec<String>,
    /// Why the sync failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl SyncRecord {
    /// A record of a sync starting now.
    pub fn starting(generation: u64) -> Self {
        Self {
            at_ms: unix_ms(SystemTime::now()),
            generation,
            ..Self::default()
        }
    }

    /// Names the objects that changed in `snapshot` after `since` (a store id and one of its
    /// generations, from the previous sync); everything when there is none or the store's
    /// log does not reach back so far.
    pub fn note_changes(&mut self, snapshot: &crate::store::Snapshot, since: Option<(u64, u64)>) {
        let recent = since
            .filter(|(store, _)| *store == snapshot.store_id())
            .and_then(|(_, g)| snapshot.recent_changes(g, MAX_OBJECTS));
        match recent {
            Some((kept, all)) => {
                self.objects = kept
                    .into_iter()
                    .map(|(kind, key)| format!("{kind} {key}"))
                    .collect();
                self.objects_omitted = all - self.objects.len();
            }
            None => self.everything = true,
        }
    }

    /// Adds what the applier noted.
    pub fn with_journal(mut self, j: Journal) -> Self {
        self.commands = j.commands;
        self.commands_omitted = j.commands_omitted;
        self.reloads = j.reloads;
        self
    }

    /// True when the sync did or found something worth keeping (a periodic resync that sent
    /// nothing is not).
    pub fn is_eventful(&self) -> bool {
        !self.objects.is_empty()
            || self.objects_omitted > 0
            || !self.commands.is_empty()
            || !self.reloads.is_empty()
            || !self.problems_appeared.is_empty()
            || !self.problems_resolved.is_empty()
            || self.error.is_some()
    }

    /// True when the record names object `ns/name` (changed, or in a problem).
    pub fn mentions(&self, object: &str) -> bool {
        let named = |s: &String| s.rsplit(' ').next() == Some(object);
        let in_problem = |s: &String| {
            s.match_indices(object).any(|(i, _)| {
                let before = s[..i].ends_with(' ');
                let after = s[i + object.len()..]
                    .chars()
                    .next()
                    .is_none_or(|c| c == ' ' || c == ':');
                before && after
            })
        };
        self.objects.iter().any(named)
            || self.problems_appeared.iter().any(in_problem)
            || self.problems_resolved.iter().any(in_problem)
    }
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Keeps the first `max` of `items` as strings, returning them and how many were left out.
pub fn capped<T: std::fmt::Display>(
    items: impl IntoIterator<Item = T>,
    max: usize,
) -> (Vec<String>, usize) {
    let mut kept = Vec::new();
    let mut omitted = 0;
    for i in items {
        if kept.len() < max {
            kept.push(i.to_string());
        } else {
            omitted += 1;
        }
    }
    (kept, omitted)
}

/// The ring.
#[derive(Debug)]
pub struct History {
    ring: VecDeque<SyncRecord>,
    cap: usize,
}

impl Default for History {
    fn default() -> Self {
        Self::with_capacity(HISTORY_LEN)
    }
}

impl History {
    /// A ring keeping the last `cap` records.
    pub fn with_capacity(cap: usize) -> Self {
        Self {
            ring: VecDeque::with_capacity(cap.min(HISTORY_LEN)),
            cap: cap.max(1),
        }
    }

    /// Adds a record, dropping the oldest when full.
    pub fn push(&mut self, record: SyncRecord) {
        if self.ring.len() == self.cap {
            self.ring.pop_front();
        }
        self.ring.push_back(record);
    }

    /// The records, oldest first.
    pub fn records(&self) -> impl Iterator<Item = &SyncRecord> {
        self.ring.iter()
    }
}

/// Which records `ctl history` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only records at or after this time (ms since the epoch).
    pub since_ms: Option<u64>,
    /// Only records mentioning this object (`ns/name`).
    pub object: Option<String>,
}

impl Filter {
    /// True when `r` passes.
    pub fn admits(&self, r: &SyncRecord) -> bool {
        self.since_ms.is_none_or(|t| r.at_ms >= t)
            && self.object.as_deref().is_none_or(|o| r.mentions(o))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use haproxy::{BackendName, ServerName, ServerRef};

    fn record(at_ms: u64, objects: &[&str]) -> SyncRecord {
        SyncRecord {
            at_ms,
            objects: objects.iter().map(|s| s.to_string()).collect(),
            ..SyncRecord::default()
        }
    }

    #[test]
    fn the_ring_keeps_the_last_records() {
        let mut h = History::with_capacity(3);
        for i in 0..5 {
            h.push(record(i, &[]));
        }
        let at: Vec<u64> = h.records().map(|r| r.at_ms).collect();
        assert_eq!(at, [2, 3, 4]);
    }

    #[test]
    fn filters_by_time_and_object() {
        let problem = |s: &str| SyncRecord {
            at_ms: 50,
            problems_resolved: vec![s.to_string()],
            ..SyncRecord::default()
        };
        let cases: [(Filter, SyncRecord, bool); 8] = [
            (Filter::default(), record(1, &[]), true),
            (
                Filter {
                    since_ms: Some(10),
                    object: None,
                },
                record(9, &[]),
                false,
            ),
            (
                Filter {
                    since_ms: Some(10),
                    object: None,
                },
                record(10, &[]),
                true,
            ),
            (
                Filter {
                    since_ms: None,
                    object: Some("ns/web".into()),
                },
                record(1, &["Service ns/web"]),
                true,
            ),
            (
                Filter {
                    since_ms: None,
                    object: Some("ns/web".into()),
                },
                record(1, &["Service ns/web2", "Ingress other/web"]),
                false,
            ),
            (
                Filter {
                    since_ms: None,
                    object: Some("ns/web".into()),
                },
                problem("Ingress ns/web field spec: bad"),
                true,
            ),
            (
                Filter {
                    since_ms: None,
                    object: Some("ns/web".into()),
                },
                problem("Ingress ns/web-2: bad"),
                false,
            ),
            (
                Filter {
                    since_ms: Some(60),
                    object: Some("ns/web".into()),
                },
                problem("Ingress ns/web: bad"),
                false,
            ),
        ];
        for (filter, r, want) in cases {
            assert_eq!(filter.admits(&r), want, "{filter:?} on {r:?}");
        }
    }

    #[test]
    fn the_journal_lists_commands_with_outcomes_and_caps_them() {
        let srv = ServerRef::new(
            BackendName::new("ns_web_80").unwrap(),
            ServerName::new("s1").unwrap(),
        );
        let cmd = Command::SetServerWeight(srv, haproxy::proto::Weight::new(5).unwrap());
        let mut j = Journal::default();
        j.command::<()>(&cmd, Some(&Ok(())));
        j.command::<()>(
            &cmd,
            Some(&Err(ReplyError::Refused {
                command: "set server weight",
                kind: haproxy::proto::Refusal::NoSuchServer,
                message: "No such server.".into(),
            })),
        );
        j.command::<()>(&cmd, None);
        let outcomes: Vec<Outcome> = j.commands.iter().map(|c| c.outcome).collect();
        assert_eq!(outcomes, [Outcome::Ok, Outcome::Refused, Outcome::Failed]);
        assert_eq!(j.commands[0].line, "set server ns_web_80/s1 weight 5");
        assert_eq!(j.commands[1].reply.as_deref(), Some("No such server."));
        for _ in 0..MAX_COMMANDS {
            j.command::<()>(&cmd, Some(&Ok(())));
        }
        assert_eq!(j.commands.len(), MAX_COMMANDS);
        assert_eq!(j.commands_omitted, 3);
    }

    #[test]
    fn certificate_payloads_never_reach_the_record() {
        let file = haproxy::FilePath::new("/etc/haproxy/certs/a.pem").unwrap();
        let pem = haproxy::proto::PemPayload::new(
            "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let line = command_line(&Command::SetSslCert(file, pem));
        assert_eq!(line, "set ssl cert /etc/haproxy/certs/a.pem <<");
    }

    #[test]
    fn capped_counts_what_it_leaves_out() {
        assert_eq!(capped(1..=5, 2), (vec!["1".into(), "2".into()], 3));
        assert_eq!(capped(1..=2, 5), (vec!["1".into(), "2".into()], 0));
    }

    #[test]
    fn quiet_resyncs_are_not_eventful() {
        assert!(!SyncRecord::starting(3).is_eventful());
        assert!(record(1, &["Service ns/web"]).is_eventful());
        let failed = SyncRecord {
            error: Some("haproxy runtime API: closed".into()),
            ..SyncRecord::default()
        };
        assert!(failed.is_eventful());
    }
}
