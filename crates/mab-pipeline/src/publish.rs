//! Publishing one image in one destination: the index stored by digest, then each tag moved to
//! it, then every tag read back and the whole image checked.

use mab_platform::Platform;
use mab_registry::{IndexExtras, IndexOptions, PublishedIndex};

use crate::{Destination, PipelineError};

/// Publishes the index of `manifests` (with the attestations and signatures of `extras`) in
/// `destination` under `tags`, and verifies each tag.
pub(crate) async fn publish_image<D: Destination>(
    destination: &D,
    manifests: &[(Platform, D::Stored)],
    extras: IndexExtras<'_>,
    tags: &[String],
    options: &IndexOptions,
) -> Result<PublishedIndex, PipelineError> {
    let index = destination
        .publish(manifests, extras, tags, options)
        .await
        .map_err(|source| PipelineError::Publish {
            destination: destination.describe(),
            source: source.into(),
        })?;
    // Read every tag back: it must point at this index, and the whole image must check out.
    for tag in tags {
        let report = destination
            .verify_tag(tag, &index.digest)
            .await
            .map_err(|source| PipelineError::ReadBack {
                destination: destination.describe(),
                tag: tag.clone(),
                source: source.into(),
            })?;
        if let Some(report) = report.filter(|r| !r.is_sound()) {
            return Err(PipelineError::Verification {
                destination: destination.describe(),
                tag: tag.clone(),
                problems: report.problems.join("\n  "),
            });
        }
    }
    Ok(index)
}
