//! What a build's result depends on, as one digest: the build key.
//!
//! When a later run asks a daemon for a build with the same key and the daemon still has the
//! image the earlier build made, building again could only give that image back (every step
//! would come from the build cache), so the caller may take it as built (`mab-pipeline`
//! remembers keys between runs). The key covers the daemon (endpoint, engine version) and the
//! builder used there, the platform, the Dockerfile's text, each external base as the digest its
//! registry names for its platform now, the build args, labels, target, cache sources and
//! inline cache, the ids of the secrets and ssh agents offered, and the context's contents
//! (`context_digest`: every file's bytes and mode, not its times).
//!
//! When the engine pushes as it builds, the key also covers the manifest it is asked for (media
//! types and layer compression: on the containerd image store the image id is that manifest's
//! digest), not where it is pushed: a rerun takes the image and reads its manifest back from
//! the registry rather than pushing again.
//!
//! A build has no key (it always runs) when it asks to build afresh (`no_cache`, `pull`), when
//! a base's registry cannot say which image it names, and
//! when the Dockerfile reads what the key cannot see: a `# syntax=` frontend (its tag may move),
//! an `ADD` of a URL or git repository, or a `COPY --from=`/`RUN --mount=from=` of an image. Like BuildKit's own cache, the key does not cover
//! the values of secrets.

use std::collections::BTreeMap;

use sha2::{Digest as _, Sha256};

use crate::BuildError;
use crate::backend::{BuilderKind, read_dockerfile, with_platform_args};
#[cfg(doc)]
use crate::context_digest;
use crate::daemon::{BaseResolver, BuildRequest, BuiltImage, Daemon, base_platform};
use crate::dockerfile::Dockerfile;

/// Bumped when what the key covers changes, so that no older key matches a newer meaning.
const KEY_VERSION: &str = "mab build key 1";

impl Daemon {
    /// The build key of `request` on this daemon (`sha256:…`), with each base resolved through
    /// `bases` and `context` the digest of its context folder ([`context_digest`], which the
    /// caller reads once for all the builds of that folder); `None` when the build has none
    /// (see the module).
    pub async fn build_key(
        &self,
        request: &BuildRequest,
        bases: &dyn BaseResolver,
        context: &str,
    ) -> Result<Option<String>, BuildError> {
        if request.no_cache || request.pull {
            return Ok(None);
        }
        let text = read_dockerfile(&request.dockerfile).await?;
        let dockerfile = Dockerfile::parse(
            &request.dockerfile,
            &text,
            &with_platform_args(self, request),
        )?;
        if dockerfile.syntax().is_some()
            || dockerfile.reads_remote_sources()
            || dockerfile.reads_other_images()
        {
            return Ok(None);
        }
        let mut pinned = Vec::new();
        for base in dockerfile.base_images() {
            let wanted = base_platform(&base, &request.platform);
            let Some(image) = bases.platform_image(&base.reference, &wanted).await else {
                return Ok(None);
            };
            pinned.push((base.reference.clone(), wanted.to_string(), image));
        }
        Ok(Some(
            KeyInputs {
                daemon: self.endpoint(),
                engine: self.engine_version(),
                builder: self.builder_for(request.builder),
                request,
                dockerfile: &text,
                bases: &pinned,
                context,
            }
            .digest(),
        ))
    }

    /// The image `id` an earlier build of `request` made, if the daemon still has it and it is
    /// of the request's platform.
    pub async fn remembered_image(&self, id: &str, request: &BuildRequest) -> Option<BuiltImage> {
        self.checked_image(
            id.to_string(),
            &request.platform,
            self.builder_for(request.builder),
        )
        .await
        .ok()
    }
}

/// Everything a build key covers.
struct KeyInputs<'a> {
    daemon: &'a str,
    engine: &'a str,
    builder: BuilderKind,
    request: &'a BuildRequest,
    dockerfile: &'a str,
    /// Each external base: its reference, the platform it is pulled for, the image named.
    bases: &'a [(String, String, String)],
    context: &'a str,
}

