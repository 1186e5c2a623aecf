//! Writes seeds under `fuzz/seeds/<target>/` (run from the repository root, then minimise
//! with `scripts/fuzz --minimise`): certificates from `integration::tls::TestCert` (EC) and
//! one RSA pair, the test CRL, and the hostile corpus's and the examples' Secrets,
//! annotations and manifests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use haproxy_agent::source::manifests::parse_manifests;
use haproxy_agent::store::Object;
use haproxy_agent::translate::annotations::catalog::{CATALOG, PREFIXES};
use haproxy_agent_fuzz::{annotation_input, secret_input};
use integration::tls::TestCert;

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new("fuzz/seeds").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn manifests() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for dir in ["agent/tests/hostile", "examples/quickstart"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        files.sort();
        for f in files {
            let name = f.file_stem().unwrap().to_string_lossy().into_owned();
            out.push((name, std::fs::read_to_string(&f).unwrap()));
        }
    }
    out
}

fn rsa() -> (String, String) {
    use openssl::{asn1::Asn1Time, hash::MessageDigest, pkey::PKey, rsa::Rsa, x509};
    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = x509::X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "rsa.example.com").unwrap();
    let name = name.build();
    let mut b = x509::X509::builder().unwrap();
    b.set_version(2).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(30).unwrap())
        .unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    let pem = |v: Vec<u8>| String::from_utf8(v).unwrap();
    (
        pem(b.build().to_pem().unwrap()),
        pem(key.private_key_to_pem_pkcs8().unwrap()),
    )
}

fn secrets(all: &[(String, Vec<Object>)]) {
    let leaf = TestCert::self_signed("web.example.com", &["web.example.com", "127.0.0.1"]);
    let ca = TestCert::ca("fuzz ca");
    let signed = TestCert::signed_by(&ca, "chain.example.com", &["chain.example.com"]);
    let expired = TestCert::self_signed_valid("old.example.com", &[], -30, -1);
    let (rsa_crt, rsa_key) = rsa();
    let s = "secrets";
    write(s, "ec-combined", leaf.combined_pem().as_bytes());
    write(
        s,
        "ec-split",
        &secret_input::join(leaf.cert_pem().as_bytes(), leaf.key_pem().as_bytes()),
    );
    write(
        s,
        "chain-split",
        &secret_input::join(signed.cert_pem().as_bytes(), signed.key_pem().as_bytes()),
    );
    write(s, "expired-combined", expired.combined_pem().as_bytes());
    write(
        s,
        "mismatched",
        TestCert::mismatched_pem("x.example.com", &[]).as_bytes(),
    );
    write(
        s,
        "rsa-split",
        &secret_input::join(rsa_crt.as_bytes(), rsa_key.as_bytes()),
    );
    write(
        s,
        "ca-bundle",
        format!("{}{}", ca.cert_pem(), leaf.cert_pem()).as_bytes(),
    );
    write(
        s,
        "crl",
        include_bytes!("../../../agent/src/translate/test_ca.crl"),
    );
    for (file, objects) in all {
        for o in objects {
            let Object::Secret(secret) = o else { continue };
            let mut data: BTreeMap<String, Vec<u8>> = BTreeMap::new();
            for (k, v) in secret.data.iter().flatten() {
                data.insert(k.clone(), v.0.clone());
            }
            for (k, v) in secret.string_data.iter().flatten() {
                data.insert(k.clone(), v.clone().into_bytes());
            }
            let name = secret.metadata.name.clone().unwrap_or_default();
            if let Some(crt) = data.get("tls.crt") {
                let key = data.get("tls.key").cloned().unwrap_or_default();
                write(
                    s,
                    &format!("{file}-{name}-tls"),
                    &secret_input::join(crt, &key),
                );
            }
            for k in ["ca.crt", "ca.crl"] {
                if let Some(v) = data.get(k) {
                    write(s, &format!("{file}-{name}-{k}"), v);
                }
            }
        }
    }
}

fn annotations(all: &[(String, Vec<Object>)]) {
    let every: BTreeMap<String, String> = PREFIXES
        .iter()
        .flat_map(|p| {
            CATALOG
                .iter()
                .map(move |e| (format!("{p}{}", e.name), "true".into()))
        })
        .collect();
    write(
        "annotations",
        "catalog-all-true",
        &annotation_input::unparse(&every),
    );
    for (file, objects) in all {
        for o in objects {
            let Object::Ingress(ing) = o else { continue };
            let Some(a) = &ing.metadata.annotations else {
                continue;
            };
            let name = ing.metadata.name.clone().unwrap_or_default();
            write(
                "annotations",
                &format!("{file}-{name}"),
                &annotation_input::unparse(a),
            );
        }
    }
}

fn main() {
    let files = manifests();
    let mut parsed = Vec::new();
    for (name, text) in &files {
        for target in ["manifests", "translate_render"] {
            write(target, name, text.as_bytes());
        }
        if let Ok(objects) = parse_manifests(Path::new(name), text) {
            parsed.push((name.clone(), objects));
        }
    }
    let mut quickstart: Vec<PathBuf> = std::fs::read_dir("examples/quickstart")
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    quickstart.sort();
    let quickstart: String = quickstart
        .iter()
        .map(|f| format!("---\n{}", std::fs::read_to_string(f).unwrap()))
        .collect();
    write("translate_render", "quickstart-all", quickstart.as_bytes());
    secrets(&parsed);
    annotations(&parsed);
}
