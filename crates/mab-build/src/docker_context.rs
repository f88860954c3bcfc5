//! Docker contexts: the daemon the docker CLI would talk to.
//!
//! The docker CLI picks its daemon in this order (docker/cli `cli/command/cli.go`,
//! `resolveContextName`): the `--context` flag; `DOCKER_HOST` (the "default" context); the
//! `DOCKER_CONTEXT` variable; the `currentContext` of the docker config file
//! (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`); the default socket. A named
//! context is stored as `contexts/meta/<sha256 of the name>/meta.json` in the docker config
//! folder (`Endpoints.docker.Host`, `SkipTLSVerify`), its TLS files, if any, in
//! `contexts/tls/<sha256 of the name>/docker/{ca,cert,key}.pem`. Docker Desktop, Colima and
//! OrbStack switch daemons this way (`docker context use`).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::BuildError;
use crate::endpoint::{DaemonEndpoint, TlsFiles};

/// The name of the context that stands for `DOCKER_HOST` or the default socket.
pub const DEFAULT_CONTEXT: &str = "default";

/// What the environment says, read once (so it can be given in tests).
#[derive(Debug, Clone, Default)]
pub struct ContextEnv {
    /// `DOCKER_HOST`.
    pub docker_host: Option<String>,
    /// `DOCKER_CONTEXT`.
    pub docker_context: Option<String>,
    /// The docker config folder: `DOCKER_CONFIG`, else `~/.docker`.
    pub config_dir: Option<PathBuf>,
}

impl ContextEnv {
    /// The process environment.
    pub fn from_process() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let config_dir = var("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| var("HOME").map(|home| Path::new(&home).join(".docker")));
        Self {
            docker_host: var("DOCKER_HOST"),
            docker_context: var("DOCKER_CONTEXT"),
            config_dir,
        }
    }
}

#[derive(Deserialize)]
struct ConfigFile {
    #[serde(rename = "currentContext", default)]
    current_context: Option<String>,
}

#[derive(Deserialize)]
struct Meta {
    #[serde(rename = "Endpoints", default)]
    endpoints: std::collections::HashMap<String, MetaEndpoint>,
}

#[derive(Deserialize)]
struct MetaEndpoint {
    #[serde(rename = "Host", default)]
    host: Option<String>,
    #[serde(rename = "SkipTLSVerify", default)]
    skip_tls_verify: bool,
}

/// The name of the context the docker CLI would use, given the `--context` flag; `None`
/// when it is the default one (`DOCKER_HOST`, else the default socket).
pub fn context_name(flag: Option<&str>, env: &ContextEnv) -> Result<Option<String>, BuildError> {
    if let Some(name) = flag.filter(|n| !n.is_empty()) {
        return Ok((name != DEFAULT_CONTEXT).then(|| name.to_string()));
    }
    if env.docker_host.is_some() {
        return Ok(None);
    }
    if let Some(name) = &env.docker_context {
        return Ok((name != DEFAULT_CONTEXT).then(|| name.clone()));
    }
    let Some(dir) = &env.config_dir else {
        return Ok(None);
    };
    let file = dir.join("config.json");
    let text = match std::fs::read(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(BuildError::DockerContext {
                name: String::from("(current)"),
                reason: format!("cannot read {}: {e}", file.display()),
            });
        }
    };
    let config: ConfigFile =
        serde_json::from_slice(&text).map_err(|e| BuildError::DockerContext {
            name: String::from("(current)"),
            reason: format!("{} is not a docker config file: {e}", file.display()),
        })?;
    Ok(config
        .current_context
        .filter(|n| !n.is_empty() && n != DEFAULT_CONTEXT))
}

/// The endpoint of the context named `name`, from its metadata in the docker config folder.
pub fn context_endpoint(name: &str, env: &ContextEnv) -> Result<DaemonEndpoint, BuildError> {
    let error = |reason: String| BuildError::DockerContext {
        name: name.to_string(),
        reason,
    };
    let dir = env
        .config_dir
        .as_ref()
        .ok_or_else(|| error("no docker config folder (neither DOCKER_CONFIG nor HOME)".into()))?;
    let key = hex::encode(Sha256::digest(name.as_bytes()));
    let meta_file = dir
        .join("contexts")
        .join("meta")
        .join(&key)
        .join("meta.json");
    let text = std::fs::read(&meta_file).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            error(format!(
                "no such context (no {}; `docker context ls` lists them)",
                meta_file.display()
            ))
        } else {
            error(format!("cannot read {}: {e}", meta_file.display()))
        }
    })?;
    let meta: Meta = serde_json::from_slice(&text).map_err(|e| {
        error(format!(
            "{} is not context metadata: {e}",
            meta_file.display()
        ))
    })?;
    let docker = meta
        .endpoints
        .get("docker")
        .ok_or_else(|| error("the context has no docker endpoint".into()))?;
    let host = docker
        .host
        .clone()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| error("the context's docker endpoint has no Host".into()))?;
    let tls_dir = dir.join("contexts").join("tls").join(&key).join("docker");
    let tls = (host.starts_with("tcp://") && tls_dir.join("ca.pem").is_file()).then(|| {
        let files = TlsFiles::in_dir(&tls_dir);
        (files, docker.skip_tls_verify)
    });
    if let Some((_, true)) = &tls {
        return Err(error(
            "the context skips TLS verification (SkipTLSVerify), which mab does not do".into(),
        ));
    }
    DaemonEndpoint::new(host, tls.map(|(files, _)| files))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_in(dir: &Path) -> ContextEnv {
        ContextEnv {
            docker_host: None,
            docker_context: None,
            config_dir: Some(dir.to_path_buf()),
        }
    }

    fn write_context(dir: &Path, name: &str, host: &str) {
        let key = hex::encode(Sha256::digest(name.as_bytes()));
        let meta = dir.join("contexts/meta").join(key);
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            format!(
                r#"{{"Name":"{name}","Metadata":{{}},"Endpoints":{{"docker":{{"Host":"{host}","SkipTLSVerify":false}}}}}}"#
            ),
        )
        .unwrap();
    }

    #[test]
    fn the_order_is_the_docker_clis() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"auths":{},"currentContext":"desk"}"#,
        )
        .unwrap();
        let mut env = env_in(dir.path());
        assert_eq!(context_name(None, &env).unwrap().as_deref(), Some("desk"));
        env.docker_context = Some("colima".into());
        assert_eq!(context_name(None, &env).unwrap().as_deref(), Some("colima"));
        env.docker_host = Some("unix:///x.sock".into());
        assert_eq!(context_name(None, &env).unwrap(), None);
        assert_eq!(
            context_name(Some("orb"), &env).unwrap().as_deref(),
            Some("orb")
        );
        assert_eq!(context_name(Some("default"), &env).unwrap(), None);
        env.docker_host = None;
        env.docker_context = Some("default".into());
        assert_eq!(context_name(None, &env).unwrap(), None);
    }

    #[test]
    fn a_context_names_its_endpoint() {
        let dir = tempfile::tempdir().unwrap();
        write_context(dir.path(), "colima", "unix:///home/u/.colima/docker.sock");
        let env = env_in(dir.path());
        let endpoint = context_endpoint("colima", &env).unwrap();
        assert_eq!(endpoint.url(), "unix:///home/u/.colima/docker.sock");
        let missing = context_endpoint("nope", &env).unwrap_err().to_string();
        assert!(missing.contains("context \"nope\""), "{missing}");
        assert!(missing.contains("no such context"), "{missing}");
    }

    #[test]
    fn no_config_file_is_the_default_context() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(context_name(None, &env_in(dir.path())).unwrap(), None);
    }
}
