//! Runs echo backends on fixed loopback addresses until killed (used by scripts/quickstart):
//! `echo-server NAME=ADDR [NAME=ADDR …]`.

use std::time::Duration;

use anyhow::Context;
use integration::EchoServer;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut servers = Vec::new();
    for arg in std::env::args().skip(1) {
        let (name, addr) = arg
            .split_once('=')
            .with_context(|| format!("{arg:?} is not NAME=ADDR"))?;
        let server = EchoServer::start_on(name, addr.parse()?, Duration::ZERO)?;
        println!("echo {name} on {}", server.addr());
        servers.push(server);
    }
    anyhow::ensure!(
        !servers.is_empty(),
        "usage: echo-server NAME=ADDR [NAME=ADDR …]"
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
