//! One image: every platform built and stored in every destination, then — only if all of
//! them made it — the index published in each destination.

use futures::future::join_all;
use mab_plan::ImageSpec;
use mab_platform::Platform;
use mab_registry::{IndexExtras, IndexOptions, ManifestOptions, Signer};

use crate::attest::attest_image;
use crate::job::{BuiltPlatform, Dependencies, build_platform};
use crate::publish::publish_image;
use crate::schedule::Run;
use crate::sign::signer;
use crate::{
    BuilderPool, Destination, Events, Failure, Notice, PublishedImage, PublishedPlatform,
    StoredImage,
};

/// Builds every platform of `image`, stores each in every destination, then publishes the
/// image's index in each destination. Any failure leaves every tag of the image where it was.
pub(crate) async fn build_image<B, D, E>(
    image: &ImageSpec,
    destinations: &[D],
    run: Run<'_, B, E>,
    dependencies: Dependencies,
) -> Result<Vec<PublishedImage>, Vec<Failure>>
where
    B: BuilderPool,
    D: Destination,
    E: Events,
{
    let format = image.format();
    let manifest_options = ManifestOptions {
        format,
        annotations: image.annotations().manifest().clone(),
        compression: image.compression(),
    };
    let results = join_all(image.platforms().iter().map(|platform| {
        build_platform(
            image,
            platform,
            destinations,
            run,
            &dependencies,
            &manifest_options,
        )
    }))
    .await;
    // Per destination, each platform's manifest; per platform, how it was built.
    let mut manifests: Vec<Vec<(Platform, D::Stored)>> =
        destinations.iter().map(|_| Vec::new()).collect();
    let mut built: Vec<BuiltPlatform<D::Stored>> = Vec::new();
    let mut failures = Vec::new();
    for (platform, result) in image.platforms().iter().zip(results) {
        match result {
            Ok(platform_built) => {
                for (list, stored) in manifests.iter_mut().zip(&platform_built.stored) {
                    list.push((platform.clone(), stored.clone()));
                }
                built.push(platform_built);
            }
            Err(error) => failures.push(Failure {
                platform: Some(platform.clone()),
                error,
            }),
        }
    }
    if !failures.is_empty() {
        return Err(failures);
    }
    let whole = |error| {
        vec![Failure {
            platform: None,
            error,
        }]
    };
    // Attestation manifests, stored (by digest) before the index that lists them.
    let attestations = attest_image(image, &built, destinations, run)
        .await
        .map_err(whole)?;
    let signer = signer(image, &run.options.signing_keys).map_err(whole)?;
    let index_options = IndexOptions {
        format,
        annotations: image.annotations().index().clone(),
    };
    let mut published = Vec::new();
    for ((destination, manifests), attestations) in
        destinations.iter().zip(manifests).zip(&attestations)
    {
        let extras = IndexExtras {
            attestations,
            signer: signer.as_ref().map(|s| s as &dyn Signer),
        };
        let index = publish_image(
            destination,
            &manifests,
            extras,
            image.tags(),
            &index_options,
        )
        .await
        .map_err(whole)?;
        let repository = destination.repository();
        let loaded = destination.is_local_daemon();
        if loaded {
            run.events.notice(Notice::Loaded {
                repository: &repository,
                tags: image.tags(),
                image_id: &index.digest,
                platform: manifests
                    .iter()
                    .find(|(_, stored)| stored.digest() == index.digest)
                    .map(|(platform, _)| platform),
            });
        } else {
            run.events.notice(Notice::Published {
                repository: &repository,
                digest: &index.digest,
                tags: image.tags(),
            });
        }
        published.push(PublishedImage {
            repository,
            loaded,
            tags: image.tags().to_vec(),
            digest: index.digest,
            media_type: index.media_type,
            platforms: manifests
                .iter()
                .zip(&built)
                .map(|((platform, stored), how)| PublishedPlatform {
                    platform: platform.clone(),
                    digest: stored.digest().to_string(),
                    size: stored.size(),
                    builder: how.builder.clone(),
                    emulated: how.emulated,
                    seconds: how.seconds,
                    reused: how.reused,
                })
                .collect(),
        });
    }
    let in_registries: Vec<&PublishedImage> = published.iter().filter(|p| !p.loaded).collect();
    if let [first, rest @ ..] = in_registries.as_slice()
        && rest.iter().any(|p| p.digest != first.digest)
    {
        let digests: Vec<(String, String)> = in_registries
            .iter()
            .map(|p| (p.repository.clone(), p.digest.clone()))
            .collect();
        run.events.notice(Notice::DigestsDiffer {
            image,
            digests: &digests,
        });
    }
    Ok(published)
}
