//! The JSON Schema of the plan format, for editors (`mab plan schema`).
//!
//! The plan is not read through serde structs (see [`crate::tree`]), so the schema is generated
//! from a mirror of the format's shape: the types below. A test checks that each mapping of the
//! mirror has exactly the keys that [`crate::raw`] reads, so the two cannot drift apart.

#![allow(dead_code)] // The mirror types are never built: only their schema is used.

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

/// The JSON Schema of the plan format, pretty-printed, ending with a newline.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(PlanFile);
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema is JSON");
    text.push('\n');
    text
}

/// A mab plan: which images to build, for which platforms, and where to push them.
#[derive(JsonSchema)]
#[schemars(title = "mab plan", deny_unknown_fields)]
struct PlanFile {
    /// The version of the plan format: 1.
    version: Version,
    /// Settings per registry `host[:port]` (exactly as it appears in repositories), e.g.
    /// `"127.0.0.1:5000": { insecure: true }`. Credentials never go here: they come from the
    /// docker config and credential helpers.
    registries: Option<BTreeMap<String, Option<RegistryFile>>>,
    /// The Docker daemons that build the jobs (default: the daemon of `DOCKER_HOST`, else the
    /// local socket). Each (image, platform) goes to a builder that builds the platform
    /// natively, else to one that can emulate it; builders of one platform share its jobs.
    #[schemars(length(min = 1))]
    builders: Option<Vec<BuilderFile>>,
    /// Settings every image gets unless it gives its own (`build_args`, `labels` and
    /// `annotations` are merged name by name, the image's winning).
    defaults: Option<DefaultsFile>,
    /// The images to build (at least one).
    #[schemars(length(min = 1))]
    images: Vec<ImageFile>,
}

/// `1`, the only version so far.
struct Version;

impl JsonSchema for Version {
    fn schema_name() -> Cow<'static, str> {
        "Version".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "const": 1 })
    }
}

/// A string; numbers and booleans are taken in their written spelling (`1.10` is "1.10").
struct Scalar;

impl JsonSchema for Scalar {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "Scalar".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": ["string", "number", "boolean"] })
    }
}

/// A string in which `${VAR}`, `${VAR:-default}`, `${GIT_SHA}` and `${GIT_TAG}` are expanded
/// (`$$` is a literal `$`).
type Expanded = Scalar;

/// Settings of one registry host.
#[derive(JsonSchema)]
#[schemars(rename = "Registry", deny_unknown_fields)]
struct RegistryFile {
    /// Talk plain HTTP to this registry instead of HTTPS (default false).
    insecure: Option<bool>,
    /// A PEM file of certificate authorities to trust for this registry, relative to the plan's
    /// folder.
    ca_cert: Option<Expanded>,
    /// How long a request to this registry may move no bytes (none of its body taken, no
    /// answer) before it is given up and tried again: seconds (`90`) or `30s`, `2m`, `1h`
    /// (default 60s; `mab build --stall-limit` overrides it).
    stall_limit: Option<Scalar>,
}

/// A Docker daemon that builds some of the plan's jobs.
#[derive(JsonSchema)]
#[schemars(rename = "Builder", deny_unknown_fields)]
struct BuilderFile {
    /// A unique name for messages and `mab builders ls` (letters, digits, `.`, `_`, `-`).
    name: Expanded,
    /// Where its daemon listens: `unix:///var/run/docker.sock`, `tcp://host:port` (with `tls`
    /// for a daemon started with `--tlsverify`) or `ssh://[user@]host[:port]` (the remote user
    /// must be able to run `docker system dial-stdio`). Either this or `context`.
    endpoint: Option<Expanded>,
    /// The name of a Docker context (`docker context ls`) whose daemon this builder is: its
    /// endpoint and TLS files as the docker CLI stores them. Either this or `endpoint`.
    context: Option<Expanded>,
    /// The platforms it builds natively, `os/arch[/variant]` (default: asked from the daemon).
    #[schemars(length(min = 1))]
    platforms: Option<Vec<String>>,
    /// How many jobs it runs at once (default: as many as its daemon has CPUs, at least 2).
    #[schemars(range(min = 1))]
    max_jobs: Option<u32>,
    /// The TLS client identity for a `tcp://` daemon started with `--tlsverify`.
    tls: Option<TlsFile>,
}

