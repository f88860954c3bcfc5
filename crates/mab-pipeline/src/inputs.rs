//! What a build is given besides its context: the plan's secrets read from their environment
//! variables or files, and its ssh forwards turned into agent sockets or key files. Values are
//! read when the build runs and never appear in errors, events or outcomes.

use std::os::unix::fs::FileTypeExt as _;

use mab_build::{BuildSecret, SecretValue, SshForward, SshSource};
use mab_plan::{BuildSettings, Plan, SecretSource};

use crate::PipelineError;

/// The secrets and ssh agents of one platform's build, read now.
pub(crate) fn resolve(
    image: &str,
    platform: &str,
    settings: &BuildSettings,
) -> Result<(Vec<BuildSecret>, Vec<SshForward>), PipelineError> {
    let fail = |message: String| PipelineError::BuildInput {
        image: image.to_string(),
        platform: platform.to_string(),
        message,
    };
    let mut secrets = Vec::new();
    for secret in settings.secrets() {
        let value = match secret.source() {
            SecretSource::Env(name) => std::env::var_os(name)
                .map(|v| v.into_encoded_bytes())
                .ok_or_else(|| {
                    fail(format!(
                        "the secret `{}` comes from the environment variable {name}, which is \
                         not set",
                        secret.id()
                    ))
                })?,
            SecretSource::File(path) => std::fs::read(path).map_err(|e| {
                fail(format!(
                    "the secret `{}` comes from the file {}, which cannot be read: {e}",
                    secret.id(),
                    path.display()
                ))
            })?,
        };
        secrets.push(BuildSecret {
            id: secret.id().to_string(),
            value: SecretValue::new(value),
        });
    }
    let mut agents = Vec::new();
    for forward in settings.ssh() {
        let source = match forward.source() {
            mab_plan::SshSource::Agent => {
                let socket = std::env::var_os("SSH_AUTH_SOCK")
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| {
                        fail(format!(
                            "the ssh forward `{}` is the agent of SSH_AUTH_SOCK, which is not \
                             set (start ssh-agent, or list key files under `paths`)",
                            forward.id()
                        ))
                    })?;
                SshSource::Agent(socket.into())
            }
            mab_plan::SshSource::Paths(paths) => {
                let is_socket = |path: &std::path::Path| {
                    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_socket())
                };
                let sockets = paths.iter().filter(|p| is_socket(p)).count();
                match (sockets, paths.len()) {
                    (0, _) => SshSource::Keys(paths.clone()),
                    (1, 1) => SshSource::Agent(paths[0].clone()),
                    _ => {
                        return Err(fail(format!(
                            "the ssh forward `{}` mixes agent sockets and key files, or names \
                             several sockets: give one agent socket, or key files",
                            forward.id()
                        )));
                    }
                }
            }
        };
        agents.push(SshForward {
            id: forward.id().to_string(),
            source,
        });
    }
    Ok((secrets, agents))
}

/// Every problem with the secrets and ssh forwards of the plan's builds (a variable not set, a
/// file that cannot be read), found before anything is built; empty when there is none.
pub fn check_build_inputs(plan: &Plan) -> Vec<PipelineError> {
    let mut problems: Vec<PipelineError> = Vec::new();
    for image in plan.images() {
        for (platform, settings) in image.builds() {
            if let Err(error) = resolve(&image.label(), &platform.to_string(), settings) {
                problems.push(error);
            }
        }
    }
    problems
}
