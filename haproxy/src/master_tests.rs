//! The reload poll's backoff on tokio's paused clock, against a master CLI played by the
//! test on a Unix socket (the one thing a real HAProxy will not do on demand: never show
//! the new worker, or show it after a given number of polls).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;
use tokio::time::Instant;

use super::*;

const BEFORE: &str = "#<PID>          <type>          <reloads>       <uptime>        <version>      \n\
6496            master          0 [failed: 0]   0d00h03m28s     2.6.12-1+deb12u4\n# workers\n\
6521            worker          0               0d00h03m28s     2.6.12-1+deb12u4\n# programs\n\n";
const AFTER: &str = "#<PID>          <type>          <reloads>       <uptime>        <version>      \n\
6496            master          1 [failed: 0]   0d00h03m28s     2.6.12-1+deb12u4\n# workers\n\
11032           worker          0               0d00h00m01s     2.6.12-1+deb12u4\n# old workers\n\
6521            worker          1               0d00h03m28s     2.6.12-1+deb12u4\n# programs\n\n";

/// A master CLI that answers `reload` with nothing (as 2.6 does) and `show proc` with
/// [`BEFORE`] until `after_polls` polls followed the reload, then [`AFTER`]. Returns the
/// client and the virtual times (ms since start) of every `show proc`.
fn fake_master(dir: &std::path::Path, after_polls: usize) -> (MasterClient, Arc<Mutex<Vec<u128>>>) {
    let path = dir.join("master.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let polls = Arc::new(Mutex::new(Vec::new()));
    let seen = polls.clone();
    let start = Instant::now();
    tokio::spawn(async move {
        let mut reloaded = false;
        let mut since_reload = 0;
        while let Ok((mut s, _)) = listener.accept().await {
            let mut line = String::new();
            s.read_to_string(&mut line).await.unwrap();
            let reply = match line.trim() {
                "reload" => {
                    reloaded = true;
                    ""
                }
                "show proc" => {
                    seen.lock().unwrap().push(start.elapsed().as_millis());
                    if reloaded {
                        since_reload += 1;
                    }
                    if reloaded && since_reload > after_polls {
                        AFTER
                    } else {
                        BEFORE
                    }
                }
                other => panic!("unexpected command {other:?}"),
            };
            s.write_all(reply.as_bytes()).await.unwrap();
        }
    });
    let client = MasterClient::new(Endpoint::Unix(path), Duration::from_secs(5));
    (client, polls)
}

#[tokio::test(start_paused = true)]
async fn reload_polls_with_doubling_pauses_until_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let (client, polls) = fake_master(dir.path(), usize::MAX);
    let err = client.reload(Duration::from_millis(500)).await.unwrap_err();
    assert!(
        matches!(err, ReloadError::Timeout(d) if d == Duration::from_millis(500)),
        "{err}"
    );
    // The poll before the reload, then polls 5, 10, 20, 40, 80 ms apart, then every 100 ms
    // (the cap), the last one past the deadline.
    assert_eq!(
        *polls.lock().unwrap(),
        [0, 0, 5, 15, 35, 75, 155, 255, 355, 455, 555]
    );
}

#[tokio::test(start_paused = true)]
async fn reload_is_confirmed_at_the_first_poll_showing_the_new_worker() {
    let dir = tempfile::tempdir().unwrap();
    let (client, polls) = fake_master(dir.path(), 3);
    let done = client.reload(Duration::from_secs(30)).await.unwrap();
    assert_eq!((done.old_worker, done.new_worker), (Some(6521), 11032));
    assert_eq!(*polls.lock().unwrap(), [0, 0, 5, 15, 35]);
    assert_eq!(done.took, Duration::from_millis(35));
}
