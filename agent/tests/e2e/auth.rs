//! ingress-nginx basic authentication through a real agent and HAProxy: `401` with the realm
//! without or with wrong credentials, the backend with right ones (without the
//! `Authorization` header, as ingress-nginx clears it), a new password after a Secret
//! change (a reload named `userlists`), and a missing Secret failing closed with `503`.

use integration::{EchoServer, Req};

use crate::support::{
    Agent, CONVERGE, Ep, NS, Options, eventually, ingress, route, service, slice,
};

const HOST: &str = "nginx.example";
const N: &str = "nginx.ingress.kubernetes.io/";

/// `openssl passwd -6 -salt e2eauthsalt bar`.
pub(crate) const BAR_SHA512: &str = "$6$e2eauthsalt$WGjziRzDvtqjLjg03c7KjyGiy5XQOgg3RQxGmkwLp1yjxepMq2Y0WVa0nX0BjCZvjCPoIimEveBlBtlRDprxX/";
/// `openssl passwd -5 -salt e2eauthsalt baz`.
const BAZ_SHA256: &str = "$5$e2eauthsalt$oL5LPxI3shHpNrUgN9ilf3rNx9omf48YExX62z.Xt.3";
/// bcrypt (cost 5) of `bar`, as `htpasswd -B` writes it.
const BAR_BCRYPT: &str = "$2b$05$abcdefghijklmnopqrstuuUq7qXkDOZJ5Q8HA9wCOH0FErWp6q0b6";

/// `Basic base64(user:password)`.
pub(crate) fn basic(user: &str, password: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = format!("{user}:{password}").into_bytes();
    let mut out = String::from("Basic ");
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// An Opaque Secret from `kubectl create secret generic … --from-file=auth` (stringData).
pub(crate) fn auth_secret(name: &str, data: &[(&str, &str)]) -> String {
    let mut out = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {NS}\ntype: \
         Opaque\nstringData:\n"
    );
    for (k, v) in data {
        out.push_str(&format!("  {k}: {}\n", serde_json::to_string(v).unwrap()));
    }
    out
}

