//! The attestations of one image: per platform, the statements its plan asks for (SLSA
//! provenance, SPDX SBOM) with that platform's manifest digest as subject, stored as its
//! attestation manifest in every destination before the index is published.
//!
//! Determinism: a statement records when it was made, so two runs never write the same one.
//! Each statement is remembered in the layer cache under a digest of what it says with its
//! times left out (for provenance: the subject and `buildDefinition`; for an SBOM: the subject
//! and the document); a later run that would say the same about the same image reuses the
//! remembered statement, times and all: the attestation manifests, and so the index digest,
//! stay the same. Without the cache (a fresh CI machine) a rerun writes new times, new
//! attestation manifests and a new index digest over the same platform images.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mab_attest::{BuilderRun, FileInput, ProvenanceInput, Subject, provenance, sbom};
use mab_plan::ImageSpec;
use mab_platform::Platform;
use mab_registry::{LayerCache, Statement, StoredAttestation};
use mab_sbom::ImageContents;
use sha2::{Digest, Sha256};

use crate::job::BuiltPlatform;
use crate::schedule::Run;
use crate::{BuilderPool, Destination, Events, PipelineError, StoredImage};

/// The attestation manifests of `image`, per destination (in order), one per platform; empty
/// lists when the image asks for none.
pub(crate) async fn attest_image<B, D, E>(
    image: &ImageSpec,
    built: &[BuiltPlatform<D::Stored>],
    destinations: &[D],
    run: Run<'_, B, E>,
) -> Result<Vec<Vec<StoredAttestation>>, PipelineError>
where
    B: BuilderPool,
    D: Destination,
    E: Events,
{
    let mut stored: Vec<Vec<StoredAttestation>> = destinations.iter().map(|_| Vec::new()).collect();
    let asked = image.attestations();
    if !asked.any() {
        return Ok(stored);
    }
    let inputs = Inputs::read(image, run.plan_file).await?;
    for (platform, how) in image.platforms().iter().zip(built) {
        // Statements by subject digest (the same in every destination, unless exports differed).
        let mut made: BTreeMap<String, Vec<Statement>> = BTreeMap::new();
        for ((destination, list), subject) in destinations.iter().zip(&mut stored).zip(&how.stored)
        {
            let digest = subject.digest().to_string();
            if !made.contains_key(&digest) {
                let mut statements = Vec::new();
                let subject_of = Subject {
                    name: format!(
                        "pkg:docker/{}?platform={}",
                        image.repository(),
                        platform.to_string().replace('/', "%2F")
                    ),
                    digest: digest.clone(),
                };
                let cache = run.options.layer_cache.as_ref();
                if asked.provenance() {
                    let input = inputs
                        .provenance(image, platform, how, subject_of.clone(), run)
                        .await?;
                    statements.push(settle(cache, provenance(&input)).await);
                }
                if asked.sbom() {
                    let contents = ImageContents::merge(subject.layer_contents());
                    let document = sbom(
                        &subject_of,
                        &image.repository().to_string(),
                        &contents,
                        &run.options.mab_version,
                        how.record.finished,
                    );
                    statements.push(settle(cache, document).await);
                }
                made.insert(digest.clone(), statements);
            }
            let attestation =
                destination
                    .attach(subject, &made[&digest])
                    .await
                    .map_err(|source| PipelineError::Attest {
                        platform: platform.to_string(),
                        destination: destination.describe(),
                        source: source.into(),
                    })?;
            list.extend(attestation);
        }
    }
    Ok(stored)
}

/// A statement as stored: the one remembered under its key if there is one, else this one
/// (then remembered).
async fn settle(cache: Option<&LayerCache>, statement: mab_attest::Statement) -> Statement {
    if let Some(cache) = cache {
        if let Some(bytes) = cache.attestation(&statement.key).await {
            return Statement {
                predicate_type: statement.predicate_type,
                bytes: bytes.to_vec(),
            };
        }
        cache
            .remember_attestation(&statement.key, &statement.bytes)
            .await;
    }
    Statement {
        predicate_type: statement.predicate_type,
        bytes: statement.bytes,
    }
}

