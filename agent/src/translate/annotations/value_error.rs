//! Why an annotation's value is refused: the one error the annotation checks return (each
//! message is the text of the problem, before what happens instead).

use haproxy::config::{InvalidPattern, InvalidRegex, InvalidValue};

/// Why an annotation's value is refused. Values are quoted as given (trimmed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// A value the model refuses (a policy text, a timeout, a header or user name).
    #[error(transparent)]
    Model(#[from] InvalidValue),
    /// An nginx variable or capture group where none is expanded.
    #[error(
        "{0:?} holds a $: nginx variables are not expanded here, and capture groups ($1..$9) \
         need use-regex paths, which are not supported yet"
    )]
    Variables(String),
    /// A redirect that is neither an http(s) URL nor an absolute path.
    #[error("{0:?} is not an http(s) URL or an absolute path")]
    NotLocation(String),
    /// upstream-vhost that is not `host[:port]`.
    #[error("{0:?} is not a host name with an optional port")]
    NotVhost(String),
    /// A CORS list with an empty or refused item.
    #[error("{0:?} is not a comma-separated list of names")]
    NotNameList(String),
    /// `*` among other origins.
    #[error("{0:?}: * cannot be one of a list of origins")]
    StarInOrigins(String),
    /// An origin that is not `http(s)://host[:port]` or `*`.
    #[error("{0:?} is not http(s)://host[:port] or *")]
    NotOrigin(String),
    /// A duration the command line's parser refuses (its message).
    #[error("{0}")]
    Duration(String),
    /// upstream-hash-by that is not one nginx variable.
    #[error(
        "{0:?} is not one nginx variable ($request_uri, $uri, $remote_addr, $host, \
         $http_<name>, $cookie_<name>, $arg_<name>)"
    )]
    NotHashVariable(String),
    /// upstream-hash-by naming a variable not hashed here.
    #[error(
        "{0:?}: only $request_uri, $uri, $remote_addr, $host, $http_<name>, $cookie_<name> \
         and $arg_<name> are hashed here, one at a time"
    )]
    UnhashedVariable(String),
    /// A `\` in a rewrite target.
    #[error("{0:?} holds a \\, which is not allowed in a rewrite target")]
    Backslash(String),
    /// A `$` in a rewrite target that is not `$1`..`$9`.
    #[error("{0:?} holds a $ that is not $1..$9: nginx variables are not expanded here")]
    NotGroup(String),
    /// A path regex refused.
    #[error(transparent)]
    Regex(#[from] InvalidRegex),
    /// A path regex with fewer groups than the rewrite target names.
    #[error(
        "the rewrite-target names ${named} but the path regex {path:?} has {has} capture group(s)"
    )]
    MissingGroups {
        /// The highest group the rewrite target names.
        named: u32,
        /// The path regex.
        path: String,
        /// Its groups.
        has: u32,
    },
    /// auth-tls-error-page that is not a URL or path ingress-nginx accepts.
    #[error(
        "{0:?} is not a URL or path ingress-nginx accepts ([http[s]://]host[:port] and/or \
         /segments of letters, digits, -, _ and .)"
    )]
    NotErrorPage(String),
    /// auth-tls-match-cn without `CN=`.
    #[error("{0:?} does not start with CN= (as ingress-nginx requires)")]
    NoCn(String),
    /// auth-tls-match-cn whose regex is refused (its reason only).
    #[error("{}", .0.reason)]
    CnPattern(InvalidPattern),
    /// A source range list longer than allowed.
    #[error("{count} networks: at most {max} are taken")]
    TooManyNetworks {
        /// Networks listed.
        count: usize,
        /// Networks taken at most.
        max: usize,
    },
    /// A source range item that is not an address or network.
    #[error(
        "{0:?} is not an IPv4 or IPv6 address or network (address/length, the length at most \
         32 or 128)"
    )]
    NotNetwork(String),
    /// A Service port's `appProtocol` not honoured.
    #[error(
        "appProtocol {0:?} is not one of http, https, kubernetes.io/h2c, kubernetes.io/ws, \
         kubernetes.io/wss; the pods get plain HTTP/1.1"
    )]
    AppProtocol(String),
    /// Not `name` or `namespace/name`.
    #[error("{0:?} is not a Secret name or namespace/name (lower-case letters, digits, - and .)")]
    NotSecretRef(String),
}