/// PEM files of a TLS client identity, relative to the plan's folder.
#[derive(JsonSchema)]
#[schemars(rename = "Tls", deny_unknown_fields)]
struct TlsFile {
    /// The CA that signed the daemon's certificate (`ca.pem`).
    ca: Expanded,
    /// The client certificate (`cert.pem`).
    cert: Expanded,
    /// The client key (`key.pem`).
    key: Expanded,
}

/// Settings for every image: an image's own replace them (`build_args`, `labels`,
/// `annotations`, `secrets` and `ssh` are merged instead, the image's winning).
#[derive(JsonSchema)]
#[schemars(rename = "Defaults", deny_unknown_fields)]
struct DefaultsFile {
    #[serde(flatten)]
    image: ImageSettingsFile,
    #[serde(flatten)]
    platform: PlatformSettingsFile,
}

/// One image, built for each of its platforms and published as one index under each tag.
#[derive(JsonSchema)]
#[schemars(rename = "Image", deny_unknown_fields)]
struct ImageFile {
    /// Where the image is published, e.g. `ghcr.io/team/app` (no tag).
    repository: Option<Expanded>,
    /// Several repositories that all get the same manifests and index (instead of
    /// `repository`).
    #[schemars(length(min = 1))]
    repositories: Option<Vec<Expanded>>,
    /// The repository path under each of `registries` (instead of `repository`).
    name: Option<Expanded>,
    #[serde(flatten)]
    sources: SourcesFile,
    #[serde(flatten)]
    image: ImageSettingsFile,
    #[serde(flatten)]
    platform: PlatformSettingsFile,
    /// Images of this plan (by one of their repositories or their `name`) that this one is
    /// built after, e.g. because its Dockerfile starts `FROM` one of them.
    #[schemars(length(min = 1))]
    depends_on: Option<Vec<Expanded>>,
    /// Settings for single platforms, keyed by platform, e.g.
    /// `linux/arm64: { dockerfile: Dockerfile.arm64 }`.
    overrides: Option<BTreeMap<String, Option<OverrideFile>>>,
}

/// One platform's build settings, over the image's.
#[derive(JsonSchema)]
#[schemars(rename = "Override", deny_unknown_fields)]
struct OverrideFile {
    #[serde(flatten)]
    sources: SourcesFile,
    #[serde(flatten)]
    platform: PlatformSettingsFile,
}

/// What an image (or one of its platforms) is built from.
#[derive(JsonSchema)]
struct SourcesFile {
    /// The build context, relative to the plan's folder (default `.`).
    context: Option<Expanded>,
    /// The Dockerfile, relative to the context (default `Dockerfile`).
    dockerfile: Option<Expanded>,
    /// The stage of a multi-stage Dockerfile to build (default: the last).
    target: Option<Expanded>,
}

/// The settings of a whole image, that `defaults` may give every image.
#[derive(JsonSchema)]
struct ImageSettingsFile {
    /// Registries (with an optional namespace, e.g. `ghcr.io/team`) an image given by `name` is
    /// pushed to: each gets `REGISTRY/NAME`.
    #[schemars(length(min = 1))]
    registries: Option<Vec<Expanded>>,
    /// Target platforms, `os/arch[/variant]`, e.g. `linux/amd64`, `linux/arm64`, `linux/arm/v7`
    /// (required in the image or in `defaults`).
    #[schemars(length(min = 1))]
    platforms: Option<Vec<String>>,
    /// Tags to publish the index under (default `[latest]`).
    #[schemars(length(min = 1))]
    tags: Option<Vec<Tag>>,
    /// Labels of the image config (`--label`); merged name by name.
    labels: Option<BTreeMap<String, Expanded>>,
    /// Annotations of the index and of each platform's manifest (OCI format only); merged name
    /// by name.
    annotations: Option<AnnotationsFile>,
    /// Build without the daemon's build cache (default false).
    no_cache: Option<bool>,
    /// Pull base images even when the daemon has them (default false).
    pull: Option<bool>,
    /// Where the build's cache goes: `inline` puts BuildKit's cache metadata into the image
    /// itself (`BUILDKIT_INLINE_CACHE=1`), so that the pushed image can be a later build's
    /// `cache_from` (the only kind the Docker daemon's build API exports). The classic
    /// builder needs nothing: its images always serve as cache.
    cache_to: Option<CacheTo>,
    /// Which builder of the daemon builds: `buildkit` (default) or `classic` (no `RUN
    /// --mount`, so no `secrets` and no `ssh`).
    builder: Option<Backend>,
    /// `oci` (default): OCI index and manifests; `docker`: Docker manifest list and schema 2.
    format: Option<Format>,
    /// How layers are stored: `gzip` (default, every client reads it), `zstd` or `none`
    /// (`zstd` and `none` need `format: oci`).
    compression: Option<Compression>,
    /// In-toto attestations attached to each platform's image in the index, as BuildKit
    /// attaches them (`format: oci` only); each one merged over the defaults'.
    attestations: Option<AttestationsFile>,
    /// Sign the published index (and, with `manifests: true`, each platform's manifest) with a
    /// cosign key, as `cosign sign --key` does; `false` turns the defaults' off.
    sign: Option<Sign>,
}

