//! The run and render commands' settings from their flags, checked once at start-up.

use std::path::{Path, PathBuf};

use crate::cli::ModelArgs;
use crate::translate::{BadSetting, Settings, translate};

pub(super) fn settings(model: &ModelArgs) -> anyhow::Result<Settings> {
    let config_dir = absolute(&model.config_dir)?;
    let runtime_socket = absolute(&model.runtime_socket)?;
    // The default certificate the config directory already has (so that a restart serves
    // the same one), else a new self-signed one, made when TLS is first in use; written
    // there once it is.
    let default_path = haproxy::config::default_cert_path(&config_dir)
        .map_err(|e| anyhow::anyhow!("--config-dir: {e}"))?;
    let default_cert = crate::certs::DefaultCert::at(PathBuf::from(default_path.as_str()));
    let s = Settings {
        ingress_class: model.ingress_class.clone(),
        default_backend_service: model.default_backend_service.clone(),
        watch_namespace: model.watch_namespace.clone(),
        http_bind: model.http_bind,
        config_dir,
        runtime_socket,
        hard_stop_after: model.hard_stop_after,
        https_bind: model.https_bind,
        default_cert,
        default_ssl_certificate: model.default_ssl_certificate.clone(),
        trusted_proxies: model.trusted_proxies.clone(),
        configmap: model.configmap.clone(),
        use_proxy_protocol: model.use_proxy_protocol,
        access_log: access_log(model)?,
        tcp_services: model.tcp_services_configmap.clone(),
        tcp_bind: model.tcp_bind_address,
        gateway_controller_name: model.gateway_controller_name.clone(),
        gateway_address_pool: model.gateway_address_pool.clone(),
        udp_services: model.udp_services_configmap.clone(),
        ssl_passthrough: model.enable_ssl_passthrough,
        agent_listen: Vec::new(),
    };
    check_settings(&s)?;
    Ok(s)
}

/// Where the access log goes (`None`: off).
pub(super) fn access_log(model: &ModelArgs) -> anyhow::Result<Option<haproxy::config::LogTarget>> {
    use haproxy::config::{ConfigPath, LogTarget};
    if !model.access_log {
        return Ok(None);
    }
    Ok(Some(match &model.access_log_socket {
        None => LogTarget::Stdout,
        Some(p) => LogTarget::Socket(
            ConfigPath::from_path(&absolute(p)?)
                .map_err(|e| anyhow::anyhow!("--access-log-socket: {e}"))?,
        ),
    }))
}

/// Refuses, at start-up, every setting translation could fail on later: paths and durations
/// HAProxy cannot take, the HTTPS bind's files included (used only once an Ingress asks for
/// TLS). With them checked, [`translate`] has no error left to return while running.
pub(super) fn check_settings(s: &Settings) -> Result<(), BadSetting> {
    translate(&Default::default(), s)?;
    haproxy::config::TlsBind::in_dir(&s.config_dir, vec![s.https_bind])
        .map_err(BadSetting::of("--config-dir"))?;
    Ok(())
}

/// The settings, or `None` after saying on stderr why the flags cannot work.
pub(super) fn settings_or_usage(model: &ModelArgs) -> Option<Settings> {
    match settings(model) {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("error: {e:#}");
            None
        }
    }
}

pub(super) fn absolute(p: &Path) -> anyhow::Result<PathBuf> {
    if p.is_absolute() {
        Ok(p.to_path_buf())
    } else {
        Ok(std::env::current_dir()?.join(p))
    }
}
