//! Reads: blobs' presence, manifests and small blobs read back with their digests checked,
//! and blobs mounted or copied from another repository (for `mab manifest`).

use bytes::Bytes;
use futures::Stream;
use oci_client::errors::OciDistributionError;

use super::RemoteRepository;
use super::stall::stalled;
use crate::RegistryError;

impl RemoteRepository {
    /// Whether the repository has the blob.
    pub async fn blob_exists(&self, digest: &str) -> Result<bool, RegistryError> {
        let reference = self.reference_for_digest(digest);
        self.run(|| self.client().blob_exists(&reference, digest))
            .await
            .map_err(|e| self.error(format!("checking blob {digest} in {}", self.path), e))
    }

    /// The digest a tag names now, by HEAD (which Docker Hub does not count as a pull).
    pub(crate) async fn manifest_digest(&self, tag: &str) -> Result<String, RegistryError> {
        let auth = self.ensure_auth().await?;
        let reference = self.reference_for(tag);
        self.run(|| self.client().fetch_manifest_digest(&reference, &auth))
            .await
            .map_err(|e| match e {
                e if is_not_found(&e) => RegistryError::ManifestNotFound {
                    reference: self.describe(tag),
                    registry: self.registry.clone(),
                },
                e => self.error(format!("reading the digest of {}", self.describe(tag)), e),
            })
    }

    /// Reads a manifest or index exactly as stored, by tag or digest. Returns the bytes and their
    /// digest, checked against the digest asked for and the one the registry announced.
    pub async fn pull_manifest_raw(
        &self,
        tag_or_digest: &str,
    ) -> Result<(Bytes, String), RegistryError> {
        let auth = self.ensure_auth().await?;
        let described = self.describe(tag_or_digest);
        let reference = self.reference_for(tag_or_digest);
        let (bytes, announced) = match self
            .run(|| {
                self.client()
                    .pull_manifest_raw(&reference, &auth, READABLE_MANIFEST_TYPES)
            })
            .await
        {
            Ok(answer) => answer,
            Err(e) if is_not_found(&e) => {
                return Err(RegistryError::ManifestNotFound {
                    reference: described,
                    registry: self.registry.clone(),
                });
            }
            Err(OciDistributionError::DigestError(
                oci_client::errors::DigestError::VerificationError { expected, actual },
            )) => {
                return Err(RegistryError::DigestMismatch {
                    registry: self.registry.clone(),
                    what: format!("manifest {described}"),
                    expected,
                    actual,
                });
            }
            Err(e) => return Err(self.error(format!("reading manifest {described}"), e)),
        };
        if bytes.len() > MAX_MANIFEST_SIZE {
            return Err(RegistryError::MalformedManifest {
                reference: described,
                message: format!(
                    "it is {} bytes, more than the {} bytes a manifest may have",
                    bytes.len(),
                    MAX_MANIFEST_SIZE
                ),
            });
        }
        let actual = crate::manifest::sha256_digest(&bytes);
        let expected = [Some(announced.as_str()), reference.digest()];
        for expected in expected.into_iter().flatten() {
            if expected.starts_with("sha256:") && expected != actual {
                return Err(RegistryError::DigestMismatch {
                    registry: self.registry.clone(),
                    what: format!("manifest {described}"),
                    expected: expected.to_string(),
                    actual,
                });
            }
        }
        Ok((bytes, actual))
    }

    /// Reads a small blob (an image config) whole, refusing more than `max_size` bytes; checks
    /// its digest.
    pub async fn pull_small_blob(
        &self,
        digest: &str,
        max_size: u64,
    ) -> Result<Bytes, RegistryError> {
        let mut body = bytes::BytesMut::new();
        self.read_blob(digest, |chunk| {
            if (body.len() + chunk.len()) as u64 > max_size {
                return Err(RegistryError::MalformedManifest {
                    reference: format!("blob {digest} in {}", self.name()),
                    message: format!("it is larger than {max_size} bytes"),
                });
            }
            body.extend_from_slice(chunk);
            Ok(true)
        })
        .await?;
        Ok(body.freeze())
    }

    /// Reads a blob as it streams, handing each chunk to `each` in order (never whole in
    /// memory), which says whether to read on (`Ok(false)`: the rest is not read, nor the
    /// digest checked; an error ends the read with it); checks its digest at the end. Each
    /// chunk waits at most the registry's stall limit.
    pub(crate) async fn read_blob(
        &self,
        digest: &str,
        mut each: impl FnMut(&[u8]) -> Result<bool, RegistryError>,
    ) -> Result<(), RegistryError> {
        use sha2::Digest as _;
        let described = format!("blob {digest} in {}", self.name());
        let mut stream = self.open_blob(digest, &described).await?;
        let mut hasher = sha2::Sha256::new();
        loop {
            let Some(chunk) = self.next_chunk(&mut stream, &described).await? else {
                break;
            };
            hasher.update(&chunk);
            if !each(&chunk)? {
                return Ok(());
            }
        }
        let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
        if actual != digest {
            return Err(RegistryError::DigestMismatch {
                registry: self.registry.clone(),
                what: described,
                expected: digest.to_string(),
                actual,
            });
        }
        Ok(())
    }

