//! Benchmark: runtime commands per second through `RuntimeClient` against the raw socket
//! rate, measured side by side in the same run on the same HAProxy.
//!
//! Both sides send the same bytes (pipelined `set server … weight` for every server of a
//! 1,000-server backend, one line per command) on one prompt-mode connection and wait for
//! every reply. The raw side only counts prompts; the client also parses and checks each
//! reply. Both sides open their connection (and enter prompt mode) inside their timer.
//! Trials are pairs that alternate which side goes first; each pair gives one ratio
//! (client rate / raw rate), and the ratios' spread is reported with the medians.
//!
//! Each trial also measures **one connection per command**, the non-interactive mode most
//! tools use (`echo "set server …" | socat`): a connection per command, the command, its
//! reply read to the end of the connection, one command after another.
//!
//! Run: `cargo run --release -p integration --bin bench-runtime [SERVERS] [ROUNDS] [TRIALS] [--json PATH]`
//! (every sample goes to PATH).

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::BytesMut;
use haproxy::proto::{Command, DEFAULT_BUFSIZE, Reply, Weight};
use haproxy::{BackendName, RuntimeClient, ServerName, ServerRef};
use integration::{HaproxyProcess, bench_stats};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

fn arg(n: usize, default: usize) -> anyhow::Result<usize> {
    match std::env::args().nth(n) {
        Some(s) => s
            .parse()
            .with_context(|| format!("argument {n} ({s:?}) is not a number")),
        None => Ok(default),
    }
}

fn round_commands(servers: usize, round: usize) -> anyhow::Result<Vec<Command>> {
    let backend = BackendName::new("be_bench")?;
    (1..=servers)
        .map(|i| {
            let server = ServerRef::new(backend.clone(), ServerName::new(format!("s{i}"))?);
            let weight = Weight::new(1 + ((round + i) % 200) as u32)?;
            Ok(Command::SetServerWeight(server, weight))
        })
        .collect()
}

fn encode(cmds: &[Command]) -> anyhow::Result<BytesMut> {
    let mut buf = BytesMut::new();
    for c in cmds {
        c.encode(DEFAULT_BUFSIZE, &mut buf)?;
    }
    Ok(buf)
}

/// The baseline: write the bytes, count `\n> ` prompts until every reply is in.
async fn raw_rounds(
    path: &std::path::Path,
    rounds: &[BytesMut],
    per_round: usize,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let stream = UnixStream::connect(path).await?;
    let (mut rd, mut wr) = stream.into_split();
    wr.write_all(b"prompt\n").await?;
    let mut buf = vec![0u8; 1 << 16];
    let mut seen = Vec::new();
    while !seen.ends_with(b"\n> ") {
        let n = rd.read(&mut buf).await?;
        if n == 0 {
            bail!("socket closed during prompt");
        }
        seen.extend_from_slice(&buf[..n]);
    }
    for bytes in rounds {
        let write = async { wr.write_all(bytes).await };
        let read = async {
            let mut prompts = 0usize;
            let mut tail = [0u8; 2];
            while prompts < per_round {
                let n = rd.read(&mut buf).await?;
                if n == 0 {
                    bail!("socket closed after {prompts} replies");
                }
                // Count `\n> ` across read boundaries using the last two bytes seen.
                let mut window = Vec::with_capacity(n + 2);
                window.extend_from_slice(&tail);
                window.extend_from_slice(&buf[..n]);
                prompts += window.windows(3).filter(|w| w == b"\n> ").count();
                tail.copy_from_slice(&window[window.len() - 2..]);
            }
            Ok(())
        };
        let (w, r) = tokio::join!(write, read);
        w?;
        r?;
    }
    Ok(started.elapsed())
}

/// The client's side, from a closed session (it connects inside the timer, as raw does).
async fn client_rounds(
    client: &RuntimeClient,
    rounds: &[Vec<Command>],
) -> anyhow::Result<Duration> {
    client.disconnect().await;
    let started = Instant::now();
    for cmds in rounds {
        let replies = client.batch(cmds).await?;
        if let Some((i, r)) = replies
            .iter()
            .enumerate()
            .find(|(_, r)| **r != Ok(Reply::Done))
        {
            bail!("command {i} got {r:?}");
        }
    }
    Ok(started.elapsed())
}

/// One connection per command: connect, write the command, read its reply to the end of
/// the connection (HAProxy closes it after one command outside prompt mode); returns the
/// commands per second.
async fn one_connection_each(path: &std::path::Path, cmds: &[Command]) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut reply = Vec::new();
    for c in cmds {
        let mut stream = UnixStream::connect(path).await?;
        stream.write_all(&encode(std::slice::from_ref(c))?).await?;
        reply.clear();
        stream.read_to_end(&mut reply).await?;
        if !(reply.is_empty() || reply == b"\n") {
            bail!("{c:?} got {:?}", String::from_utf8_lossy(&reply));
        }
    }
    Ok(cmds.len() as f64 / started.elapsed().as_secs_f64())
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// The path after `--json`, if given.
fn json_path() -> Option<std::path::PathBuf> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == "--json")?;
    args.get(i + 1).map(std::path::PathBuf::from)
}

