//! `ctl plan`: what the agent would do now, without doing it. With `--agent`, the settings
//! (and the objects' source, unless one is given here) are the running agent's, read from
//! its `/debug/config`; a reload is explained by its reason and the structural lines of
//! haproxy.cfg that differ (loaded against desired, as a unified diff).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, CommandFactory, FromArgMatches};
use haproxy::config::{Sections, Structure};
use haproxy::proto::Command;
use haproxy::{RuntimeClient, structure};
use serde_json::{Value, json};

use super::{get_json, print};
use crate::cli::{Cli, ModelArgs, OutputFormat, RenderArgs, RunArgs, SourceArgs};
use crate::reconcile::{self, Desired, Plan, PlanSettings, Scope, StructureView};

/// The source and settings given to `ctl plan` itself.
#[derive(Debug, Clone)]
pub(super) struct OwnArgs {
    /// Where the objects come from.
    pub source: SourceArgs,
    /// The settings.
    pub model: ModelArgs,
}

impl OwnArgs {
    fn has_source(&self) -> bool {
        self.source.manifests.is_some() || self.source.kubeconfig.is_some()
    }
}

/// How the agent was started, as its `/debug/config` tells: its arguments, its
/// `HAPROXY_AGENT_*` environment and its working directory.
struct Invocation {
    args: RunArgs,
    matches: clap::ArgMatches,
    cwd: PathBuf,
}

/// The agent's `run` arguments: its command line, with the environment variables it read
/// added as the flags they stand for (unless the command line had them).
fn agent_invocation(doc: &Value) -> anyhow::Result<Invocation> {
    let bad = || anyhow::anyhow!("the agent's /debug/config has no args, env and cwd");
    let mut argv: Vec<OsString> = vec!["haproxy-agent".into()];
    for a in doc["args"].as_array().ok_or_else(bad)? {
        argv.push(a.as_str().ok_or_else(bad)?.into());
    }
    let env = doc["env"].as_object().ok_or_else(bad)?;
    let cwd = PathBuf::from(doc["cwd"].as_str().ok_or_else(bad)?);
    let cli = Cli::command();
    let run = cli
        .find_subcommand("run")
        .context("no run subcommand")?
        .clone();
    let given: Vec<String> = argv.iter().map(|a| a.to_string_lossy().into()).collect();
    for arg in run.get_arguments() {
        let (Some(name), Some(long)) = (arg.get_env(), arg.get_long()) else {
            continue;
        };
        let Some(value) = env
            .get(name.to_string_lossy().as_ref())
            .and_then(Value::as_str)
        else {
            continue;
        };
        let flag = format!("--{long}");
        if given
            .iter()
            .any(|g| *g == flag || g.starts_with(&format!("{flag}=")))
        {
            continue;
        }
        if arg.get_action().takes_values() {
            argv.push(format!("{flag}={value}").into());
        } else if matches!(value, "true" | "1" | "yes" | "on") {
            argv.push(flag.into());
        }
    }
    let matches = cli
        .try_get_matches_from(&argv)
        .context("cannot read the agent's command line")?;
    let Some(("run", run_matches)) = matches.subcommand() else {
        bail!("the agent at that address is not `haproxy-agent run`");
    };
    let args = RunArgs::from_arg_matches(run_matches)?;
    Ok(Invocation {
        args,
        matches: run_matches.clone(),
        cwd,
    })
}

/// The settings given to this `ctl plan` (on its command line or in the environment) that
/// differ from the agent's.
fn differing_settings(own: &clap::ArgMatches, agent: &clap::ArgMatches) -> Vec<String> {
    let ids = ModelArgs::augment_args(clap::Command::new("model"));
    let mut out = Vec::new();
    for arg in ids.get_arguments() {
        let id = arg.get_id().as_str();
        let explicit = matches!(
            own.value_source(id),
            Some(clap::parser::ValueSource::CommandLine | clap::parser::ValueSource::EnvVariable)
        );
        if !explicit {
            continue;
        }
        let raw = |m: &clap::ArgMatches| -> Vec<String> {
            m.get_raw(id)
                .into_iter()
                .flatten()
                .map(|v| v.to_string_lossy().into_owned())
                .collect()
        };
        let (mine, theirs) = (raw(own), raw(agent));
        if mine != theirs {
            let long = arg.get_long().unwrap_or(id);
            out.push(format!(
                "--{long} is {:?} here but {:?} in the agent; the agent's is used",
                mine.join(","),
                theirs.join(",")
            ));
        }
    }
    out
}

/// This process's `ctl plan` matches (for which settings were given explicitly).
fn own_matches() -> Option<clap::ArgMatches> {
    let m = Cli::command()
        .try_get_matches_from(std::env::args_os())
        .ok()?;
    let ctl = m.subcommand_matches("ctl")?;
    ctl.subcommand_matches("plan").cloned()
}

