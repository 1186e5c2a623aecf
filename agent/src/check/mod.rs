//! `haproxy-agent check`: what the agent would make of every Ingress's annotations, before a
//! cluster moves off ingress-nginx: per annotation its status, what it becomes in HAProxy
//! and whether changing it reloads.

use std::fmt::Write as _;
use std::process::ExitCode;

use serde::Serialize;

use crate::cli::{CheckArgs, OutputFormat};
use crate::store::Snapshot;
use crate::translate::annotations::{self, Status, catalog};
use crate::translate::class;

/// One annotation of one Ingress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// The whole key.
    pub key: String,
    /// Its value.
    pub value: String,
    /// `honoured`, `differs`, `invalid`, `shadowed`, `unsupported` or `refused`.
    pub status: &'static str,
    /// Why, or the difference (absent when plainly honoured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// What it becomes in HAProxy (when acted on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub becomes: Option<&'static str>,
    /// Whether changing it reloads (when acted on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reloads: Option<&'static str>,
}

/// One Ingress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IngressReport {
    /// `namespace/name`.
    pub ingress: String,
    /// Its class (`spec.ingressClassName`, else the legacy annotation), if any.
    pub class: Option<String>,
    /// Whether this agent's class serves it as it is.
    pub served: bool,
    /// Its annotations under a recognised prefix.
    pub annotations: Vec<Row>,
}

/// Counts over every Ingress.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Ingresses read.
    pub ingresses: usize,
    /// Annotations under a recognised prefix.
    pub annotations: usize,
    /// Honoured as ingress-nginx means them.
    pub honoured: usize,
    /// Honoured with a named difference.
    pub differs: usize,
    /// Values that cannot be used.
    pub invalid: usize,
    /// Set under two prefixes with different values; the weaker one is not read.
    pub shadowed: usize,
    /// Recognised, not done.
    pub unsupported: usize,
    /// Never rendered on purpose (snippets).
    pub refused: usize,
}

impl Summary {
    /// Whether anything would not behave as it does under ingress-nginx (`--strict`).
    pub fn has_gaps(&self) -> bool {
        self.invalid + self.shadowed + self.unsupported + self.refused > 0
    }
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The class this agent serves.
    pub ingress_class: String,
    /// Every Ingress, by namespace and name.
    pub ingresses: Vec<IngressReport>,
    /// Counts.
    pub summary: Summary,
}

/// Checks every Ingress of `snapshot` (of any class: the ones still on ingress-nginx are
/// the point), for an agent serving `ingress_class`.
pub fn report(snapshot: &Snapshot, ingress_class: &str) -> Report {
    let mut summary = Summary::default();
    let mut ingresses = Vec::new();
    for (key, ing) in snapshot.ingresses.iter() {
        let parsed = annotations::parse(ing.metadata.annotations.as_ref());
        let mut rows = Vec::new();
        for v in parsed.verdicts {
            let entry = catalog::split(&v.key).and_then(|(_, name)| catalog::entry(name));
            let acted_on = matches!(v.status, Status::Honoured | Status::Differs(_));
            let counter = match &v.status {
                Status::Honoured => &mut summary.honoured,
                Status::Differs(_) => &mut summary.differs,
                Status::Invalid(_) => &mut summary.invalid,
                Status::Shadowed(_) => &mut summary.shadowed,
                Status::Unsupported(_) => &mut summary.unsupported,
                Status::Refused(_) => &mut summary.refused,
            };
            *counter += 1;
            summary.annotations += 1;
            rows.push(Row {
                status: v.status.label(),
                detail: v.status.detail().map(str::to_string),
                becomes: entry.filter(|_| acted_on).map(|e| e.becomes),
                reloads: entry.filter(|_| acted_on).map(|e| e.reloads),
                key: v.key,
                value: v.value,
            });
        }
        let class = class::class_of(ing).map(str::to_string);
        summary.ingresses += 1;
        ingresses.push(IngressReport {
            ingress: key.to_string(),
            class,
            served: class::is_ours(ing, &snapshot.ingress_classes, ingress_class),
            annotations: rows,
        });
    }
    Report {
        ingress_class: ingress_class.to_string(),
        ingresses,
        summary,
    }
}

/// The report for people: one block per Ingress, one line per annotation, then the counts.
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    for ing in &report.ingresses {
        let class = match (&ing.class, ing.served) {
            (_, true) => format!("served (class {})", report.ingress_class),
            (Some(c), false) => format!(
                "class {c:?}: not served until its class is {:?}",
                report.ingress_class
            ),
            (None, false) => format!(
                "no class: not served until its class is {:?}",
                report.ingress_class
            ),
        };
        let _ = writeln!(out, "{}  {class}", ing.ingress);
        if ing.annotations.is_empty() {
            let _ = writeln!(out, "  (no ingress-nginx or haproxy-agent annotations)");
        }
        for row in &ing.annotations {
            let _ = writeln!(out, "  {} = {:?}", row.key, row.value);
            let mut line = format!("    {}", row.status);
            if let Some(d) = &row.detail {
                let _ = write!(line, ": {d}");
            }
            let _ = writeln!(out, "{line}");
            if let Some(b) = row.becomes {
                let _ = writeln!(out, "    becomes: {b}");
            }
            if let Some(r) = row.reloads {
                let _ = writeln!(out, "    a change reloads: {r}");
            }
        }
    }
    let s = &report.summary;
    let _ = writeln!(
        out,
        "\n{} Ingresses, {} annotations: {} honoured, {} honoured with a difference, {} invalid, \
         {} shadowed, {} unsupported, {} refused",
        s.ingresses,
        s.annotations,
        s.honoured,
        s.differs,
        s.invalid,
        s.shadowed,
        s.unsupported,
        s.refused
    );
    out
}

/// `haproxy-agent check`: prints the report; exit 1 with `--strict` when anything is not
/// honoured (invalid, shadowed, unsupported or refused).
pub async fn check_command(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let (snapshot, source_problems) = crate::run::load_once(&args.render).await?;
    let report = report(&snapshot, &args.render.model.ingress_class);
    match args.output {
        OutputFormat::Text => {
            print!("{}", text(&report));
            for p in &source_problems {
                eprintln!("problem: {p}");
            }
        }
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(if args.strict && report.summary.has_gaps() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests;
