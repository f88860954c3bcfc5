//! The engine pushes: BuildKit's image exporter, asked through `POST /build`'s `outputs`, stores
//! the built image in the registry by digest (`push-by-digest`: no tag, nothing for a half-pushed
//! set to be named by), with the credentials of mab's build session, so the daemon keeps none.
//! On the containerd image store the content store already holds the compressed layers, so this
//! skips `docker save` and mab's recompression: the engine sends its blobs as they are.
//!
//! Only the export's phase is watched here: a push that moves nothing for the stall limit, or
//! that fails, is reported as [`EnginePushOutcome::Failed`], and the backend builds again without
//! it (cached) so that mab's own pusher, with its retries and limits, takes over.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bollard_buildkit_proto::moby::buildkit::v1::StatusResponse;

use mab_vocab::{LayerCompression, ManifestFormat};

/// Asks the engine to push the image it builds, by digest, to these repositories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnginePush {
    /// Repositories (`registry/path`, no tag), each of which gets the image's manifest and blobs.
    pub repositories: Vec<String>,
    /// The manifest's media types.
    pub format: ManifestFormat,
    /// How layers are compressed (a layer the engine holds otherwise is compressed again).
    pub compression: LayerCompression,
    /// How long the export and push may show no progress before they are given up.
    pub stall_limit: Duration,
}

impl EnginePush {
    /// The `outputs` parameter of `POST /build` (URL-encoded JSON): the image exporter with
    /// push by digest.
    pub(crate) fn outputs_query(&self) -> String {
        let mut attrs = serde_json::Map::new();
        let mut put = |key: &str, value: &str| {
            attrs.insert(key.to_string(), serde_json::Value::from(value));
        };
        put("name", &self.repositories.join(","));
        put("push", "true");
        put("push-by-digest", "true");
        // The image is also named `REPOSITORY@DIGEST` in the engine's store: the bare
        // `REPOSITORY` name is what every build of that repository takes in turn, so without it
        // the image of one platform loses its only name to another platform's build running at
        // the same time, and the engine removes it before mab could check it.
        put("name-canonical", "true");
        put(
            "oci-mediatypes",
            match self.format {
                ManifestFormat::Oci => "true",
                ManifestFormat::Docker => "false",
            },
        );
        put(
            "compression",
            match self.compression {
                LayerCompression::Gzip => "gzip",
                LayerCompression::Zstd => "zstd",
                LayerCompression::None => "uncompressed",
            },
        );
        // Without it BuildKit sends any variant its store holds of a layer (a zstd one another
        // build made), whatever `compression` says; with it, a layer it holds in the asked
        // compression is still sent as it is.
        put("force-compression", "true");
        let outputs = serde_json::json!([{ "type": "image", "attrs": attrs }]);
        form_urlencoded::byte_serialize(outputs.to_string().as_bytes()).collect()
    }
}

/// Whether an engine push failed only because another build of the same repository named its
/// image in the engine's store at the same moment: the exporter looks the name up, finds it
/// missing and creates it, and the engine's store answers the later of two such builds
/// `image "REPOSITORY": already exists` (also for `REPOSITORY@DIGEST`). Nothing was pushed yet
/// (the push follows the naming): exporting again, from the cache, names and pushes the image.
pub(crate) fn lost_naming_race(message: &str, push: &EnginePush) -> bool {
    let Some(name) = super::dangling::name_that_exists(message) else {
        return false;
    };
    let repository = name
        .split_once('@')
        .map_or(name, |(repository, _)| repository);
    push.repositories.iter().any(|r| r == repository)
}

/// Whether an engine push failed on a blob that another push was uploading to the same
/// repository at the same moment: two platforms of one image often share a layer (the same file
/// copied into both), their exports push it at once, and the registry or the engine's content
/// store answers one of them with a digest mismatch or an unknown blob or upload (moby/buildkit
/// #3856). The blob is there once the other push ends: exporting again (from the cache) finds it
/// and pushes the rest. Not a sign that the engine cannot reach the registry.
pub(crate) fn lost_upload_race(message: &str) -> bool {
    const RACES: [&str; 5] = [
        "provided digest did not match uploaded content",
        "blob unknown to registry",
        "blob upload unknown",
        "unexpected commit digest",
        "digest_invalid",
    ];
    let message = message.to_ascii_lowercase();
    RACES.iter().any(|race| message.contains(race))
}

/// The race an engine push lost (see [`lost_naming_race`] and [`lost_upload_race`]), in words
/// for the line saying the image is exported again; `None` when it failed otherwise.
pub(crate) fn lost_race(message: &str, push: &EnginePush) -> Option<&'static str> {
    if lost_naming_race(message, push) {
        Some(
            "another build of the same repository was naming its image in the engine at the \
             same moment",
        )
    } else if lost_upload_race(message) {
        Some("another push was uploading the same blob to the registry at the same moment")
    } else {
        None
    }
}

/// Whether a BuildKit status update shows the build's export (and push) under way: its steps
/// are done.
fn exporting(status: &StatusResponse) -> bool {
    status
        .vertexes
        .iter()
        .any(|v| v.name.starts_with("exporting to image") || v.name.starts_with("pushing"))
}

/// How an engine push went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EnginePushOutcome {
    /// The build did not get as far as its export.
    NotStarted,
    /// The export started and the build ended well: the image is in every repository.
    Pushed,
    /// The export started and then failed or stalled.
    Failed(String),
}

/// Follows the BuildKit status of a build (read while the stream is): whether its export has
/// started, so its steps are done (and, when the export pushes, the push is under way).
#[derive(Debug, Default)]
pub(crate) struct ExportWatch {
    started: AtomicBool,
}

