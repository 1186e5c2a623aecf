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
