//! Manifest formats, layer compressions, and the media types that name them in manifests.

/// The media types mab reads and writes.
pub mod media_types {
    /// An OCI image index.
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// An OCI image manifest.
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// An OCI image config.
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// An uncompressed OCI layer.
    pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
    /// A gzip-compressed OCI layer.
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    /// A zstd-compressed OCI layer.
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    /// A Docker manifest list.
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    /// A Docker schema 2 image manifest.
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// A Docker image config.
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    /// A gzip-compressed Docker layer.
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
}

/// Which family of media types an image and its index use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ManifestFormat {
    /// An OCI image index of OCI image manifests (the default).
    #[default]
    Oci,
    /// A Docker manifest list of Docker schema 2 manifests (what `docker manifest` writes).
    Docker,
}

impl ManifestFormat {
    /// The spelling used in plans: `oci` or `docker`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Oci => "oci",
            Self::Docker => "docker",
        }
    }

    /// The media type of the multi-platform index.
    pub fn index_media_type(self) -> &'static str {
        match self {
            Self::Oci => media_types::OCI_INDEX,
            Self::Docker => media_types::DOCKER_LIST,
        }
    }

    /// The media type of a platform's image manifest.
    pub fn manifest_media_type(self) -> &'static str {
        match self {
            Self::Oci => media_types::OCI_MANIFEST,
            Self::Docker => media_types::DOCKER_MANIFEST,
        }
    }

    /// The media type of an image config.
    pub fn config_media_type(self) -> &'static str {
        match self {
            Self::Oci => media_types::OCI_CONFIG,
            Self::Docker => media_types::DOCKER_CONFIG,
        }
    }

    /// The media type of a gzip-compressed layer.
    pub fn gzip_layer_media_type(self) -> &'static str {
        match self {
            Self::Oci => media_types::OCI_LAYER_GZIP,
            Self::Docker => media_types::DOCKER_LAYER_GZIP,
        }
    }
}

/// How layers are stored when they are pushed (those a daemon exports uncompressed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LayerCompression {
    /// gzip: what every client reads (the default).
    #[default]
    Gzip,
    /// zstd (OCI format only).
    Zstd,
    /// Uncompressed tar (OCI format only).
    None,
}

impl LayerCompression {
    /// Every compression, in the order plans list them.
    pub const ALL: [Self; 3] = [Self::Gzip, Self::Zstd, Self::None];

    /// The spelling used in plans: `gzip`, `zstd` or `none`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gzip => "gzip",
            Self::Zstd => "zstd",
            Self::None => "none",
        }
    }

    /// Whether this is gzip, the default.
    pub fn is_gzip(&self) -> bool {
        *self == Self::Gzip
    }

    /// The media type of such a layer in a manifest of `format`, or `None` when the format
    /// cannot describe it (a Docker manifest knows only gzip).
    pub fn media_type(self, format: ManifestFormat) -> Option<&'static str> {
        match (self, format) {
            (Self::Gzip, format) => Some(format.gzip_layer_media_type()),
            (Self::Zstd, ManifestFormat::Oci) => Some(media_types::OCI_LAYER_ZSTD),
            (Self::None, ManifestFormat::Oci) => Some(media_types::OCI_LAYER_TAR),
            (_, ManifestFormat::Docker) => None,
        }
    }

    /// The compression a layer media type names, if it names a layer.
    pub fn of_media_type(media_type: &str) -> Option<Self> {
        match media_type {
            media_types::OCI_LAYER_GZIP | media_types::DOCKER_LAYER_GZIP => Some(Self::Gzip),
            media_types::OCI_LAYER_ZSTD => Some(Self::Zstd),
            media_types::OCI_LAYER_TAR => Some(Self::None),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_compression_has_one_media_type_per_format_and_maps_back() {
        for compression in LayerCompression::ALL {
            for format in [ManifestFormat::Oci, ManifestFormat::Docker] {
                if let Some(media_type) = compression.media_type(format) {
                    assert_eq!(
                        LayerCompression::of_media_type(media_type),
                        Some(compression)
                    );
                }
            }
        }
        assert_eq!(
            LayerCompression::Zstd.media_type(ManifestFormat::Docker),
            None
        );
        assert_eq!(
            LayerCompression::of_media_type(media_types::OCI_CONFIG),
            None
        );
    }
}
