//! Reading what HAProxy has loaded of TLS: the certificates (with the fingerprint of each one
//! the agent manages), the crt-list's lines, and the CA and CRL files.

use haproxy::config::{CertFingerprint, Config, LiveCrtLine, LiveTls};
use haproxy::proto::{CaStore, Command, Reply, ReplyError};
use haproxy::{FilePath, RuntimeClient};

use super::ApplyError;

/// The certificates HAProxy has loaded (with the fingerprint of each one the agent manages)
/// and the lines of the crt-list, when the desired config serves TLS; `None` otherwise. A
/// crt-list the running worker does not know (TLS not loaded yet) reads as empty.
pub(super) async fn observe_tls(
    runtime: &RuntimeClient,
    desired: &Config,
) -> Result<Option<LiveTls>, ApplyError> {
    let Some(bind) = desired.frontends.first().and_then(|f| f.tls.as_ref()) else {
        return Ok(None);
    };
    let crt_list = bind.crt_list.to_file_path();
    let cmds = [
        Command::ShowSslCert(None),
        Command::ShowSslCrtList(crt_list.clone()),
        Command::ShowSslCa(CaStore::CaFile),
        Command::ShowSslCa(CaStore::CrlFile),
    ];
    let mut replies = runtime
        .batch(&cmds)
        .await
        .map_err(haproxy::Error::from)?
        .into_iter();
    let mut live = LiveTls::default();
    let files = match replies.next() {
        Some(Ok(Reply::SslCerts(list))) => {
            live.transactions = file_paths(&list.transactions).into_iter().collect();
            list.files
        }
        other => {
            return Err(ApplyError::Diverged(format!(
                "show ssl cert gave {other:?}"
            )));
        }
    };
    live.crt_list = crt_list_lines(replies.next())?;
    for kind in [CaStore::CaFile, CaStore::CrlFile] {
        let list = match replies.next() {
            Some(Ok(Reply::SslCaFiles(list))) => list,
            other => {
                return Err(ApplyError::Diverged(format!(
                    "show ssl {} gave {other:?}",
                    kind.keyword()
                )));
            }
        };
        live.ca_files
            .extend(file_paths(&list.files).into_iter().map(|f| (f, kind)));
        live.ca_transactions.extend(
            file_paths(&list.transactions)
                .into_iter()
                .map(|f| (f, kind)),
        );
    }
    // Details only for the files the agent manages: those under the certificates directory.
    let ours: Vec<FilePath> = files
        .iter()
        .filter(|f| std::path::Path::new(f.as_str()).starts_with(bind.certs_dir()))
        .filter_map(|f| FilePath::new(f.as_str()).ok())
        .collect();
    live.certs.extend(fingerprints(runtime, ours).await?);
    Ok(Some(live))
}

/// The names that are valid file paths.
fn file_paths(names: &[String]) -> Vec<FilePath> {
    names
        .iter()
        .filter_map(|f| FilePath::new(f.as_str()).ok())
        .collect()
}

/// The lines of a `show ssl crt-list` reply; none when the running worker does not know
/// the crt-list (refused, or no reply).
fn crt_list_lines(
    reply: Option<Result<Reply, ReplyError>>,
) -> Result<Vec<LiveCrtLine>, ApplyError> {
    match reply {
        Some(Ok(Reply::CrtList(lines))) => Ok(lines
            .iter()
            .filter_map(|l| {
                Some(LiveCrtLine {
                    cert: FilePath::new(l.cert.as_str()).ok()?,
                    line: l.line,
                    entry: l.to_entry(),
                })
            })
            .collect()),
        Some(Err(ReplyError::Refused { .. })) | None => Ok(Vec::new()),
        other => Err(ApplyError::Diverged(format!(
            "show ssl crt-list gave {other:?}"
        ))),
    }
}

/// The fingerprint of each of `files` (`None` when HAProxy shows none), from one
/// `show ssl cert <file>` each.
async fn fingerprints(
    runtime: &RuntimeClient,
    files: Vec<FilePath>,
) -> Result<Vec<(FilePath, Option<CertFingerprint>)>, ApplyError> {
    let details: Vec<Command> = files
        .iter()
        .map(|f| Command::ShowSslCert(Some(f.clone())))
        .collect();
    let replies = runtime
        .batch(&details)
        .await
        .map_err(haproxy::Error::from)?;
    Ok(files
        .into_iter()
        .zip(replies)
        .map(|(file, reply)| {
            let sha1 = match reply {
                Ok(Reply::SslCert(info)) => info
                    .sha1
                    .as_deref()
                    .and_then(|h| CertFingerprint::new(h).ok()),
                _ => None,
            };
            (file, sha1)
        })
        .collect())
}