    /// The last `length` bytes of a blob of `size` bytes, by a range request; `None` when the
    /// registry does not answer ranges (the body it starts to send instead is not read). The
    /// bytes are not checked against the digest: they are a hint, never content.
    pub(crate) async fn read_blob_tail(
        &self,
        digest: &str,
        size: u64,
        length: u64,
    ) -> Result<Option<Vec<u8>>, RegistryError> {
        use oci_client::client::BlobResponse;
        let described = format!("the end of blob {digest} in {}", self.name());
        let length = length.min(size);
        self.ensure_auth().await?;
        let reference = self.reference_for_digest(digest);
        let response = self
            .within(self.client().pull_blob_stream_partial(
                &reference,
                digest,
                size - length,
                Some(length),
            ))
            .await
            .map_err(|e| self.error(format!("reading {described}"), e))?;
        let mut stream = match response {
            BlobResponse::Partial(stream) => stream,
            BlobResponse::Full(_) => return Ok(None),
        };
        let mut tail = Vec::with_capacity(length as usize);
        loop {
            let Some(chunk) = self.next_chunk(&mut stream, &described).await? else {
                break;
            };
            if (tail.len() + chunk.len()) as u64 > length {
                // Not the range asked for.
                return Ok(None);
            }
            tail.extend_from_slice(&chunk);
        }
        Ok((tail.len() as u64 == length).then_some(tail))
    }

    /// The next chunk of a blob being read (`described` names it in errors); `None` at its
    /// end. Waits at most the registry's stall limit.
    async fn next_chunk(
        &self,
        stream: &mut oci_client::client::SizedStream,
        described: &str,
    ) -> Result<Option<Bytes>, RegistryError> {
        use futures::StreamExt;
        let limit = self.stall_limit();
        match tokio::time::timeout(limit, stream.next()).await {
            Ok(Some(chunk)) => chunk
                .map(Some)
                .map_err(|e| self.error(format!("reading {described}"), e.into())),
            Ok(None) => Ok(None),
            Err(_) => Err(self.error(format!("reading {described}"), stalled(limit))),
        }
    }

    /// Asks the registry to mount a blob of `source` (same registry) into this repository.
    /// `false` when it did not: a 202 answer (it opened an upload instead), or any refusal; the
    /// caller then copies the blob.
    pub async fn mount_blob_from(
        &self,
        source: &RemoteRepository,
        digest: &str,
    ) -> Result<bool, RegistryError> {
        self.ensure_auth().await?;
        let mounted = self
            .within(self.client().mount_blob(
                &self.reference_for_digest(digest),
                &source.reference_for_digest(digest),
                digest,
            ))
            .await
            .is_ok();
        Ok(mounted && self.blob_exists(digest).await?)
    }

    /// Copies a blob from `source` into this repository as a stream (never whole in memory),
    /// checking its digest on the way.
    pub async fn copy_blob_from(
        &self,
        source: &RemoteRepository,
        digest: &str,
        size: u64,
    ) -> Result<(), RegistryError> {
        let described = format!("blob {digest} of {}", source.name());
        let stream = source.open_blob(digest, &described).await?;
        let body = verify_stream(stream, digest.to_string());
        let (stored, stored_size) = self
            .upload_stream(body, || format!("copying {described} to {}", self.path))
            .await?;
        if stored != digest || stored_size != size {
            return Err(RegistryError::DigestMismatch {
                registry: source.registry.clone(),
                what: described,
                expected: format!("{digest} ({size} bytes)"),
                actual: format!("{stored} ({stored_size} bytes)"),
            });
        }
        Ok(())
    }
    /// A blob of this repository as a stream (`described` names it in errors); a blob the
    /// registry does not have is [`RegistryError::BlobNotFound`].
    async fn open_blob(
        &self,
        digest: &str,
        described: &str,
    ) -> Result<oci_client::client::SizedStream, RegistryError> {
        self.ensure_auth().await?;
        let reference = self.reference_for_digest(digest);
        match self
            .within(self.client().pull_blob_stream(&reference, digest))
            .await
        {
            Ok(stream) => Ok(stream),
            Err(e) if is_not_found(&e) => Err(RegistryError::BlobNotFound {
                digest: digest.to_string(),
                repository: self.name(),
                registry: self.registry.clone(),
            }),
            Err(e) => Err(self.error(format!("reading {described}"), e)),
        }
    }
}

/// The largest manifest mab accepts (the OCI distribution spec's recommended limit).
const MAX_MANIFEST_SIZE: usize = 4 * 1024 * 1024;

/// The manifest media types mab reads from registries.
const READABLE_MANIFEST_TYPES: &[&str] = &[
    crate::manifest::media_types::DOCKER_MANIFEST,
    crate::manifest::media_types::DOCKER_LIST,
    crate::manifest::media_types::OCI_MANIFEST,
    crate::manifest::media_types::OCI_INDEX,
];

/// Whether a registry answer means "there is no such manifest (or repository)".
fn is_not_found(error: &OciDistributionError) -> bool {
    use oci_client::errors::OciErrorCode;
    match error {
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            matches!(
                e.code,
                OciErrorCode::ManifestUnknown
                    | OciErrorCode::NameUnknown
                    | OciErrorCode::NotFound
                    | OciErrorCode::BlobUnknown
            )
        }),
        OciDistributionError::ServerError { code, .. } => *code == 404,
        _ => false,
    }
}

/// Passes a byte stream through, and ends it with an error if its sha256 is not `expected`.
fn verify_stream(
    stream: impl Stream<Item = Result<Bytes, std::io::Error>> + Send + Unpin + 'static,
    expected: String,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    use futures::StreamExt;
    use sha2::Digest;
    let start = Some((stream, sha2::Sha256::new(), expected));
    futures::stream::unfold(start, |state| async move {
        let (mut stream, mut hasher, expected) = state?;
        match stream.next().await {
            Some(Ok(bytes)) => {
                hasher.update(&bytes);
                Some((Ok(bytes), Some((stream, hasher, expected))))
            }
            Some(Err(e)) => Some((Err(e), None)),
            None => {
                let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
                (actual != expected).then(|| {
                    let message = format!("the blob has digest {actual}, expected {expected}");
                    (Err(std::io::Error::other(message)), None)
                })
            }
        }
    })
}
