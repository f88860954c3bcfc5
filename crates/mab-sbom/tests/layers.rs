//! A layer tar made of real files of this machine (its dpkg database, a Go executable of Debian's
//! `docker-registry` package) and written ones, read in odd chunk sizes.

use mab_sbom::{Finding, ImageContents, LayerScanner};

fn layer(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o755);
        header.set_cksum();
        builder.append_data(&mut header, path, *data).unwrap();
    }
    builder.into_inner().unwrap()
}

fn scan(tar: &[u8], chunk: usize) -> mab_sbom::LayerContents {
    let mut scanner = LayerScanner::new();
    for piece in tar.chunks(chunk) {
        scanner.feed(piece);
    }
    scanner.finish()
}

#[test]
fn finds_packages_distribution_and_go_modules_in_a_layer() {
    let status = std::fs::read("/var/lib/dpkg/status").expect("this machine's dpkg database");
    let registry = std::fs::read("/usr/bin/docker-registry")
        .expect("Debian's docker-registry (a Go executable) is a tool of the test environment");
    let os_release =
        b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n";
    let tar = layer(&[
        ("etc/os-release", os_release),
        ("var/lib/dpkg/status", &status),
        ("usr/bin/registry", &registry),
        (
            "lib/apk/db/installed",
            b"P:musl\nV:1.2.5-r0\nA:x86_64\nL:MIT\n\n",
        ),
        ("var/lib/rpm/rpmdb.sqlite", b"SQLite format 3\0..."),
        ("opt/.wh.old-tool", b""),
    ]);
    for chunk in [4093, 1 << 20] {
        let contents = scan(&tar, chunk);
        let Some(Finding::Dpkg { packages }) = contents.files.get("var/lib/dpkg/status") else {
            panic!("no dpkg packages: {:?}", contents.files.keys());
        };
        assert!(packages.iter().any(|p| p.name == "libc6"));
        let Some(Finding::Go {
            toolchain, path, ..
        }) = contents.files.get("usr/bin/registry")
        else {
            panic!("no Go executable: {:?}", contents.files.keys());
        };
        assert!(toolchain.starts_with("go1."), "{toolchain}");
        assert_eq!(path, "github.com/docker/distribution/cmd/registry");
        assert!(
            matches!(contents.files.get("lib/apk/db/installed"), Some(Finding::Apk { packages }) if packages.len() == 1)
        );
        assert!(matches!(
            contents.files.get("var/lib/rpm/rpmdb.sqlite"),
            Some(Finding::Unread { .. })
        ));
        assert_eq!(contents.removed, vec!["opt/old-tool".to_string()]);
        let image = ImageContents::merge([("sha256:a", Some(&contents))]);
        assert_eq!(
            image.os_release(),
            Some(("debian", "12", "Debian GNU/Linux 12 (bookworm)"))
        );
    }
}