fn objects(web: &EchoServer) -> String {
    let port = web.addr().port();
    let k = |name: &str| format!("{N}{name}");
    [
        service("web", 80, port),
        slice("web-1", "web", port, &[Ep::ready("127.0.0.1")]),
        ingress(
            "with-auth",
            &[
                (&k("auth-type"), "basic"),
                (&k("auth-secret"), "basic-auth"),
                (&k("auth-realm"), "Authentication Required - foo"),
            ],
            &[route("/private", "web", 80)],
        ),
        ingress(
            "with-map",
            &[
                (&k("auth-type"), "basic"),
                (&k("auth-secret"), "default/users"),
                (&k("auth-secret-type"), "auth-map"),
            ],
            &[route("/team", "web", 80)],
        ),
        ingress(
            "missing-secret",
            &[(&k("auth-type"), "basic"), (&k("auth-secret"), "not-there")],
            &[route("/locked", "web", 80)],
        ),
        ingress("open", &[], &[route("/public", "web", 80)]),
    ]
    .join("---\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_asks_checks_and_fails_closed() {
    let web = EchoServer::start("web").unwrap();
    let file = format!("# users\nfoo:{BAR_SHA512}\nold:$apr1$OFG3Xybp$ckL0FHDAkoXYIlH9.cysT0\n");
    let agent = Agent::start(
        &[
            ("web.yaml", &objects(&web)),
            (
                "secret.yaml",
                &auth_secret("basic-auth", &[("auth", &file)]),
            ),
            ("users.yaml", &auth_secret("users", &[("jane", BAR_BCRYPT)])),
        ],
        Options::default(),
    )
    .await
    .unwrap();
    let get = async |path: &str, auth: Option<String>| {
        let mut req = Req::new("GET", HOST, path);
        if let Some(a) = &auth {
            req = req.header("authorization", a);
        }
        integration::request(agent.http, req).await.unwrap()
    };

    // No credentials, wrong ones, an unknown user, the $apr1$ user (named, never let in).
    for auth in [
        None,
        Some(basic("foo", "wrong")),
        Some(basic("nobody", "bar")),
        Some(basic("old", "bar")),
    ] {
        let r = get("/private", auth.clone()).await;
        assert_eq!(r.status, 401, "{auth:?}: {r:?}");
        assert_eq!(r.echo_name, None);
        assert_eq!(
            r.header("www-authenticate"),
            Some("Basic realm=\"Authentication Required - foo\""),
        );
    }
    let r = get("/private/x", Some(basic("foo", "bar"))).await;
    assert_eq!(
        (r.status, r.echo_name.as_deref()),
        (200, Some("web")),
        "{r:?}"
    );
    assert_eq!(
        r.header("x-echo-authorization"),
        None,
        "the credentials are not forwarded (ingress-nginx clears Authorization)"
    );
    // auth-map, default realm.
    let r = get("/team", None).await;
    assert_eq!(
        (r.status, r.header("www-authenticate")),
        (401, Some("Basic realm=\"Authentication Required\""))
    );
    assert_eq!(get("/team", Some(basic("jane", "bar"))).await.status, 200);
    assert_eq!(get("/team", Some(basic("foo", "bar"))).await.status, 401);
    // A missing Secret fails closed; other routes keep serving, with their own credentials
    // passed through.
    assert_eq!(get("/locked", None).await.status, 503);
    assert_eq!(get("/locked", Some(basic("foo", "bar"))).await.status, 503);
    let r = get("/public", Some(basic("any", "thing"))).await;
    assert_eq!(r.status, 200);
    assert!(r.header("x-echo-authorization").is_some());

    let state = agent.debug_state().await.unwrap();
    let problems = state["problems"].as_array().cloned().unwrap_or_default();
    let named = |object: &str, text: &str| {
        problems.iter().any(|p| {
            p["object"] == object && p["message"].as_str().is_some_and(|m| m.contains(text))
        })
    };
    assert!(
        named("default/missing-secret", "not found"),
        "{problems:#?}"
    );
    assert!(named("default/with-auth", "$apr1$"), "{problems:#?}");

    // A new password: a reload named userlists, then only the new one gets in.
    let reloads = agent.reloads().await.unwrap();
    let before = agent
        .metric("haproxy_agent_reloads_total{reason=\"userlists\"}")
        .await
        .unwrap_or(0.0);
    agent
        .write_manifest(
            "secret.yaml",
            &auth_secret("basic-auth", &[("auth", &format!("foo:{BAZ_SHA256}\n"))]),
        )
        .unwrap();
    eventually("the new password", CONVERGE, async || {
        get("/private", Some(basic("foo", "baz"))).await.status == 200
    })
    .await
    .unwrap();
    // Right after the reload the old worker may still accept a connection or two (both
    // listen until it unbinds): the old password is refused once the handover is over, and
    // from then on every time.
    eventually("the old password refused", CONVERGE, async || {
        get("/private", Some(basic("foo", "bar"))).await.status == 401
    })
    .await
    .unwrap();
    for _ in 0..5 {
        assert_eq!(get("/private", Some(basic("foo", "bar"))).await.status, 401);
    }
    assert!(agent.reloads().await.unwrap() > reloads);
    // Counted once the agent has seen the new worker, which may be after it serves.
    eventually("a reload counted as userlists", CONVERGE, async || {
        agent
            .metric("haproxy_agent_reloads_total{reason=\"userlists\"}")
            .await
            .is_ok_and(|after| after > before)
    })
    .await
    .unwrap();

    // The Secret goes: fail closed again.
    agent.remove_manifest("secret.yaml").unwrap();
    eventually("503 without the Secret", CONVERGE, async || {
        get("/private", Some(basic("foo", "baz"))).await.status == 503
    })
    .await
    .unwrap();
    assert_eq!(get("/team", Some(basic("jane", "bar"))).await.status, 200);
}

/// A second Ingress asking for a list that exists (same Secret, same realm) joins it with a
/// map update, no reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_an_existing_user_list_does_not_reload() {
    let web = EchoServer::start("web").unwrap();
    let port = web.addr().port();
    let k = |name: &str| format!("{N}{name}");
    let auth = [(k("auth-type"), "basic"), (k("auth-secret"), "basic-auth")];
    let auth: Vec<(&str, &str)> = auth.iter().map(|(a, b)| (a.as_str(), *b)).collect();
    let base = [
        service("web", 80, port),
        slice("web-1", "web", port, &[Ep::ready("127.0.0.1")]),
        auth_secret("basic-auth", &[("auth", &format!("foo:{BAR_SHA512}\n"))]),
        ingress("a", &auth, &[route("/a", "web", 80)]),
    ]
    .join("---\n");
    let agent = Agent::start(&[("all.yaml", &base)], Options::default())
        .await
        .unwrap();
    let reloads = agent.reloads().await.unwrap();
    let more = format!(
        "{base}---\n{}",
        ingress("b", &auth, &[route("/b", "web", 80)])
    );
    agent.write_manifest("all.yaml", &more).unwrap();
    eventually("/b asks for credentials", CONVERGE, async || {
        let r = integration::request(agent.http, Req::new("GET", HOST, "/b")).await;
        r.is_ok_and(|r| r.status == 401)
    })
    .await
    .unwrap();
    let credentials = basic("foo", "bar");
    let ok = Req::new("GET", HOST, "/b/x").header("authorization", &credentials);
    assert_eq!(
        integration::request(agent.http, ok).await.unwrap().status,
        200
    );
    assert_eq!(
        agent.reloads().await.unwrap(),
        reloads,
        "joining a list reloaded"
    );
}