/// The settings that `defaults`, an image and each of its platforms may give, merged id by id
/// (or name by name), the later level winning.
#[derive(JsonSchema)]
struct PlatformSettingsFile {
    /// `--build-arg` values; merged name by name over the level above.
    build_args: Option<BTreeMap<String, Expanded>>,
    /// Images whose build cache the build may use (`--cache-from`), e.g. the image a previous
    /// run pushed with `cache_to: inline`: `repository[:tag][@digest]`. An image that is not
    /// there yet is left out with a note. A platform's list replaces the image's.
    #[schemars(length(min = 1))]
    cache_from: Option<Vec<Expanded>>,
    /// Secrets the build may mount (`RUN --mount=type=secret,id=ID`), as `--secret`: where
    /// each value is read when the image is built, never the value; merged id by id over the
    /// level above.
    #[schemars(length(min = 1))]
    secrets: Option<Vec<SecretFile>>,
    /// ssh agents or keys the build may use (`RUN --mount=type=ssh`), as `--ssh`; merged id by
    /// id over the level above.
    #[schemars(length(min = 1))]
    ssh: Option<Vec<Ssh>>,
}

/// A build secret: its id and where its value is read (exactly one of `env` and `file`).
#[derive(JsonSchema)]
#[schemars(
    rename = "Secret",
    deny_unknown_fields,
    extend("oneOf" = [{ "required": ["env"] }, { "required": ["file"] }])
)]
struct SecretFile {
    /// The id the Dockerfile mounts it by (letters, digits, `-`, `_`, `.`), unique in a list.
    id: Scalar,
    /// The name of the environment variable that holds the value, read when the image is
    /// built (e.g. `NPM_TOKEN`, not `${NPM_TOKEN}`).
    env: Option<String>,
    /// A file that holds the value, relative to the plan's folder.
    file: Option<Expanded>,
}

/// `default` (the ssh agent of `SSH_AUTH_SOCK`), or an id with agent sockets or private keys.
#[derive(JsonSchema)]
#[serde(untagged)]
enum Ssh {
    /// `default`: the ssh agent of `SSH_AUTH_SOCK` when the image is built, under the id
    /// `default`.
    Agent(AgentWord),
    /// `{ id: ID, paths: [PATH, ...] }`.
    Paths(SshFile),
}

/// The word `default`.
struct AgentWord;

impl JsonSchema for AgentWord {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "AgentWord".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "const": "default" })
    }
}

/// ssh agent sockets or private key files the build may use under one id.
#[derive(JsonSchema)]
#[schemars(rename = "SshPaths", deny_unknown_fields)]
struct SshFile {
    /// The id the Dockerfile mounts them by (letters, digits, `-`, `_`, `.`), unique in a list.
    id: Scalar,
    /// Agent sockets or private key files, relative to the plan's folder.
    #[schemars(length(min = 1))]
    paths: Vec<Expanded>,
}

/// A tag, or a semver version expanded to several tags.
#[derive(JsonSchema)]
#[serde(untagged)]
enum Tag {
    /// A tag: letters, digits, `_`, `.` and `-`, at most 128 characters, not starting with `.`
    /// or `-`.
    Plain(Expanded),
    /// `{ semver: "1.2.3" }`: the tags `1.2.3`, `1.2` and `1`.
    Semver(SemverTagFile),
}

/// `{ semver: VERSION, latest: BOOL }`: `1.2.3` (or `v1.2.3`) is published as `1.2.3`, `1.2`
/// and `1` (and `latest` with `latest: true`); a pre-release such as `1.2.3-rc.1` only as
/// itself.
#[derive(JsonSchema)]
#[schemars(rename = "SemverTag", deny_unknown_fields)]
struct SemverTagFile {
    /// The version, e.g. `"1.2.3"` or `"${GIT_TAG}"`.
    semver: Expanded,
    /// Also publish `latest` (not for a pre-release; default false).
    latest: Option<bool>,
}