/// What the provenance of every platform of one image shares: the plan file, and the content
/// digests of contexts and Dockerfiles (read once each).
struct Inputs {
    plan_dir: PathBuf,
    plan: FileInput,
    digests: tokio::sync::Mutex<BTreeMap<PathBuf, String>>,
}

impl Inputs {
    async fn read(image: &ImageSpec, plan_file: &Path) -> Result<Self, PipelineError> {
        let plan_dir = plan_file.parent().unwrap_or(Path::new("")).to_path_buf();
        let bytes =
            tokio::fs::read(plan_file)
                .await
                .map_err(|source| PipelineError::AttestationInput {
                    image: image.label(),
                    path: plan_file.to_path_buf(),
                    source,
                })?;
        let name = plan_file.file_name().map_or_else(
            || plan_file.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        Ok(Self {
            plan_dir,
            plan: FileInput {
                path: name,
                digest: sha256(&bytes),
            },
            digests: tokio::sync::Mutex::new(BTreeMap::new()),
        })
    }

    /// `path` relative to the plan's folder, `/`-separated (as is when it is elsewhere).
    fn relative(&self, path: &Path) -> String {
        let relative = path.strip_prefix(&self.plan_dir).unwrap_or(path);
        let text = relative.to_string_lossy().replace('\\', "/");
        if text.is_empty() {
            ".".to_string()
        } else {
            text
        }
    }

    /// The digest of a Dockerfile (`folder: false`) or a context's contents (`folder: true`).
    async fn digest(
        &self,
        image: &ImageSpec,
        path: &Path,
        folder: bool,
    ) -> Result<String, PipelineError> {
        if let Some(known) = self.digests.lock().await.get(path) {
            return Ok(known.clone());
        }
        let digest = if folder {
            let dir = path.to_path_buf();
            tokio::task::spawn_blocking(move || mab_build::context_digest(&dir))
                .await
                .map_err(|e| PipelineError::AttestationInput {
                    image: image.label(),
                    path: path.to_path_buf(),
                    source: std::io::Error::other(e),
                })??
        } else {
            let bytes =
                tokio::fs::read(path)
                    .await
                    .map_err(|source| PipelineError::AttestationInput {
                        image: image.label(),
                        path: path.to_path_buf(),
                        source,
                    })?;
            sha256(&bytes)
        };
        self.digests
            .lock()
            .await
            .insert(path.to_path_buf(), digest.clone());
        Ok(digest)
    }

    async fn provenance<B, S, E>(
        &self,
        image: &ImageSpec,
        platform: &Platform,
        how: &BuiltPlatform<S>,
        subject: Subject,
        run: Run<'_, B, E>,
    ) -> Result<ProvenanceInput, PipelineError> {
        let settings = image.build_for(platform);
        let context = FileInput {
            path: self.relative(settings.context_dir()),
            digest: self.digest(image, settings.context_dir(), true).await?,
        };
        let dockerfile = FileInput {
            path: self.relative(settings.dockerfile()),
            digest: self.digest(image, settings.dockerfile(), false).await?,
        };
        let record = &how.record;
        Ok(ProvenanceInput {
            subject,
            repositories: image.repositories().iter().map(|r| r.to_string()).collect(),
            platform: platform.to_string(),
            plan: self.plan.clone(),
            context,
            dockerfile,
            target: settings.target().map(str::to_string),
            build_args: settings.build_args().clone(),
            labels: settings.labels().clone(),
            secret_ids: settings
                .secrets()
                .iter()
                .map(|s| s.id().to_string())
                .collect(),
            ssh_ids: settings.ssh().iter().map(|s| s.id().to_string()).collect(),
            frontend: settings.backend().as_str().to_string(),
            no_cache: settings.no_cache() || run.options.no_cache,
            bases: record.bases.clone(),
            run: BuilderRun {
                name: record.builder.clone(),
                endpoint: record.endpoint.clone(),
                engine_version: record.engine_version.clone(),
                mab_version: run.options.mab_version.clone(),
                started: record.started,
                finished: record.finished,
            },
        })
    }
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}