impl KeyInputs<'_> {
    fn digest(&self) -> String {
        let mut hash = Sha256::new();
        // Every field length-prefixed, so that no two different inputs run together the same.
        let mut field = |name: &str, value: &str| {
            for part in [name, value] {
                hash.update((part.len() as u64).to_le_bytes());
                hash.update(part.as_bytes());
            }
        };
        let request = self.request;
        field("version", KEY_VERSION);
        field("daemon", self.daemon);
        field("engine", self.engine);
        field("builder", &format!("{:?}", self.builder));
        field("platform", &request.platform.to_string());
        field("dockerfile", self.dockerfile);
        for (reference, platform, image) in self.bases {
            field("base", reference);
            field("base platform", platform);
            field("base image", image);
        }
        let map =
            |name: &str, values: &BTreeMap<String, String>, field: &mut dyn FnMut(&str, &str)| {
                for (key, value) in values {
                    field(name, key);
                    field("=", value);
                }
            };
        map("build arg", &request.build_args, &mut field);
        map("label", &request.labels, &mut field);
        field("target", request.target.as_deref().unwrap_or(""));
        for source in &request.cache_from {
            field("cache from", source);
        }
        field("inline cache", if request.inline_cache { "1" } else { "0" });
        for secret in &request.secrets {
            field("secret", &secret.id);
        }
        for agent in &request.ssh {
            field("ssh", &agent.id);
        }
        if let Some(push) = &request.engine_push {
            field("engine push format", &format!("{:?}", push.format));
            field(
                "engine push compression",
                &format!("{:?}", push.compression),
            );
        }
        field("context", self.context);
        format!("sha256:{}", hex::encode(hash.finalize()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> BuildRequest {
        BuildRequest {
            context_dir: "/ctx".into(),
            dockerfile: "/ctx/Dockerfile".into(),
            platform: "linux/arm64".parse().unwrap(),
            build_args: BTreeMap::from([("A".into(), "1".into()), ("B".into(), "2".into())]),
            target: None,
            labels: BTreeMap::new(),
            no_cache: false,
            pull: false,
            builder: BuilderKind::BuildKit,
            secrets: Vec::new(),
            ssh: Vec::new(),
            cache_from: Vec::new(),
            inline_cache: false,
            pull_repositories: Vec::new(),
            engine_push: None,
        }
    }

    fn engine_push(repositories: &[&str]) -> crate::EnginePush {
        crate::EnginePush {
            repositories: repositories.iter().map(|r| r.to_string()).collect(),
            format: mab_vocab::ManifestFormat::Docker,
            compression: mab_vocab::LayerCompression::Gzip,
            stall_limit: std::time::Duration::from_secs(60),
        }
    }

    fn key(request: &BuildRequest, dockerfile: &str, base: &str, context: &str) -> String {
        KeyInputs {
            daemon: "unix:///var/run/docker.sock",
            engine: "28.5.2",
            builder: request.builder,
            request,
            dockerfile,
            bases: &[("alpine".into(), "linux/arm64".into(), base.into())],
            context,
        }
        .digest()
    }

    #[test]
    fn every_input_changes_the_key_and_nothing_else_does() {
        let base = request();
        let same = key(&base, "FROM alpine", "alpine@sha256:aa", "sha256:c1");
        assert_eq!(
            same,
            key(&base, "FROM alpine", "alpine@sha256:aa", "sha256:c1")
        );
        assert!(same.starts_with("sha256:") && same.len() == 71, "{same}");
        let mut changed = vec![
            key(&base, "FROM alpine\n", "alpine@sha256:aa", "sha256:c1"),
            key(&base, "FROM alpine", "alpine@sha256:bb", "sha256:c1"),
            key(&base, "FROM alpine", "alpine@sha256:aa", "sha256:c2"),
        ];
        type Change = Box<dyn Fn(&mut BuildRequest)>;
        let variants: Vec<Change> = vec![
            Box::new(|r| r.platform = "linux/amd64".parse().unwrap()),
            Box::new(|r| {
                r.build_args.insert("A".into(), "3".into());
            }),
            Box::new(|r| {
                r.labels.insert("A".into(), "1".into());
            }),
            Box::new(|r| r.target = Some("build".into())),
            Box::new(|r| r.cache_from = vec!["r.example/app:cache".into()]),
            Box::new(|r| r.inline_cache = true),
            Box::new(|r| r.builder = BuilderKind::Classic),
            Box::new(|r| r.engine_push = Some(engine_push(&["r.example/a"]))),
            Box::new(|r| {
                r.secrets = vec![crate::BuildSecret {
                    id: "token".into(),
                    value: crate::SecretValue::new(b"x".to_vec()),
                }]
            }),
        ];
        for variant in &variants {
            let mut request = request();
            variant(&mut request);
            changed.push(key(
                &request,
                "FROM alpine",
                "alpine@sha256:aa",
                "sha256:c1",
            ));
        }
        for (i, other) in changed.iter().enumerate() {
            assert_ne!(&same, other, "change {i} left the key alone");
        }
        // Where the engine pushes is not what it builds; the manifest it is asked for is.
        let pushed = |push: crate::EnginePush| {
            let mut request = request();
            request.engine_push = Some(push);
            key(&request, "FROM alpine", "alpine@sha256:aa", "sha256:c1")
        };
        let mut elsewhere = engine_push(&["r.example/b", "r.example/c"]);
        elsewhere.stall_limit = std::time::Duration::from_secs(1);
        assert_eq!(pushed(engine_push(&["r.example/a"])), pushed(elsewhere));
        let mut oci = engine_push(&["r.example/a"]);
        oci.format = mab_vocab::ManifestFormat::Oci;
        let mut zstd = engine_push(&["r.example/a"]);
        zstd.compression = mab_vocab::LayerCompression::Zstd;
        let pushes = [
            pushed(engine_push(&["r.example/a"])),
            pushed(oci),
            pushed(zstd),
        ];
        assert!(pushes[0] != pushes[1] && pushes[0] != pushes[2] && pushes[1] != pushes[2]);
        // A build arg moved into a label (the same words elsewhere) is another key.
        let mut moved = request();
        let value = moved.build_args.remove("B").unwrap();
        moved.labels.insert("B".into(), value);
        assert_ne!(
            same,
            key(&moved, "FROM alpine", "alpine@sha256:aa", "sha256:c1")
        );
    }
}
