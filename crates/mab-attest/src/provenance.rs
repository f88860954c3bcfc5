//! The SLSA provenance v1 predicate of one platform image built by mab.
//!
//! `buildDefinition` says what was built from what: the plan file and its digest, the build
//! context's content digest, the Dockerfile and its digest, the stage, build args, labels, the
//! ids (never the values) of the secrets and ssh agents the build could mount, and each base
//! image by digest. `runDetails` says who built it when: the builder (name, daemon endpoint,
//! engine version), mab's version, the start and end times. The statement's key is made of the
//! subject and `buildDefinition` only: a rerun that builds the same image from the same inputs
//! on another builder says nothing new about it.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde_json::{Value, json};

use crate::statement::{PREDICATE_PROVENANCE, Statement, Subject};
use crate::time::rfc3339;

/// The build type mab's provenance describes.
pub const BUILD_TYPE: &str = "urn:mab:build:docker-image:v1";

/// A file the build read, by digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInput {
    /// Its path, relative to the plan's folder (`/`-separated).
    pub path: String,
    /// `sha256:…` of its contents (for a folder: of the content digest mab computes).
    pub digest: String,
}

/// A base image a `FROM` of the build named.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BaseImage {
    /// As the Dockerfile (after build args) names it.
    pub reference: String,
    /// The platform it was taken for (the build's own for `FROM --platform=$BUILDPLATFORM`).
    pub platform: String,
    /// `registry/repository@sha256:…` of its image for the platform, when its registry said.
    pub by_digest: Option<String>,
    /// The image id the daemon built from (`sha256:…` of its config), when known.
    pub image_id: Option<String>,
}

/// Who built the image, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuilderRun {
    /// The builder's name (the plan's, or `default`).
    pub name: String,
    /// Its daemon's endpoint, e.g. `unix:///var/run/docker.sock`.
    pub endpoint: String,
    /// The engine's version, e.g. `20.10.24` (empty when unknown).
    pub engine_version: String,
    /// mab's version.
    pub mab_version: String,
    /// When the build started.
    pub started: SystemTime,
    /// When the image was stored.
    pub finished: SystemTime,
}

/// Everything the provenance of one platform image says.
#[derive(Debug, Clone)]
pub struct ProvenanceInput {
    /// The platform manifest.
    pub subject: Subject,
    /// Every repository the image is published to.
    pub repositories: Vec<String>,
    /// `os/arch[/variant]`.
    pub platform: String,
    /// The plan file.
    pub plan: FileInput,
    /// The build context.
    pub context: FileInput,
    /// The Dockerfile.
    pub dockerfile: FileInput,
    /// The stage built, when not the last.
    pub target: Option<String>,
    /// The build args.
    pub build_args: BTreeMap<String, String>,
    /// The labels added.
    pub labels: BTreeMap<String, String>,
    /// The ids of the secrets the build could mount (never their values).
    pub secret_ids: Vec<String>,
    /// The ids of the ssh agents the build could use.
    pub ssh_ids: Vec<String>,
    /// `buildkit` or `classic`.
    pub frontend: String,
    /// Built without the daemon's cache.
    pub no_cache: bool,
    /// Every base image, as resolved for the platform.
    pub bases: Vec<BaseImage>,
    /// The run.
    pub run: BuilderRun,
}

/// The provenance statement of one platform image.
pub fn provenance(input: &ProvenanceInput) -> Statement {
    let definition = build_definition(input);
    let run = &input.run;
    let predicate = json!({
        "buildDefinition": definition,
        "runDetails": {
            "builder": {
                "id": run.endpoint,
                "name": run.name,
                "version": { "docker": run.engine_version, "mab": run.mab_version },
            },
            "metadata": {
                "startedOn": rfc3339(run.started),
                "finishedOn": rfc3339(run.finished),
            },
        },
    });
    Statement::new(
        &input.subject,
        PREDICATE_PROVENANCE,
        predicate,
        &json!({ "buildDefinition": definition }),
    )
}

