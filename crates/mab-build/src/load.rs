//! Putting built images into a daemon's own image store (`--load`): loading a `docker save`
//! stream (`POST /images/load`, how an image built on another daemon arrives), tagging, and
//! asking what the store is. A tag is moved only by [`Daemon::tag`], after everything is loaded.

use bollard::query_parameters::{ImportImageOptionsBuilder, TagImageOptionsBuilder};
use futures::TryStreamExt;

use crate::BuildError;
use crate::backend::ImageExport;
use crate::daemon::Daemon;

impl Daemon {
    /// The image `reference` (a name, `name:tag`, or an id) names in the daemon, if any.
    pub async fn local_image(&self, reference: &str) -> Option<LocalImage> {
        let inspect = self.docker().inspect_image(reference).await.ok()?;
        Some(LocalImage {
            id: inspect.id?,
            size: inspect.size.unwrap_or_default().max(0) as u64,
        })
    }

    /// Loads the images of a `docker save` stream into the daemon, as `docker load` does; they
    /// keep the tags the stream names (none, for an image exported by id).
    pub async fn load(&self, export: ImageExport) -> Result<(), BuildError> {
        let body = tokio_util::io::ReaderStream::new(export);
        self.docker()
            .import_image_stream(
                ImportImageOptionsBuilder::default().quiet(true).build(),
                body,
                None,
            )
            .try_for_each(|_| async { Ok(()) })
            .await
            .map_err(|e| self.daemon_error("loading an image", e))
    }

    /// Loads an OCI image layout folder (`index.json`, `oci-layout`, `blobs/`) as `docker load`
    /// does: its images keep the names its index gives them (`io.containerd.image.name`). On the
    /// containerd image store, an index of several platforms stays one image of them all.
    pub async fn load_layout(&self, dir: &std::path::Path) -> Result<(), BuildError> {
        let folder = dir.to_path_buf();
        let archive = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
            let mut file = tempfile::tempfile()?;
            {
                let mut builder = tar::Builder::new(&mut file);
                builder.follow_symlinks(false);
                builder.append_dir_all(".", &folder)?;
                builder.finish()?;
            }
            std::io::Seek::rewind(&mut file)?;
            Ok(file)
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|archive| archive)
        .map_err(|err| {
            self.daemon_error(
                format!("packing the image layout {} to load", dir.display()),
                bollard::errors::Error::IOError { err },
            )
        })?;
        self.load(Box::new(tokio::fs::File::from_std(archive)))
            .await
    }

    /// Points `repository:tag` at image `id` (`docker tag`).
    pub async fn tag(&self, id: &str, repository: &str, tag: &str) -> Result<(), BuildError> {
        let options = TagImageOptionsBuilder::default()
            .repo(repository)
            .tag(tag)
            .build();
        self.docker()
            .tag_image(id, Some(options))
            .await
            .map_err(|e| self.daemon_error(format!("tagging {id} as {repository}:{tag}"), e))
    }

    /// Whether the daemon's image store holds multi-platform images (the containerd image
    /// store of Docker 24 and later, `driver-type io.containerd.snapshotter.v1`), so that one
    /// tag can name an index of several platforms. Asked once per daemon (every build with
    /// `engine_push` wants to know).
    pub async fn holds_image_indexes(&self) -> Result<bool, BuildError> {
        self.image_indexes()
            .get_or_try_init(|| async {
                let info = self
                    .docker()
                    .info()
                    .await
                    .map_err(|e| self.daemon_error("asking for its info", e))?;
                Ok(info.driver_status.unwrap_or_default().iter().any(|pair| {
                    pair.iter()
                        .any(|v| v.starts_with("io.containerd.snapshotter"))
                }))
            })
            .await
            .copied()
    }
}

/// An image in a daemon's image store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalImage {
    /// Its id (`sha256:…` of its config).
    pub id: String,
    /// Its size unpacked, in bytes, as the daemon counts it.
    pub size: u64,
}
