//! Identical images built at once on the containerd image store.
//!
//! An untagged build's image is named `moby-dangling@<its digest>` by BuildKit's image exporter
//! (moby sets that prefix), which looks the name up and creates it when it is missing. Two
//! builds that produce the same image at the same moment (two images of a plan that differ only
//! in how mab pushes them, say) both find it missing, both create it, and the later one fails
//! with containerd's `image "moby-dangling@sha256:…": already exists`, although its image is
//! there: the name is made of the very digest it built, which on this store is the image id.
//! That build is taken as having produced that image (checked by inspecting it like any build's
//! result).

/// The image id (`sha256:…`) in a build failure that only says another build named the same
/// image first; `None` for any other failure.
pub(crate) fn built_by_another(message: &str) -> Option<String> {
    let id = name_that_exists(message)?.strip_prefix("moby-dangling@")?;
    crate::daemon::is_image_id(id).then(|| id.to_string())
}

/// The name in the engine's image store's answer `image "NAME": already exists`, which two
/// builds naming the same image at the same moment get (the later one); `None` for any other
/// message.
pub(crate) fn name_that_exists(message: &str) -> Option<&str> {
    const NAME: &str = "image \"";
    const EXISTS: &str = "\": already exists";
    let end = message.find(EXISTS)?;
    let start = message[..end].rfind(NAME)? + NAME.len();
    Some(&message[start..end])
}

#[cfg(test)]
mod tests {
    use super::built_by_another;

    const ID: &str = "sha256:84654c3dc92c7757b956d51836c24dad05d80e6a0642f553e2eb9ed5490ec2a4";

    #[test]
    fn the_image_another_build_named_first_is_recognised() {
        // As Docker 28.5's BuildKit reports it on the containerd image store.
        let message = format!("image \"moby-dangling@{ID}\": already exists");
        assert_eq!(built_by_another(&message).as_deref(), Some(ID));
        let wrapped = format!("failed to export image: {message}\n");
        assert_eq!(built_by_another(&wrapped).as_deref(), Some(ID));
    }

    #[test]
    fn other_failures_are_not() {
        for message in [
            "process \"/bin/sh -c exit 1\" did not complete successfully: exit code: 1".to_string(),
            format!("image \"127.0.0.1:5000/app@{ID}\": already exists"),
            format!("image \"moby-dangling@{ID}\": not found"),
            "image \"moby-dangling@sha256:84654c\": already exists".to_string(),
            "image \"moby-dangling@latest\": already exists".to_string(),
            String::new(),
        ] {
            assert_eq!(built_by_another(&message), None, "{message}");
        }
    }
}