/// Annotations at the level they go to.
#[derive(JsonSchema)]
#[schemars(rename = "Annotations", deny_unknown_fields)]
struct AnnotationsFile {
    /// Annotations of the image index.
    index: Option<BTreeMap<String, Expanded>>,
    /// Annotations of each platform's image manifest.
    manifest: Option<BTreeMap<String, Expanded>>,
}

/// Which in-toto statements are attached to each platform's image.
#[derive(JsonSchema)]
#[schemars(rename = "Attestations", deny_unknown_fields)]
struct AttestationsFile {
    /// A SLSA provenance v1 statement: the plan, context, Dockerfile, build args, base images
    /// by digest, builder, times and mab's version (default false).
    provenance: Option<bool>,
    /// An SPDX 2.3 document of the packages (dpkg, apk, rpm) and Go and Rust modules the image
    /// holds (default false).
    sbom: Option<bool>,
}

/// `{ key: PATH, manifests: BOOL }`, or `false`.
#[derive(JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "SignOrOff")]
enum Sign {
    /// Do not sign (turns the defaults' `sign` off).
    Off(NoSign),
    /// Sign with a cosign key.
    With(SignFile),
}

/// The word `false`.
struct NoSign;

impl JsonSchema for NoSign {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "NoSign".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "const": false })
    }
}

/// A cosign private key and what it signs.
#[derive(JsonSchema)]
#[schemars(rename = "Sign", deny_unknown_fields)]
struct SignFile {
    /// The private key `cosign generate-key-pair` wrote, relative to the plan's folder; its
    /// password is read from `COSIGN_PASSWORD` when the plan is built.
    key: Expanded,
    /// Also sign each platform's manifest (default false: the index only).
    manifests: Option<bool>,
}

/// The kind of index and manifests to publish.
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Format {
    /// OCI image index and manifests.
    Oci,
    /// Docker manifest list and schema 2 manifests.
    Docker,
}

/// Which builder of the daemon builds.
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Backend {
    /// BuildKit: `RUN --mount`, secrets, ssh, `FROM --platform=$BUILDPLATFORM`.
    Buildkit,
    /// The classic builder, which Docker has deprecated.
    Classic,
}

/// Where a build's cache goes.
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
enum CacheTo {
    /// Into the image config (BuildKit's inline cache).
    Inline,
}

/// How layers are compressed.
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Compression {
    /// gzip (`tar+gzip` layers): what every client reads.
    Gzip,
    /// zstd (`tar+zstd` layers): smaller and faster to unpack; needs containerd or Docker 23+.
    Zstd,
    /// Uncompressed `tar` layers: fastest to push on a fast network.
    None,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw;

    fn keys(schema: &serde_json::Value) -> Vec<String> {
        let mut keys: Vec<String> = schema["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("no properties in {schema:#}"))
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    }

    fn sorted(keys: &[&str]) -> Vec<String> {
        let mut keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        keys.sort();
        keys
    }

    #[test]
    fn the_schema_has_the_keys_the_parser_reads() {
        let schema: serde_json::Value = serde_json::from_str(&json_schema()).unwrap();
        assert_eq!(keys(&schema), sorted(raw::PLAN_KEYS));
        let defs = &schema["$defs"];
        let cases = [
            ("Image", raw::IMAGE_KEYS),
            ("Defaults", raw::DEFAULTS_KEYS),
            ("Registry", raw::REGISTRY_KEYS),
            ("Builder", raw::BUILDER_KEYS),
            ("Tls", raw::TLS_KEYS),
            ("Override", raw::OVERRIDE_KEYS),
            ("Annotations", raw::ANNOTATION_KEYS),
            ("SemverTag", raw::SEMVER_TAG_KEYS),
            ("Secret", raw::SECRET_KEYS),
            ("SshPaths", raw::SSH_KEYS),
            ("Attestations", raw::ATTESTATION_KEYS),
            ("Sign", raw::SIGN_KEYS),
        ];
        for (name, want) in cases {
            assert_eq!(keys(&defs[name]), sorted(want), "{name}");
            assert_eq!(defs[name]["additionalProperties"], false, "{name}");
        }
        assert_eq!(schema["required"], serde_json::json!(["version", "images"]));
    }
}