/// Each trial's rates (commands per second): raw and client back to back, alternating which
/// goes first, then one connection per command.
#[derive(Default)]
struct Rates {
    raw: Vec<f64>,
    client: Vec<f64>,
    single: Vec<f64>,
}

/// Runs `trials` trials of `cmd_rounds` (`byte_rounds` encoded) on `hp`'s runtime API,
/// through `client` and raw.
async fn trials_of(
    hp: &HaproxyProcess,
    client: &RuntimeClient,
    cmd_rounds: &[Vec<Command>],
    byte_rounds: &[BytesMut],
    servers: usize,
    trials: usize,
) -> anyhow::Result<Rates> {
    let total = (servers * cmd_rounds.len()) as f64;
    let mut r = Rates::default();
    for trial in 0..trials {
        let client_first = bench_stats::measured_first(trial);
        for client_turn in [client_first, !client_first] {
            if client_turn {
                let t = client_rounds(client, cmd_rounds).await?;
                r.client.push(total / t.as_secs_f64());
            } else {
                let t = raw_rounds(&hp.admin_socket, byte_rounds, servers).await?;
                r.raw.push(total / t.as_secs_f64());
            }
        }
        r.single.push(
            one_connection_each(&hp.admin_socket, &cmd_rounds[trial % cmd_rounds.len()]).await?,
        );
    }
    Ok(r)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let servers = arg(1, 1000)?;
    let rounds = arg(2, 20)?;
    let trials = arg(3, 7)?;
    let body = format!(
        "backend be_bench\n    balance roundrobin\n    server-template s 1-{servers} 127.0.0.1:9 disabled\n"
    );
    let hp = HaproxyProcess::start(&body).await?;
    let version = hp.runtime_client().version().await?;
    let cmd_rounds: Vec<Vec<Command>> = (0..rounds)
        .map(|r| round_commands(servers, r))
        .collect::<anyhow::Result<_>>()?;
    let byte_rounds: Vec<BytesMut> = cmd_rounds
        .iter()
        .map(|c| encode(c))
        .collect::<anyhow::Result<_>>()?;
    let client = hp.runtime_client();
    // Warm up both paths (connection, HAProxy's caches).
    client_rounds(&client, &cmd_rounds[..1]).await?;
    raw_rounds(&hp.admin_socket, &byte_rounds[..1], servers).await?;

    let Rates {
        raw: raw_rates,
        client: client_rates,
        single: single_rates,
    } = trials_of(&hp, &client, &cmd_rounds, &byte_rounds, servers, trials).await?;
    // Rates, not times: client rate / raw rate is raw time / client time, pair by pair.
    let raw_times: Vec<f64> = raw_rates.iter().map(|r| 1.0 / r).collect();
    let client_times: Vec<f64> = client_rates.iter().map(|r| 1.0 / r).collect();
    let ratios = bench_stats::pair_ratios(&client_times, &raw_times);
    let spread = bench_stats::Spread::of(&ratios).context("no trial")?;
    let (raw, cli, single) = (
        median(&raw_rates),
        median(&client_rates),
        median(&single_rates),
    );
    println!(
        "HAProxy {version}; {servers} servers x {rounds} rounds of pipelined `set server … weight`, median of {trials} trials"
    );
    println!("raw socket loop : {raw:>10.0} commands/s");
    println!("RuntimeClient   : {cli:>10.0} commands/s");
    println!("client / raw    : {:>10.1} %", 100.0 * spread.median);
    println!("one connection per command: {single:>10.0} commands/s");
    println!("{}", spread.verdict("client", "raw"));
    if let Some(path) = json_path() {
        let round0 = |v: &[f64]| v.iter().map(|x| x.round()).collect::<Vec<_>>();
        let out = serde_json::json!({
            "haproxy_version": version.to_string(),
            "servers": servers,
            "rounds": rounds,
            "trials": trials,
            "first_in_pair": (0..trials)
                .map(|t| if bench_stats::measured_first(t) { "client" } else { "raw" })
                .collect::<Vec<_>>(),
            "raw_rates": round0(&raw_rates),
            "client_rates": round0(&client_rates),
            "pair_ratios": ratios.iter().map(|r| (r * 10_000.0).round() / 10_000.0).collect::<Vec<_>>(),
            "pair_ratio_spread": spread.json(),
            "verdict": spread.verdict("client", "raw"),
            "one_connection_commands": servers,
            "one_connection_rates": round0(&single_rates),
            "raw": raw.round(),
            "client": cli.round(),
            "one_connection": single.round(),
        });
        std::fs::write(&path, serde_json::to_string_pretty(&out)?)
            .with_context(|| format!("write {}", path.display()))?;
    }
    Ok(())
}
