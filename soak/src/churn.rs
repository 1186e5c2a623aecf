//! Where the soak's objects are written (manifest files, or the test API server) and the
//! background churn that keeps changing them.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use haproxy_agent::store::{Object, with_type_meta};
use integration::KubeApi;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::objects::{NS, to_yaml, write_atomic};
use crate::world::{Change, Rng, World, svc_name};

/// Where objects are written.
#[derive(Debug, Clone)]
pub enum Sink {
    /// A manifests directory: `services.yaml` (Services and the Ingresses), `canary.yaml`,
    /// `tls.yaml` (the TLS Secret), `slice-NN.yaml` (removed when the slice is deleted).
    /// Written atomically.
    Files(PathBuf),
    /// The test API server.
    Api(Arc<KubeApi>),
}

impl Sink {
    /// Writes every object.
    pub fn write_all(&self, world: &World) -> anyhow::Result<()> {
        match self {
            Sink::Files(dir) => {
                write_atomic(
                    &dir.join("services.yaml"),
                    &to_yaml(&world.static_objects())?,
                )?;
            }
            Sink::Api(api) => {
                for o in world.static_objects() {
                    apply(api, o)?;
                }
            }
        }
        self.write(world, Change::Canary)?;
        self.write(world, Change::Cert)?;
        for i in 0..world.services {
            self.write(world, Change::Slice(i))?;
        }
        Ok(())
    }

    /// Writes what `change` changed.
    pub fn write(&self, world: &World, change: Change) -> anyhow::Result<()> {
        match (self, change) {
            (Sink::Files(dir), Change::Canary) => write_atomic(
                &dir.join("canary.yaml"),
                &to_yaml(&[world.canary_object()])?,
            ),
            (Sink::Files(dir), Change::Slice(i)) => {
                let path = dir.join(format!("slice-{i:02}.yaml"));
                match world.slice_object(i) {
                    Some(o) => write_atomic(&path, &to_yaml(&[o])?),
                    None => match std::fs::remove_file(&path) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                            Err(e).with_context(|| format!("remove {}", path.display()))
                        }
                        _ => Ok(()),
                    },
                }
            }
            (Sink::Files(dir), Change::Cert) => {
                write_atomic(&dir.join("tls.yaml"), &to_yaml(&[world.secret_object()])?)
            }
            (Sink::Api(api), Change::Canary) => apply(api, world.canary_object()),
            (Sink::Api(api), Change::Cert) => apply(api, world.secret_object()),
            (Sink::Api(api), Change::Slice(i)) => match world.slice_object(i) {
                Some(o) => apply(api, o),
                None => {
                    api.delete("EndpointSlice", NS, &format!("{}-1", svc_name(i)))?;
                    Ok(())
                }
            },
        }
    }
}

fn apply(api: &KubeApi, o: Object) -> anyhow::Result<()> {
    match o {
        Object::Service(x) => api.apply_typed(&x),
        Object::EndpointSlice(x) => api.apply_typed(&x),
        Object::Ingress(x) => api.apply_typed(&x),
        Object::IngressClass(x) => api.apply_typed(&x),
        Object::Secret(x) => api.apply_typed(&x),
        Object::ConfigMap(x) => api.apply_typed(&x),
        Object::GatewayClass(x) => api.apply(with_type_meta(&x)),
        Object::Gateway(x) => api.apply(with_type_meta(&x)),
        Object::HttpRoute(x) => api.apply(with_type_meta(&x)),
        Object::ReferenceGrant(x) => api.apply(with_type_meta(&x)),
        Object::Namespace(x) => api.apply_typed(&x),
    }?;
    Ok(())
}

/// A background task that makes one random change every `interval` while running.
pub struct Churn {
    world: Arc<Mutex<World>>,
    running: watch::Sender<bool>,
    /// Changes written so far.
    written: Arc<Mutex<u64>>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Churn {
    /// Starts it paused.
    pub fn start(world: World, sink: Sink, interval: Duration, seed: u64) -> Churn {
        let world = Arc::new(Mutex::new(world));
        let written = Arc::new(Mutex::new(0));
        let (running, mut rx) = watch::channel(false);
        let (w, n) = (world.clone(), written.clone());
        let task = tokio::spawn(async move {
            let mut rng = Rng::new(seed);
            loop {
                if rx.wait_for(|r| *r).await.is_err() {
                    return Ok(());
                }
                {
                    // Under the lock, and only if still running: a pause returns only once
                    // the write it races is done, and no write follows it.
                    let mut world = w.lock().unwrap_or_else(|e| e.into_inner());
                    if !*rx.borrow() {
                        continue;
                    }
                    let change = world.step(&mut rng);
                    sink.write(&world, change)?;
                    *n.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                }
                tokio::time::sleep(interval).await;
            }
        });
        Churn {
            world,
            running,
            written,
            task,
        }
    }

    /// Lets it run.
    pub fn resume(&self) {
        self.running.send_replace(true);
    }

    /// Stops it and returns the objects as last written; fails if the task failed.
    pub fn pause(&self) -> anyhow::Result<World> {
        self.running.send_replace(false);
        if self.task.is_finished() {
            anyhow::bail!("the churn task stopped");
        }
        Ok(self.world.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }

    /// Changes the world while paused (and writes them with `sink`).
    pub fn with_world<T>(&self, f: impl FnOnce(&mut World) -> T) -> T {
        f(&mut self.world.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// While paused: `n` more changes of the world, each written with `sink` (the API
    /// server paused meanwhile, they land behind what its watchers saw).
    pub fn write_changes(&self, n: usize, sink: &Sink, rng: &mut Rng) -> anyhow::Result<()> {
        self.with_world(|w| {
            for _ in 0..n {
                let c = w.step(rng);
                sink.write(w, c)?;
            }
            Ok(())
        })
    }

    /// Changes written so far.
    pub fn written(&self) -> u64 {
        *self.written.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops the task, returning its error if it failed.
    pub async fn stop(self) -> anyhow::Result<()> {
        drop(self.running);
        self.task.await?
    }
}