fn build_definition(input: &ProvenanceInput) -> Value {
    let file = |role: &str, file: &FileInput| {
        json!({
            "name": role,
            "uri": format!("file:{}", file.path),
            "digest": digest_set(&file.digest),
        })
    };
    let mut dependencies = vec![
        file("plan", &input.plan),
        file("context", &input.context),
        file("dockerfile", &input.dockerfile),
    ];
    let mut bases = input.bases.clone();
    bases.sort();
    bases.dedup();
    for base in &bases {
        let mut entry = json!({
            "name": "base",
            "uri": format!(
                "pkg:docker/{}?platform={}",
                base.reference,
                base.platform.replace('/', "%2F")
            ),
        });
        if let Some((_, digest)) = base.by_digest.as_deref().and_then(|r| r.split_once('@')) {
            entry["digest"] = digest_set(digest);
        }
        if let Some(id) = &base.image_id {
            entry["annotations"] = json!({ "imageID": id });
        }
        dependencies.push(entry);
    }
    json!({
        "buildType": BUILD_TYPE,
        "externalParameters": {
            "plan": input.plan.path,
            "repositories": input.repositories,
            "platform": input.platform,
            "context": input.context.path,
            "dockerfile": input.dockerfile.path,
            "target": input.target,
            "buildArgs": input.build_args,
            "labels": input.labels,
            "secrets": input.secret_ids,
            "ssh": input.ssh_ids,
        },
        "internalParameters": {
            "frontend": input.frontend,
            "noCache": input.no_cache,
        },
        "resolvedDependencies": dependencies,
    })
}

/// `{"sha256": "HEX"}` of `sha256:HEX`.
fn digest_set(digest: &str) -> Value {
    match digest.split_once(':') {
        Some((algorithm, hex)) => json!({ algorithm: hex }),
        None => json!({}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    pub(crate) fn input() -> ProvenanceInput {
        ProvenanceInput {
            subject: Subject {
                name: "pkg:docker/127.0.0.1:5000/demo/app?platform=linux%2Farm64%2Fv8".into(),
                digest: format!("sha256:{}", "ab".repeat(32)),
            },
            repositories: vec!["127.0.0.1:5000/demo/app".into()],
            platform: "linux/arm64/v8".into(),
            plan: FileInput {
                path: "plan.yaml".into(),
                digest: format!("sha256:{}", "11".repeat(32)),
            },
            context: FileInput {
                path: "app".into(),
                digest: format!("sha256:{}", "22".repeat(32)),
            },
            dockerfile: FileInput {
                path: "app/Dockerfile".into(),
                digest: format!("sha256:{}", "33".repeat(32)),
            },
            target: None,
            build_args: BTreeMap::from([("GREETING".into(), "hello".into())]),
            labels: BTreeMap::new(),
            secret_ids: vec!["npm".into()],
            ssh_ids: Vec::new(),
            frontend: "buildkit".into(),
            no_cache: false,
            bases: vec![BaseImage {
                reference: "127.0.0.1:5000/mab-base/busybox:latest".into(),
                platform: "linux/arm64/v8".into(),
                by_digest: Some(format!(
                    "127.0.0.1:5000/mab-base/busybox@sha256:{}",
                    "44".repeat(32)
                )),
                image_id: None,
            }],
            run: BuilderRun {
                name: "local".into(),
                endpoint: "unix:///var/run/docker.sock".into(),
                engine_version: "20.10.24".into(),
                mab_version: "0.1.0".into(),
                started: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
                finished: UNIX_EPOCH + Duration::from_secs(1_700_000_042),
            },
        }
    }

    #[test]
    fn the_statement_says_what_was_built_from_what() {
        let statement = provenance(&input());
        insta::assert_snapshot!(String::from_utf8(statement.bytes.clone()).unwrap());
    }

    #[test]
    fn the_key_leaves_out_who_built_it_when_but_not_what_from() {
        let first = provenance(&input());
        let mut later = input();
        later.run.started += Duration::from_secs(3600);
        later.run.finished += Duration::from_secs(3600);
        later.run.name = "other".into();
        let later = provenance(&later);
        assert_ne!(first.bytes, later.bytes);
        assert_eq!(first.key, later.key);
        let mut changed = input();
        changed.build_args.insert("GREETING".into(), "hi".into());
        assert_ne!(provenance(&changed).key, first.key);
    }
}
