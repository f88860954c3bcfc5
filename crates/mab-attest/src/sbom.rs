//! The SPDX 2.3 document of one platform image: the image as the described package, and every
//! package and module its layers hold (as `mab-sbom` found them, layers merged), each with a
//! package URL and where in the image it was found. What could not be read (layers mab did not
//! see uncompressed, rpm databases, old Go executables) is said in the document's comment:
//! an SBOM that lists less than the image holds says so.

use std::collections::BTreeSet;
use std::time::SystemTime;

use mab_sbom::{Finding, ImageContents, Package};
use serde_json::{Value, json};

use crate::statement::{PREDICATE_SPDX, Statement, Subject};
use crate::time::rfc3339;

/// The version of what mab writes in an SBOM: a change makes earlier SBOMs unfit for reuse.
pub const SBOM_GENERATOR: &str = "mab-sbom-1";

/// The SPDX statement of one platform image: `image_name` (its first repository) and
/// `contents`, found in its layers. `created` is the document's creation time.
pub fn sbom(
    subject: &Subject,
    image_name: &str,
    contents: &ImageContents,
    tool_version: &str,
    created: SystemTime,
) -> Statement {
    let hex = subject
        .digest
        .strip_prefix("sha256:")
        .unwrap_or(&subject.digest);
    let distro = contents.os_release();
    let mut packages = vec![json!({
        "SPDXID": "SPDXRef-Image",
        "name": image_name,
        "versionInfo": subject.digest,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "primaryPackagePurpose": "CONTAINER",
        "checksums": [{ "algorithm": "SHA256", "checksumValue": hex }],
        "externalRefs": [purl_ref(&format!(
            "pkg:oci/{}@sha256%3A{hex}?repository_url={}",
            image_name.rsplit('/').next().unwrap_or(image_name),
            encode(image_name)
        ))],
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": "SPDXRef-Image",
    })];
    let mut unread: Vec<String> = contents
        .unread_layers
        .iter()
        .map(|(position, diff_id)| format!("layer {} ({diff_id}) was not read", position + 1))
        .collect();
    let mut add = |package: &Package, purl: String, purpose: &str, found_in: String| {
        let id = format!("SPDXRef-Package-{}", packages.len());
        let mut entry = json!({
            "SPDXID": id,
            "name": package.name,
            "versionInfo": package.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "primaryPackagePurpose": purpose,
            "sourceInfo": found_in,
            "externalRefs": [purl_ref(&purl)],
        });
        if let Some(supplier) = &package.supplier {
            entry["supplier"] = json!(format!("Organization: {supplier}"));
        }
        if let Some(homepage) = &package.homepage {
            entry["homepage"] = json!(homepage);
        }
        relationships.push(json!({
            "spdxElementId": "SPDXRef-Image",
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
        packages.push(entry);
    };
    let (distro_id, distro_version) = distro.map_or(("", ""), |(id, version, _)| (id, version));
    for (path, finding) in &contents.files {
        let found_in = |what: &str| format!("{what} /{path}");
        match finding {
            Finding::Dpkg { packages } => {
                for package in packages {
                    let purl = os_purl("deb", distro_id.or("debian"), distro_version, package);
                    add(package, purl, "APPLICATION", found_in("the dpkg database"));
                }
            }
            Finding::Apk { packages } => {
                for package in packages {
                    let purl = os_purl("apk", distro_id.or("alpine"), distro_version, package);
                    add(package, purl, "APPLICATION", found_in("the apk database"));
                }
            }
            Finding::Go {
                toolchain,
                path: main_path,
                main,
                deps,
            } => {
                let binary = path.trim_end_matches("#go");
                let found = format!("the Go build information of /{binary}");
                let stdlib = Package::new("stdlib", toolchain.trim_start_matches("go"));
                add(&stdlib, go_purl(&stdlib), "LIBRARY", found.clone());
                let main = main.clone().unwrap_or_else(|| Package::new(main_path, ""));
                add(&main, go_purl(&main), "APPLICATION", found.clone());
                for dep in deps {
                    add(dep, go_purl(dep), "LIBRARY", found.clone());
                }
            }
            Finding::Rust { packages } => {
                let binary = path.trim_end_matches("#go");
                for crate_ in packages.iter().filter(|p| !p.build_only) {
                    let purl = match crate_.source.as_str() {
                        "crates.io" => format!(
                            "pkg:cargo/{}@{}",
                            crate_.package.name,
                            encode(&crate_.package.version)
                        ),
                        _ => format!(
                            "pkg:generic/{}@{}",
                            crate_.package.name,
                            encode(&crate_.package.version)
                        ),
                    };
                    let purpose = if crate_.root {
                        "APPLICATION"
                    } else {
                        "LIBRARY"
                    };
                    add(
                        &crate_.package,
                        purl,
                        purpose,
                        format!("the cargo auditable data of /{binary}"),
                    );
                }
            }
            Finding::Unread { reason } => unread.push(format!("/{path}: {reason}")),
            Finding::OsRelease { .. } => {}
        }
    }
    let distribution = distro
        .map(|(_, _, pretty)| format!("Distribution: {pretty}. "))
        .unwrap_or_default();
    let comment = if unread.is_empty() {
        format!("{distribution}Every layer of the image was read.")
    } else {
        let unique: BTreeSet<&String> = unread.iter().collect();
        format!(
            "{distribution}Incomplete: {}.",
            unique.into_iter().cloned().collect::<Vec<_>>().join("; ")
        )
    };
    let document = |created: &str| {
        json!({
            "spdxVersion": "SPDX-2.3",
            "dataLicense": "CC0-1.0",
            "SPDXID": "SPDXRef-DOCUMENT",
            "name": format!("{image_name}@{}", subject.digest),
            "documentNamespace": format!("https://spdx.org/spdxdocs/mab/{hex}"),
            "creationInfo": {
                "created": created,
                "creators": [format!("Tool: mab-{tool_version}")],
                "comment": comment,
            },
            "comment": comment,
            "packages": packages,
            "relationships": relationships,
        })
    };
    let timeless = json!([SBOM_GENERATOR, document("")]);
    Statement::new(
        subject,
        PREDICATE_SPDX,
        document(&rfc3339(created)),
        &timeless,
    )
}

trait OrDefault<'a> {
    fn or(self, default: &'a str) -> &'a str;
}

impl<'a> OrDefault<'a> for &'a str {
    fn or(self, default: &'a str) -> &'a str {
        if self.is_empty() { default } else { self }
    }
}

fn purl_ref(purl: &str) -> Value {
    json!({
        "referenceCategory": "PACKAGE-MANAGER",
        "referenceType": "purl",
        "referenceLocator": purl,
    })
}

/// `pkg:deb/debian/curl@7.88.1-10?arch=arm64&distro=debian-12` (and `apk` alike).
fn os_purl(kind: &str, namespace: &str, distro_version: &str, package: &Package) -> String {
    let mut purl = format!(
        "pkg:{kind}/{}/{}@{}",
        encode(namespace),
        encode(&package.name),
        encode(&package.version)
    );
    let mut qualifiers = Vec::new();
    if let Some(arch) = &package.arch {
        qualifiers.push(format!("arch={}", encode(arch)));
    }
    if !distro_version.is_empty() {
        qualifiers.push(format!(
            "distro={}-{}",
            encode(namespace),
            encode(distro_version)
        ));
    }
    if !qualifiers.is_empty() {
        purl.push('?');
        purl.push_str(&qualifiers.join("&"));
    }
    purl
}

fn go_purl(package: &Package) -> String {
    if package.version.is_empty() {
        format!("pkg:golang/{}", package.name)
    } else {
        format!("pkg:golang/{}@{}", package.name, encode(&package.version))
    }
}

/// Percent-encodes what a package URL component may not hold as is.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' | b'~' | b'/' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mab_sbom::{LayerContents, RustPackage};
    use std::time::{Duration, UNIX_EPOCH};

    fn contents() -> ImageContents {
        let mut layer = LayerContents::default();
        layer.files.insert(
            "etc/os-release".into(),
            Finding::OsRelease {
                id: "debian".into(),
                version_id: "12".into(),
                pretty_name: "Debian GNU/Linux 12 (bookworm)".into(),
            },
        );
        let mut libc = Package::new("libc6", "2.36-9+deb12u10");
        libc.arch = Some("arm64".into());
        layer.files.insert(
            "var/lib/dpkg/status".into(),
            Finding::Dpkg {
                packages: vec![libc],
            },
        );
        layer.files.insert(
            "usr/bin/app".into(),
            Finding::Go {
                toolchain: "go1.22.1".into(),
                path: "example.com/app".into(),
                main: Some(Package::new("example.com/app", "(devel)")),
                deps: vec![Package::new("golang.org/x/sys", "v0.20.0")],
            },
        );
        layer.files.insert(
            "usr/bin/tool".into(),
            Finding::Rust {
                packages: vec![RustPackage {
                    package: Package::new("hex", "0.4.3"),
                    source: "crates.io".into(),
                    root: false,
                    build_only: false,
                }],
            },
        );
        layer.files.insert(
            "var/lib/rpm/rpmdb.sqlite".into(),
            Finding::Unread {
                reason: "an rpm database (sqlite): mab does not read rpm databases".into(),
            },
        );
        ImageContents::merge([("sha256:1", Some(&layer)), ("sha256:2", None)])
    }

    #[test]
    fn the_document_lists_every_package_and_says_what_it_could_not_read() {
        let subject = Subject {
            name: "pkg:docker/127.0.0.1:5000/demo/app?platform=linux%2Farm64%2Fv8".into(),
            digest: format!("sha256:{}", "ab".repeat(32)),
        };
        let created = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let statement = sbom(
            &subject,
            "127.0.0.1:5000/demo/app",
            &contents(),
            "0.1.0",
            created,
        );
        insta::assert_snapshot!(String::from_utf8(statement.bytes.clone()).unwrap());
        let later = sbom(
            &subject,
            "127.0.0.1:5000/demo/app",
            &contents(),
            "0.1.0",
            created + Duration::from_secs(60),
        );
        assert_eq!(statement.key, later.key);
        assert_ne!(statement.bytes, later.bytes);
    }
}
