//! Writes: blobs uploaded as one streamed `PATCH` (the upload protocol oci-client has no API
//! for), small blobs and manifests.

use std::sync::Arc;

use bytes::Bytes;
use futures::Stream;
use http::{Method, StatusCode};
use oci_client::errors::OciDistributionError;

use super::RemoteRepository;
use super::retry::parse_retry_after;
use super::stall::{Activity, stalled};
use crate::RegistryError;

impl RemoteRepository {
    /// Uploads a blob whose digest is computed on the way: one upload session, the whole blob in
    /// one streamed `PATCH` (chunked transfer encoding, as the docker CLI sends layers), then the
    /// digest in the closing `PUT`. One request per blob instead of one per few MiB: the
    /// registry writes while the bytes arrive, and no round trip waits between requests.
    ///
    /// The session's start and its commit are retried here; a failure while the bytes flow
    /// fails this upload (the caller may start a new one from the start of the blob). A
    /// `PATCH` that moves no bytes (none of the body taken, no answer) for the stall limit is
    /// given up. A commit whose answer was lost is found stored by `HEAD`.
    pub async fn push_blob_stream(
        &self,
        stream: impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    ) -> Result<(String, u64), RegistryError> {
        self.upload_stream(stream, || format!("uploading a layer to {}", self.path))
            .await
    }

    /// [`Self::push_blob_stream`], failing as `action` says.
    pub(super) async fn upload_stream(
        &self,
        stream: impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
        action: impl Fn() -> String,
    ) -> Result<(String, u64), RegistryError> {
        use futures::TryStreamExt as _;
        use sha2::Digest as _;
        let fail = |e| self.error(action(), e);
        let authorization = self.push_authorization().await?;
        let start = self.blob_uploads_url().map_err(fail)?;
        let location = self
            .run(|| self.bodiless(Method::POST, &start, &authorization, StatusCode::ACCEPTED))
            .await
            .map_err(fail)?;

        let hashed = Arc::new(std::sync::Mutex::new((sha2::Sha256::new(), 0u64)));
        let hashing = hashed.clone();
        let activity = Arc::new(Activity::new());
        let moved = Arc::clone(&activity);
        let body = stream.inspect_ok(move |chunk| {
            moved.touch();
            let mut state = hashing.lock().expect("the hasher is never poisoned");
            state.0.update(chunk);
            state.1 += chunk.len() as u64;
        });
        let limit = self.stall_limit();
        let sending = async {
            let response = self
                .authorized(self.http().patch(location.clone()), &authorization)
                .header(http::header::CONTENT_TYPE, "application/octet-stream")
                .body(reqwest::Body::wrap_stream(body))
                .send()
                .await?;
            activity.touch();
            upload_location(&location, response, StatusCode::ACCEPTED, &|wait| {
                self.retry_after(wait)
            })
            .await
        };
        // Dropping `sending` drops the request; its body then fails with the upload attempt
        // (see `crate::spill`), so the connection ends too.
        let location = tokio::select! {
            sent = sending => sent.map_err(fail)?,
            () = activity.stalled(limit) => return Err(fail(stalled(limit))),
        };
        let (digest, size) = {
            let mut state = hashed.lock().expect("the hasher is never poisoned");
            let hasher = std::mem::take(&mut state.0);
            (
                format!("sha256:{}", hex::encode(hasher.finalize())),
                state.1,
            )
        };

        let mut commit = location;
        commit.query_pairs_mut().append_pair("digest", &digest);
        // Asked again: a long upload can outlive a short-lived token.
        let authorization = self.push_authorization().await?;
        self.commit(&commit, &authorization, &digest)
            .await
            .map_err(fail)?;
        Ok((digest, size))
    }