impl ExportWatch {
    /// Takes one status update in.
    pub(crate) fn saw(&self, status: &StatusResponse) {
        if exporting(status) {
            self.started.store(true, Ordering::Relaxed);
        }
    }

    /// Whether the export (and so the push) has started.
    pub(crate) fn started(&self) -> bool {
        self.started.load(Ordering::Relaxed)
    }

    /// The outcome of a build that ended with `failure` (its message) or well.
    pub(crate) fn outcome(&self, failure: Option<&str>) -> EnginePushOutcome {
        match (self.started(), failure) {
            (false, _) => EnginePushOutcome::NotStarted,
            (true, None) => EnginePushOutcome::Pushed,
            (true, Some(message)) => EnginePushOutcome::Failed(message.trim().to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use bollard_buildkit_proto::moby::buildkit::v1::Vertex;

    use super::*;

    fn push(format: ManifestFormat, compression: LayerCompression) -> EnginePush {
        EnginePush {
            repositories: vec!["127.0.0.1:5000/a".into(), "127.0.0.1:5000/b".into()],
            format,
            compression,
            stall_limit: Duration::from_secs(60),
        }
    }

    fn decoded(query: &str) -> serde_json::Value {
        let pair = format!("outputs={query}");
        let (_, json) = form_urlencoded::parse(pair.as_bytes())
            .next()
            .expect("one parameter");
        serde_json::from_str(&json).unwrap()
    }

    #[test]
    fn the_outputs_push_by_digest_to_every_repository_in_the_asked_format() {
        let docker = decoded(&push(ManifestFormat::Docker, LayerCompression::Gzip).outputs_query());
        assert_eq!(
            docker,
            serde_json::json!([{"type": "image", "attrs": {
                "name": "127.0.0.1:5000/a,127.0.0.1:5000/b",
                "push": "true",
                "push-by-digest": "true",
                "name-canonical": "true",
                "oci-mediatypes": "false",
                "compression": "gzip",
                "force-compression": "true",
            }}])
        );
        let oci = decoded(&push(ManifestFormat::Oci, LayerCompression::Zstd).outputs_query());
        assert_eq!(oci[0]["attrs"]["oci-mediatypes"], "true");
        assert_eq!(oci[0]["attrs"]["compression"], "zstd");
        assert_eq!(oci[0]["attrs"]["force-compression"], "true");
        let query = push(ManifestFormat::Oci, LayerCompression::None).outputs_query();
        assert!(!query.contains(['"', ',', ':', '{', ' ']), "{query}");
        assert_eq!(decoded(&query)[0]["attrs"]["compression"], "uncompressed");
    }

    #[test]
    fn a_blob_lost_to_another_upload_is_a_race_to_export_again() {
        for message in [
            // Docker 28.5 pushing two platforms sharing a layer to distribution 2.8.
            "failed to push 127.0.0.1:35703/e2e/lint: errors:\nunknown: provided digest did not \
             match uploaded content\nunknown: blob unknown to registry - sha256:bbd8e5ac",
            "failed commit on ref \"layer-sha256:5fc8\": unexpected commit digest sha256:e581, \
             expected sha256:5fc8: failed precondition",
            "unexpected status: 404 Not Found: BLOB_UPLOAD_UNKNOWN: blob upload unknown",
        ] {
            assert!(lost_upload_race(message), "{message}");
        }
        for message in [
            "failed to do request: Head \"https://127.0.0.1:5000/v2/\": http: server gave HTTP \
             response to HTTPS client",
            "failed to authorize: 401 Unauthorized",
            "failed to push 127.0.0.1:5000/a: unexpected status: 500",
            "",
        ] {
            assert!(!lost_upload_race(message), "{message}");
        }
    }

    #[test]
    fn a_name_taken_by_another_build_of_the_repository_is_a_race_to_export_again() {
        let push = push(ManifestFormat::Docker, LayerCompression::Gzip);
        for message in [
            "image \"127.0.0.1:5000/a\": already exists",
            "failed to export image: image \"127.0.0.1:5000/b\": already exists\n",
            "image \"127.0.0.1:5000/a@sha256:84654c3dc92c7757b956d51836c24dad05d80e6a\": already exists",
        ] {
            assert!(lost_naming_race(message, &push), "{message}");
        }
        for message in [
            "image \"127.0.0.1:5000/c\": already exists",
            "image \"moby-dangling@sha256:84654c3dc92c7757b956d51836c24dad05d80e6a\": already exists",
            "image \"127.0.0.1:5000/a\": not found",
            "failed to push 127.0.0.1:5000/a: unexpected status: 500",
            "",
        ] {
            assert!(!lost_naming_race(message, &push), "{message}");
        }
    }

    #[test]
    fn only_a_failure_after_the_export_started_is_the_pushs() {
        let watch = ExportWatch::default();
        let status = |name: &str| StatusResponse {
            vertexes: vec![Vertex {
                name: name.to_string(),
                ..Default::default()
            }],
            ..Default::default()
        };
        watch.saw(&status("[2/2] RUN make"));
        assert_eq!(
            watch.outcome(Some("process did not complete")),
            EnginePushOutcome::NotStarted
        );
        watch.saw(&status("exporting to image"));
        assert!(watch.started());
        assert_eq!(watch.outcome(None), EnginePushOutcome::Pushed);
        assert_eq!(
            watch.outcome(Some(" failed to push 127.0.0.1:5000/a: 500 \n")),
            EnginePushOutcome::Failed("failed to push 127.0.0.1:5000/a: 500".into())
        );
    }
}
