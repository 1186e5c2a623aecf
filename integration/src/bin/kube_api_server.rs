//! Serves the objects of a manifests directory through the test Kubernetes API server, for
//! trying `haproxy-agent run --kubeconfig` without a cluster (see docs/operations.md):
//! `kube-api-server DIR KUBECONFIG_OUT`. Every *.yaml file in DIR is applied; the directory
//! is rescanned every 200 ms and changed, added or removed objects are applied or deleted,
//! so editing a file shows up as watch events. kubectl works against it too (discovery,
//! tables, apply, patch, delete; objects it writes are left alone by the rescan, which only
//! follows the files). Runs until killed.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use integration::KubeApi;
use serde::Deserialize;
use serde_json::Value;

type Key = (String, String, String);

fn key(v: &Value) -> Option<Key> {
    let kind = v.get("kind")?.as_str()?.to_string();
    let meta = v.get("metadata")?;
    let name = meta.get("name")?.as_str()?.to_string();
    let ns = meta
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or(if kind == "IngressClass" || kind == "GatewayClass" {
            ""
        } else {
            "default"
        })
        .to_string();
    Some((kind, ns, name))
}

fn read(dir: &Path) -> anyhow::Result<BTreeMap<Key, Value>> {
    let mut out = BTreeMap::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    files.sort();
    for f in files {
        let text = std::fs::read_to_string(&f)?;
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let v = Value::deserialize(doc)
                .with_context(|| format!("{} does not parse", f.display()))?;
            if let Some(k) = key(&v) {
                out.insert(k, v);
            }
        }
    }
    Ok(out)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(out)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: kube-api-server MANIFESTS_DIR KUBECONFIG_OUT");
    };
    let api = KubeApi::start().await?;
    api.write_kubeconfig(Path::new(&out))?;
    println!(
        "test API server on {}; kubeconfig written to {out}",
        api.url()
    );
    let mut current: BTreeMap<Key, Value> = BTreeMap::new();
    loop {
        match read(Path::new(&dir)) {
            Ok(next) => {
                for (k, v) in &next {
                    if current.get(k) != Some(v)
                        && let Err(e) = api.apply(v)
                    {
                        eprintln!("cannot apply {k:?}: {e:#}");
                    }
                }
                for k in current.keys().filter(|k| !next.contains_key(*k)) {
                    let _ = api.delete(&k.0, &k.1, &k.2);
                }
                current = next;
            }
            Err(e) => eprintln!("{e:#}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}
