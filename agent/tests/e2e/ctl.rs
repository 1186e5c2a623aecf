//! `haproxy-agent ctl`: raw commands to HAProxy's runtime and master sockets.

use std::process::Command;

use integration::HaproxyProcess;

fn agent() -> Command {
    Command::new(env!("CARGO_BIN_EXE_haproxy-agent"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_raw_prints_the_runtime_reply_verbatim() {
    let hp = HaproxyProcess::start("backend be\n    balance roundrobin\n")
        .await
        .unwrap();
    let version = hp.runtime_client().version().await.unwrap();
    let out = agent()
        .args(["ctl", "--runtime-socket"])
        .arg(&hp.admin_socket)
        .args(["raw", "show version"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    // Verbatim: the version line and the empty line HAProxy ends every reply with.
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{}\n\n", version.raw)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_raw_talks_to_the_master_cli() {
    let hp = HaproxyProcess::start("backend be\n    balance roundrobin\n")
        .await
        .unwrap();
    let out = agent()
        .args(["ctl", "--master-socket"])
        .arg(&hp.master_socket)
        .args(["raw", "show proc"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("#<PID>"), "{text}");
    assert!(text.contains(&format!("{}", hp.pid())), "{text}");
}

#[test]
fn ctl_raw_fails_clearly_when_the_socket_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("admin.sock");
    let out = agent()
        .args(["ctl", "--runtime-socket"])
        .arg(&missing)
        .args(["raw", "show version"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("cannot talk to HAProxy's runtime socket"),
        "{err}"
    );
    assert!(err.contains(missing.to_str().unwrap()), "{err}");
}

pub(crate) mod against_an_agent {
    //! `ctl servers`, `maps`, `diff` and `plan` against a running agent and its HAProxy.

    use std::process::Command;

    use haproxy::BackendName;
    use haproxy::proto::Weight;
    use integration::EchoServer;
    use serde_json::Value;

    use crate::support::{Agent, Ep, IngressPath, Options, backend, ingress, service, slice};

    const HOST: &str = "ctl.test";

    /// The JSON document `ctl --output json` printed (stdout comes first, logs after it).
    pub(crate) fn json(text: &str) -> Value {
        serde_json::Deserializer::from_str(text)
            .into_iter::<Value>()
            .next()
            .and_then(Result::ok)
            .unwrap_or_else(|| panic!("no JSON: {text}"))
    }

    pub(crate) fn ctl(agent: &Agent, args: &[&str]) -> (i32, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_haproxy-agent"))
            .arg("ctl")
            .arg("--runtime-socket")
            .arg(&agent.runtime_socket)
            .arg("--agent")
            .arg(format!("http://{}", agent.listen))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stdout).unwrap() + &String::from_utf8_lossy(&out.stderr),
        )
    }

    fn files(port: u16, ips: &[&str]) -> Vec<(String, String)> {
        let eps: Vec<Ep<'_>> = ips.iter().map(|ip| Ep::ready(ip)).collect();
        vec![
            (
                "web.yaml".into(),
                [service("web", 80, port), slice("web-1", "web", port, &eps)].join("---\n"),
            ),
            (
                "site.yaml".into(),
                ingress(
                    "site",
                    &[],
                    &[IngressPath {
                        host: Some(HOST),
                        path: "/shop",
                        service: "web",
                        port: 80,
                    }],
                ),
            ),
        ]
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn servers_maps_diff_and_plan() {
        let web = EchoServer::start("web").unwrap();
        let port = web.addr().port();
        let initial = files(port, &["127.0.0.1"]);
        let refs: Vec<(&str, &str)> = initial
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let agent = Agent::start(&refs, Options::default()).await.unwrap();
        let be = backend("web", 80);
        let server = format!("127.0.0.1:{port}");

        // servers: one row per server, with its state; JSON for scripts.
        let (code, text) = ctl(&agent, &["servers"]);
        assert_eq!(code, 0, "{text}");
        let row = text
            .lines()
            .find(|l| l.starts_with(&be))
            .unwrap_or_else(|| panic!("{text}"));
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(
            cols,
            vec![
                be.as_str(),
                server.as_str(),
                server.as_str(),
                "ready",
                "UP",
                "1",
                "0"
            ]
        );
        let (code, json) = ctl(&agent, &["--output", "json", "servers", &be]);
        assert_eq!(code, 0, "{json}");
        let rows: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(rows[0]["server"], server.as_str());
        assert_eq!(rows[0]["admin"], "ready");

        // maps: host+path -> backend, as the exact and prefix maps hold them.
        let (code, text) = ctl(&agent, &["maps"]);
        assert_eq!(code, 0, "{text}");
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>()
                    == ["exact", "ctl.test/shop", "->", be.as_str()]),
            "{text}"
        );
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>()
                    == ["prefix", "ctl.test/shop/", "->", be.as_str()]),
            "{text}"
        );

        // diff: equal, then a weight changed behind the agent's back is found.
        let (code, text) = ctl(&agent, &["diff"]);
        assert_eq!(code, 0, "{text}");
        let r = haproxy::ServerRef::new(
            BackendName::new(be.clone()).unwrap(),
            haproxy::ServerName::new(server.clone()).unwrap(),
        );
        agent
            .runtime_client()
            .send(haproxy::proto::Command::SetServerWeight(
                r,
                Weight::new(9).unwrap(),
            ))
            .await
            .unwrap();
        let (code, text) = ctl(&agent, &["diff"]);
        assert_eq!(code, 1, "{text}");
        assert!(
            text.contains(&format!("different server {be}/{server}")),
            "{text}"
        );
        let (code, json) = ctl(&agent, &["--output", "json", "diff"]);
        assert_eq!(code, 1);
        let doc: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
        assert_eq!(doc["equal"], false);
        assert_eq!(doc["differences"][0]["live"]["weight"], 9);
        // ...and so is a pattern added to an address-list ACL file.
        let state = agent.debug_state().await.unwrap();
        let allow = state["desired"]["map_files"]["allow"].as_str().unwrap();
        agent
            .runtime_client()
            .send(haproxy::proto::Command::AddAcl(
                haproxy::FilePath::new(allow).unwrap(),
                haproxy::AclPattern::new("foreign|x").unwrap(),
            ))
            .await
            .unwrap();
        let (code, text) = ctl(&agent, &["diff"]);
        assert_eq!(code, 1, "{text}");
        assert!(text.contains("extra acl pattern allow foreign|x"), "{text}");
        // maps lists the address lists' patterns too.
        let (code, text) = ctl(&agent, &["maps"]);
        assert_eq!(code, 0, "{text}");
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["allow", "foreign|x"]),
            "{text}"
        );

        // plan: what the agent would do for another set of objects, without doing it.
        let other = tempfile::tempdir().unwrap();
        for (name, text) in files(port, &["127.0.0.1", "127.0.0.2"]) {
            std::fs::write(other.path().join(name), text).unwrap();
        }
        let http = agent.http.to_string();
        let config_dir = agent.config_dir.to_string_lossy().into_owned();
        let runtime_socket = agent.runtime_socket.to_string_lossy().into_owned();
        let (code, text) = ctl(
            &agent,
            &[
                "plan",
                "--manifests",
                other.path().to_str().unwrap(),
                "--config-dir",
                &config_dir,
                "--runtime-socket",
                &runtime_socket,
                "--http-bind",
                &http,
                "--hard-stop-after",
                "3s",
            ],
        );
        assert_eq!(code, 0, "{text}");
        assert!(
            text.contains(&format!(
                "add server {be}/127.0.0.2:{port} 127.0.0.2:{port}"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!("set server {be}/{server} weight 1")),
            "{text}"
        );
        // Nothing was done: HAProxy still has one server.
        assert_eq!(agent.servers(&be).await.unwrap().len(), 1);
    }
}

#[test]
fn json_logs_are_one_object_per_line() {
    let out = agent()
        .args(["--log-format", "json", "render", "--manifests"])
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/quickstart"
        ))
        .args(["--config-dir", "/nonexistent/haproxy-agent-render"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(!lines.is_empty());
    for line in lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        assert!(v["level"].is_string() && v["message"].is_string(), "{line}");
    }
    // render prints the config on stdout and changes nothing.
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("frontend http")
    );
    assert!(!std::path::Path::new("/nonexistent/haproxy-agent-render").exists());
}
