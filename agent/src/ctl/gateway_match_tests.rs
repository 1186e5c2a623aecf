use super::*;

fn req(path: &str, method: &str, headers: &[&str]) -> Request {
    let h: Vec<String> = headers.iter().map(|s| s.to_string()).collect();
    Request::new("a.example.com", path, method, &h).unwrap()
}

/// A candidate from its rule-map value (the encoding the agent writes).
fn cand(v: &str) -> Candidate {
    Candidate::decode(v).unwrap_or_else(|| panic!("{v}"))
}

#[test]
fn host_keys_go_exact_then_shorter_wildcards_then_any() {
    let keys = |l: &str, h: &str| -> Vec<(String, usize)> {
        host_steps(l, h)
            .into_iter()
            .map(|s| (s.key, s.labels))
            .collect()
    };
    let own = |v: &[(&str, usize)]| -> Vec<(String, usize)> {
        v.iter().map(|(k, n)| (k.to_string(), *n)).collect()
    };
    assert_eq!(
        keys("http", "a.b.example"),
        own(&[
            ("http|a.b.example", 0),
            ("http|*.b.example", 1),
            ("http|*.example", 2),
            ("http|*", 0)
        ])
    );
    assert_eq!(
        keys("https@127.0.0.1:8443", "localhost"),
        own(&[
            ("https@127.0.0.1:8443|localhost", 0),
            ("https@127.0.0.1:8443|*", 0)
        ])
    );
    // A trailing dot ends the walk, as in the Lua.
    assert_eq!(keys("http", "a."), own(&[("http|a.", 0), ("http|*", 0)]));
}

#[test]
fn the_most_specific_entry_wins_and_deep_ingress_wildcards_are_walked_past() {
    let steps = host_steps("http", "a.b.example");
    let v = |s: &str| Some(s.to_string());
    // (live values per step, the step taken, notes)
    let cases: [([Option<String>; 4], Option<usize>, usize); 5] = [
        ([None, None, None, None], None, 0),
        (
            [v("80|x/r/0/0"), v("80|y/r/0/0"), None, v("80|z/r/0/0")],
            Some(0),
            0,
        ),
        ([None, v("ingress"), v("80|y/r/0/0"), None], Some(1), 0),
        ([None, None, v("ingress"), v("80|z/r/0/0")], Some(3), 1),
        ([None, None, v("80|y/r/0/0"), v("80|z/r/0/0")], Some(2), 0),
    ];
    for (found, want, notes) in cases {
        let (got, n) = host_choice(&steps, &found);
        assert_eq!(got.map(|(i, _)| i), want, "{found:?}");
        assert_eq!(n.len(), notes, "{found:?}: {n:?}");
    }
}

#[test]
fn matches_are_judged_in_the_luas_order() {
    // (rule value, request, None when it matches, else a fragment of the reason)
    let cases: [(&str, Request, Option<&str>); 16] = [
        ("p=P:/", req("/anything", "GET", &[]), None),
        ("p=P:/api", req("/api", "GET", &[]), None),
        ("p=P:/api", req("/api/v1", "GET", &[]), None),
        (
            "p=P:/api",
            req("/apix", "GET", &[]),
            Some("prefix \"/api\""),
        ),
        (
            "p=E:/only",
            req("/only/", "GET", &[]),
            Some("exact \"/only\""),
        ),
        ("p=R:/v%5B0-9%5D%2B", req("/v12", "GET", &[]), None),
        (
            "p=R:/v%5B0-9%5D%2B",
            req("/v12/x", "GET", &[]),
            Some("regex"),
        ),
        (
            "p=P:/&m=POST",
            req("/", "GET", &[]),
            Some("method GET is not POST"),
        ),
        ("p=P:/&m=POST", req("/", "post", &[]), None),
        (
            "p=P:/&h=E:x-env:canary",
            req("/", "GET", &[]),
            Some("header x-env is absent"),
        ),
        (
            "p=P:/&h=E:x-env:canary",
            req("/", "GET", &["X-Env: prod", "x-env: canary"]),
            None,
        ),
        (
            "p=P:/&h=R:x-env:%5Ecan",
            req("/", "GET", &["x-env: prod"]),
            Some("not a match of regex \"^can\""),
        ),
        ("p=P:/&q=E:v:a%20b", req("/?v=a%20b", "GET", &[]), None),
        (
            "p=P:/&q=E:v:2",
            req("/?v=1&v=2", "GET", &[]),
            Some("query parameter v is [\"1\"]"),
        ),
        (
            "p=P:/&q=R:V:%5E1",
            req("/?v=1", "GET", &[]),
            Some("V is absent"),
        ),
        // The path fails first, though the method fails too.
        ("p=E:/a&m=POST", req("/b", "GET", &[]), Some("path \"/b\"")),
    ];
    for (value, request, want) in cases {
        let got = mismatch(&cand(value), &request);
        match (want, &got) {
            (None, None) => {}
            (Some(w), Some(g)) if g.contains(w) => {}
            _ => panic!("{value} {request:?}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn actions_read_as_the_lua_performs_them() {
    let lines =
        |v: &str, path: &str, tls: bool| action_lines(&cand(v), &req(path, "GET", &[]), tls, 8080);
    assert_eq!(
        lines("p=P:/&b=3:ns_a_80&b=1:ns_b_80&b=0:", "/", false),
        [
            "backend ns_a_80, weight 3 (75%)",
            "backend ns_b_80, weight 1 (25%)",
            "(unresolved: HAProxy answers 500), weight 0 (0%)"
        ]
    );
    assert_eq!(
        lines("p=P:/&b=0:ns_a_80", "/", false),
        ["no backend with a weight: HAProxy answers 500"]
    );
    assert_eq!(
        lines(
            "p=P:/api&rqs=x-a:1&rsd=server&b=1:ns_a_80&wh=in.example&wx=/v2&t=1500",
            "/api/x",
            false
        ),
        [
            "request header x-a set to \"1\"",
            "backend ns_a_80, weight 1 (100%)",
            "Host rewritten to \"in.example\"",
            "path rewritten to \"/v2/x\"",
            "server timeout 1500ms",
            "response header server removed"
        ]
    );
    // Redirects: the listener's port unless a scheme or port says otherwise.
    let cases = [
        (
            "p=P:/&rd=302",
            "/x?q=1",
            false,
            "redirect 302: Location http://a.example.com:8080/x?q=1",
        ),
        (
            "p=P:/&rd=301&rds=https",
            "/x",
            false,
            "redirect 301: Location https://a.example.com/x",
        ),
        (
            "p=P:/old&rd=308&rdh=b.example&rdp=80&rdx=/new/",
            "/old/y",
            true,
            "redirect 308: Location https://b.example:80/new/y",
        ),
        (
            "p=P:/old&rd=302&rds=http&rdf=/",
            "/old",
            false,
            "redirect 302: Location http://a.example.com/",
        ),
    ];
    for (v, path, tls, want) in cases {
        assert_eq!(lines(v, path, tls), [want], "{v}");
    }
}

#[test]
fn prefix_rewrites_replace_the_matched_prefix() {
    let p = |m: &str, path: &str, with: &str| {
        new_path(
            &PathMatch::Prefix(m.into()),
            path,
            Some(&PathRewrite::Prefix(with.into())),
        )
    };
    assert_eq!(p("/a", "/a", ""), "/");
    assert_eq!(p("/a", "/a", "/b"), "/b");
    assert_eq!(p("/a", "/a/c", "/b/"), "/b/c");
    assert_eq!(p("/", "/c", "/b"), "/b/c");
}
