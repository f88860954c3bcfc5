//! The daemon endpoints a builder may have.
//!
//! The forms mab accepts (`unix://`, `tcp://`, `http://`, `https://`, `ssh://`; `tls` only with
//! `tcp://`/`https://`; `https://` only with `tls`), checked the same way for a plan's builders
//! (with their line and column) and for a daemon the build driver connects to: a `unix://` path
//! must be absolute, a `tcp://` endpoint needs its port (the docker CLI's defaults 2375/2376 do
//! not apply: the HTTP client would use port 80), and no address may carry a password (it would
//! be printed in messages; ssh uses keys or the agent).

/// The schemes of daemon endpoints, as written in messages.
pub const ACCEPTED_FORMS: &str = "unix:///path/to/docker.sock, tcp://host:port (with `tls` for a daemon started with \
     --tlsverify) or ssh://[user@]host[:port]";

/// Checks `endpoint` (variables expanded); `has_tls` says whether the builder has `tls`.
/// The error says what is wrong, in lower case.
pub fn check_endpoint(endpoint: &str, has_tls: bool) -> Result<(), String> {
    let Some((scheme, rest)) = endpoint.split_once("://") else {
        return Err(format!(
            "`{endpoint}` has no scheme; the accepted forms are {ACCEPTED_FORMS}"
        ));
    };
    match scheme {
        "unix" => {
            if has_tls {
                return Err(tls_needs_tcp(endpoint));
            }
            if !rest.starts_with('/') || rest.len() < 2 {
                return Err(format!(
                    "`{endpoint}` does not name a socket by its absolute path, e.g. \
                     unix:///var/run/docker.sock"
                ));
            }
            Ok(())
        }
        "tcp" | "http" | "https" => {
            if scheme == "https" && !has_tls {
                return Err(format!(
                    "`{endpoint}` is https:// but the builder has no `tls` (ca, cert, key)"
                ));
            }
            let authority = rest.strip_suffix('/').unwrap_or(rest);
            check_authority(endpoint, authority, false)?;
            if !authority.contains(':') || authority.ends_with(']') {
                return Err(format!(
                    "`{endpoint}` has no port; give it, e.g. {scheme}://{authority}:{}",
                    if has_tls { 2376 } else { 2375 }
                ));
            }
            Ok(())
        }
        "ssh" => {
            if has_tls {
                return Err(tls_needs_tcp(endpoint));
            }
            check_authority(endpoint, rest, true)
        }
        other => Err(format!(
            "`{endpoint}` has the unknown scheme `{other}://`; the accepted forms are \
             {ACCEPTED_FORMS}"
        )),
    }
}

fn tls_needs_tcp(endpoint: &str) -> String {
    format!("`tls` only applies to tcp:// endpoints, not to `{endpoint}`")
}

/// `[user@]host[:port]` (a user only where `user_allowed`); IPv6 hosts in brackets.
fn check_authority(endpoint: &str, authority: &str, user_allowed: bool) -> Result<(), String> {
    if authority.contains('/') {
        return Err(format!(
            "`{endpoint}` has a path after the host; give only the host and port"
        ));
    }
    let host_port = match authority.rsplit_once('@') {
        Some((user, host_port)) => {
            if !user_allowed {
                return Err(format!(
                    "`{endpoint}` has a user name; only ssh:// endpoints take one"
                ));
            }
            if user.contains(':') {
                return Err(format!(
                    "`{endpoint}` has a password; leave it out (ssh logs in with keys or the \
                     ssh agent) so that it is never written in plans or messages"
                )
                .replace(endpoint, &redacted(endpoint)));
            }
            if user.is_empty() {
                return Err(format!("`{endpoint}` has an empty user name before `@`"));
            }
            host_port
        }
        None => authority,
    };
    let (host, port) = if let Some(inner) = host_port.strip_prefix('[') {
        match inner.split_once(']') {
            Some((host, "")) => (host, None),
            Some((host, port)) => match port.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => {
                    return Err(format!(
                        "`{endpoint}` has text after `]` that is not a port"
                    ));
                }
            },
            None => return Err(format!("`{endpoint}` has `[` without `]`")),
        }
    } else {
        match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Err(format!("`{endpoint}` has no host"));
    }
    if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("`{endpoint}` has whitespace in its host"));
    }
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(n) if n > 0 => {}
            _ => {
                return Err(format!(
                    "`{endpoint}` has an invalid port `{port}` (a number from 1 to 65535)"
                ));
            }
        }
    }
    Ok(())
}

/// The password of an endpoint's `user:password@`, if it has one.
pub fn password_of(endpoint: &str) -> Option<&str> {
    let (_, rest) = endpoint.split_once("://")?;
    let (user, _) = rest.rsplit_once('@')?;
    let (_, password) = user.split_once(':')?;
    Some(password)
}

/// `endpoint` with the password of its `user:password@` replaced by `***`.
pub fn redacted(endpoint: &str) -> String {
    let Some((scheme, rest)) = endpoint.split_once("://") else {
        return endpoint.to_string();
    };
    match rest.rsplit_once('@') {
        Some((user, host)) => {
            let name = user.split(':').next().unwrap_or("");
            format!("{scheme}://{name}:***@{host}")
        }
        None => endpoint.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::check_endpoint;

    #[test]
    fn accepts_the_forms_of_the_build_driver() {
        for (endpoint, tls) in [
            ("unix:///var/run/docker.sock", false),
            ("tcp://10.0.0.5:2375", false),
            ("tcp://arm-builder:2376", true),
            ("tcp://[::1]:2376", true),
            ("http://127.0.0.1:2375", false),
            ("https://127.0.0.1:2376", true),
            ("ssh://ci@arm-builder", false),
            ("ssh://arm-builder:2222", false),
            ("ssh://root@127.0.0.1:2222", false),
        ] {
            assert_eq!(check_endpoint(endpoint, tls), Ok(()), "{endpoint}");
        }
    }

    #[test]
    fn refuses_everything_else_saying_why() {
        for (endpoint, tls, why) in [
            ("/var/run/docker.sock", false, "has no scheme"),
            ("npipe:////./pipe/docker_engine", false, "unknown scheme"),
            ("unix://docker.sock", false, "absolute path"),
            (
                "unix:///var/run/docker.sock",
                true,
                "only applies to tcp://",
            ),
            ("ssh://ci@arm", true, "only applies to tcp://"),
            ("tcp://10.0.0.5", false, "has no port"),
            ("tcp://10.0.0.5:http", false, "invalid port"),
            ("tcp://10.0.0.5:0", false, "invalid port"),
            ("tcp://:2375", false, "has no host"),
            ("tcp://ci@host:2375", false, "only ssh://"),
            ("tcp://host:2375/v1.41", false, "a path"),
            ("https://host:2376", false, "has no `tls`"),
            ("ssh://ci:secret@arm", false, "has a password"),
            ("ssh://@arm", false, "empty user"),
            ("ssh://", false, "has no host"),
        ] {
            let error = check_endpoint(endpoint, tls).expect_err(endpoint);
            assert!(error.contains(why), "{endpoint}: {error}");
            assert!(!error.contains("secret"), "{error}");
        }
    }
}