    /// The closing `PUT` of an upload, tried again on passing failures; when it fails, a `HEAD`
    /// tells whether the registry stored the blob all the same (the answer was lost on the
    /// way: trying the `PUT` again would find no upload session).
    async fn commit(
        &self,
        url: &reqwest::Url,
        authorization: &Option<http::HeaderValue>,
        digest: &str,
    ) -> Result<(), OciDistributionError> {
        let reference = self.reference_for_digest(digest);
        self.retrying(|| async {
            let put = self
                .within(self.bodiless(Method::PUT, url, authorization, StatusCode::CREATED))
                .await;
            let Err(e) = put else { return Ok(()) };
            match self
                .within(self.client().blob_exists(&reference, digest))
                .await
            {
                Ok(true) => Ok(()),
                _ => Err(e),
            }
        })
        .await
    }

    /// An upload request without a body (a session's start, its commit), tried once; the
    /// `Location` it answers.
    async fn bodiless(
        &self,
        method: Method,
        url: &reqwest::Url,
        authorization: &Option<http::HeaderValue>,
        expected: StatusCode,
    ) -> Result<reqwest::Url, OciDistributionError> {
        let request = self.http().request(method, url.clone());
        let response = self
            .authorized(request, authorization)
            .header(http::header::CONTENT_LENGTH, 0)
            .send()
            .await?;
        upload_location(url, response, expected, &|wait| self.retry_after(wait)).await
    }

    /// `…/v2/<path>/blobs/uploads/` of this repository.
    fn blob_uploads_url(&self) -> Result<reqwest::Url, OciDistributionError> {
        let url = format!(
            "{}/v2/{}/blobs/uploads/",
            self.registry_url(),
            self.reference_for_tag("latest").repository()
        );
        reqwest::Url::parse(&url).map_err(|e| OciDistributionError::UrlParseError(e.to_string()))
    }

    /// Uploads a small blob whose digest is known.
    pub async fn push_blob(&self, data: Bytes, digest: &str) -> Result<(), RegistryError> {
        let reference = self.reference_for_digest(digest);
        self.run(|| self.client().push_blob(&reference, data.clone(), digest))
            .await
            .map_err(|e| self.error(format!("uploading blob {digest} to {}", self.path), e))?;
        Ok(())
    }

    /// Stores manifest bytes under a tag or a digest (`sha256:…`).
    pub async fn push_manifest(
        &self,
        tag_or_digest: &str,
        body: Vec<u8>,
        media_type: &str,
    ) -> Result<(), RegistryError> {
        let reference = if tag_or_digest.starts_with("sha256:") {
            self.reference_for_digest(tag_or_digest)
        } else {
            self.reference_for_tag(tag_or_digest)
        };
        let content_type: http::HeaderValue = media_type
            .parse()
            .expect("media types are valid header values");
        let body = Bytes::from(body);
        self.run(|| {
            self.client()
                .push_manifest_raw(&reference, body.clone(), content_type.clone())
        })
        .await
        .map_err(|e| self.error(format!("pushing manifest {}:{tag_or_digest}", self.path), e))?;
        Ok(())
    }
}

/// The `Location` of an upload session from a response that must have `expected` status (a
/// relative location is resolved against `url`, the request's).
async fn upload_location(
    url: &reqwest::Url,
    response: reqwest::Response,
    expected: http::StatusCode,
    retry_after: &(dyn Fn(std::time::Duration) + Sync),
) -> Result<reqwest::Url, OciDistributionError> {
    let status = response.status();
    if matches!(status.as_u16(), 429 | 503)
        && let Some(wait) = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after)
    {
        retry_after(wait);
    }
    if status != expected {
        let message = response.text().await.unwrap_or_default();
        return Err(match status.as_u16() {
            401 => OciDistributionError::UnauthorizedError {
                url: url.to_string(),
            },
            code => OciDistributionError::ServerError {
                code,
                url: url.to_string(),
                message: message.chars().take(512).collect(),
            },
        });
    }
    let Some(location) = response.headers().get(http::header::LOCATION) else {
        return Ok(url.clone());
    };
    let location = location.to_str().map_err(|_| {
        OciDistributionError::SpecViolationError("the Location header is not text".to_string())
    })?;
    url.join(location).map_err(|e| {
        OciDistributionError::SpecViolationError(format!("Location {location:?}: {e}"))
    })
}