fn within(dir: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        dir.join(p)
    }
}

/// The source and settings to plan with, and the warnings to print first. `own: None`:
/// the agent's alone.
async fn render_args(
    own: Option<OwnArgs>,
    agent: Option<&str>,
) -> anyhow::Result<(RenderArgs, Vec<String>)> {
    let (own, agent) = match (own, agent) {
        (Some(own), None) => {
            let args = RenderArgs {
                source: own.source,
                model: own.model,
                haproxy_bin: "haproxy".into(),
            };
            return Ok((args, Vec::new()));
        }
        (own, Some(agent)) => (own, agent),
        (None, None) => bail!("nothing to plan with: no settings and no agent"),
    };
    let doc = get_json(agent, "/debug/config").await?;
    let inv = agent_invocation(&doc)?;
    let here = std::env::current_dir()?;
    let source = if let Some(own) = own.as_ref().filter(|o| o.has_source()) {
        let mut s = own.source.clone();
        s.manifests = s.manifests.map(|p| within(&here, &p));
        s.kubeconfig = s.kubeconfig.map(|p| within(&here, &p));
        s
    } else {
        let mut s = inv.args.source.clone();
        s.manifests = s.manifests.map(|p| within(&inv.cwd, &p));
        s.kubeconfig = s.kubeconfig.map(|p| within(&inv.cwd, &p));
        s
    };
    let mut model = inv.args.model.clone();
    model.config_dir = within(&inv.cwd, &model.config_dir);
    model.runtime_socket = within(&inv.cwd, &model.runtime_socket);
    let warnings = match own {
        Some(_) => own_matches()
            .map(|m| differing_settings(&m, &inv.matches))
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let args = RenderArgs {
        source,
        model,
        haproxy_bin: "haproxy".into(),
    };
    Ok((args, warnings))
}

/// The lines of `loaded` and `desired` that differ, as a unified diff.
fn structure_diff(loaded: &str, desired: &str) -> String {
    similar::TextDiff::from_lines(loaded, desired)
        .unified_diff()
        .context_radius(2)
        .header(
            "loaded haproxy.cfg (structure)",
            "desired haproxy.cfg (structure)",
        )
        .to_string()
}

/// What a command acts on: a backend, a map or ACL file, or a certificate.
fn command_group(c: &Command) -> String {
    match c {
        Command::AddServer(a) => format!("backend {}", a.server.backend),
        Command::DelServer(r)
        | Command::SetServerState(r, _)
        | Command::SetServerAddr(r, _)
        | Command::SetServerWeight(r, _)
        | Command::EnableHealth(r)
        | Command::ShutdownSessionsServer(r) => format!("backend {}", r.backend),
        Command::SetMap(f, ..) | Command::DelMap(f, _) | Command::PrepareMap(f) => {
            format!("map {f}")
        }
        Command::CommitMap(f, _) => format!("map {f}"),
        Command::AddMap(t, ..) | Command::AddMapBulk(t, _) | Command::ClearMap(t) => {
            format!("map {}", t.file)
        }
        Command::AddAcl(f, _) | Command::DelAcl(f, _) | Command::ClearAcl(f) => {
            format!("acl {f}")
        }
        other => format!("tls ({})", other.name()),
    }
}

/// What the planner would do now: the objects translated, HAProxy observed, the plan.
pub(super) struct Planned {
    /// The translation.
    pub t: crate::translate::Translation,
    /// What HAProxy has.
    pub observed: reconcile::Observed,
    /// The structure of the haproxy.cfg on disk (what HAProxy loaded), if readable.
    pub loaded: Option<Structure>,
    /// Where that haproxy.cfg is.
    pub cfg_path: PathBuf,
    /// The plan.
    pub plan: Plan,
    /// Settings given here that differ from the agent's.
    pub warnings: Vec<String>,
}

/// Translates, observes and plans, as the agent's next sync would (`own: None`: with the
/// agent's settings and source alone).
pub(super) async fn planned(
    client: &RuntimeClient,
    own: Option<OwnArgs>,
    agent: Option<&str>,
) -> anyhow::Result<Planned> {
    let (args, warnings) = render_args(own, agent).await?;
    let (t, _) = crate::run::translate_for(&args).await?;
    let cfg_path = args.model.config_dir.join("haproxy.cfg");
    let loaded_text = std::fs::read_to_string(&cfg_path).ok();
    let loaded = loaded_text.as_deref().map(Structure::of_rendered);
    let loaded_sections = loaded_text.as_deref().map(Sections::of_rendered);
    let observed = crate::apply::observe(client, &t.config, loaded.as_ref()).await?;
    let desired_sections = Sections::of_config(&t.config);
    let plan = reconcile::plan_scoped(
        Desired::from(&t),
        StructureView {
            loaded: loaded_sections.as_ref(),
            desired: &desired_sections,
        },
        &observed,
        &Scope::all(),
        &BTreeMap::new(),
        Instant::now(),
        PlanSettings {
            drain_timeout: Duration::from_secs(30),
        },
    );
    Ok(Planned {
        t,
        observed,
        loaded,
        cfg_path,
        plan,
        warnings,
    })
}

pub(super) async fn plan(
    client: &RuntimeClient,
    own: OwnArgs,
    agent: Option<&str>,
    out: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let Planned {
        t,
        loaded,
        cfg_path,
        plan: p,
        warnings,
        ..
    } = planned(client, Some(own), agent).await?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let (doc, text) = match &p {
        Plan::Reload(reason) => {
            let diff = match &loaded {
                Some(l) => structure_diff(l.as_str(), structure(&t.config).as_str()),
                None => format!(
                    "{} cannot be read: what HAProxy loaded is unknown\n",
                    cfg_path.display()
                ),
            };
            (
                json!({ "reload": reason, "reason": reason.label(), "diff": diff, "warnings": warnings }),
                format!("reload because {reason}\n{diff}"),
            )
        }
        Plan::Runtime(r) => runtime_report(r, &warnings),
    };
    print(out, &doc, &text);
    Ok(ExitCode::SUCCESS)
}

fn runtime_report(r: &reconcile::RuntimePlan, warnings: &[String]) -> (Value, String) {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in &r.commands {
        groups
            .entry(command_group(c))
            .or_default()
            .push(crate::history::command_line(c));
    }
    let mut text = String::new();
    for kind in &r.swaps {
        let _ = writeln!(text, "swap the whole {kind:?} map (prepare + commit)");
    }
    for (g, cmds) in &groups {
        let _ = writeln!(text, "{g}:");
        for c in cmds {
            let _ = writeln!(text, "  {c}");
        }
    }
    if r.is_converged() {
        text.push_str("nothing to do: HAProxy is in step\n");
    }
    let doc = json!({
        "runtime": groups,
        "swaps": r.swaps.iter().map(|k| format!("{k:?}")).collect::<Vec<_>>(),
        "converged": r.is_converged(),
        "warnings": warnings,
    });
    (doc, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structure_diffs_show_the_lines_that_differ() {
        let d = structure_diff("a\nb\nc\n", "a\nb\nbackend x\nc\n");
        assert!(d.contains("+backend x\n"), "{d}");
        assert!(d.starts_with("--- loaded haproxy.cfg"), "{d}");
        assert_eq!(structure_diff("a\n", "a\n"), "");
    }

    #[test]
    fn the_agents_environment_becomes_flags() {
        let doc = json!({
            "args": ["run", "--manifests", "m", "--http-bind", "127.0.0.1:8080"],
            "env": {"HAPROXY_AGENT_CONFIG_DIR": "/cfg", "HAPROXY_AGENT_HTTP_BIND": "127.0.0.1:1"},
            "cwd": "/work",
        });
        let inv = agent_invocation(&doc).unwrap();
        assert_eq!(inv.args.model.config_dir, PathBuf::from("/cfg"));
        // The command line wins over the environment, as in the agent.
        assert_eq!(inv.args.model.http_bind.to_string(), "127.0.0.1:8080");
        assert_eq!(inv.args.source.manifests, Some(PathBuf::from("m")));
        assert_eq!(inv.cwd, PathBuf::from("/work"));
        assert!(agent_invocation(&json!({"nope": 1})).is_err());
    }

    #[test]
    fn explicit_settings_that_differ_are_named() {
        let plan_matches = |argv: &[&str]| {
            let m = Cli::command().try_get_matches_from(argv).unwrap();
            m.subcommand_matches("ctl")
                .unwrap()
                .subcommand_matches("plan")
                .unwrap()
                .clone()
        };
        let agent = Cli::command()
            .try_get_matches_from([
                "a",
                "run",
                "--manifests",
                "m",
                "--http-bind",
                "127.0.0.1:8080",
            ])
            .unwrap();
        let agent = agent.subcommand_matches("run").unwrap();
        let same = plan_matches(&["a", "ctl", "plan", "--http-bind", "127.0.0.1:8080"]);
        assert!(differing_settings(&same, agent).is_empty());
        let defaults = plan_matches(&["a", "ctl", "plan"]);
        assert!(differing_settings(&defaults, agent).is_empty());
        let other = plan_matches(&["a", "ctl", "plan", "--http-bind", "0.0.0.0:80"]);
        let w = differing_settings(&other, agent);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("--http-bind"), "{w:?}");
    }
}
