//! Builders named by a Docker context (`context: NAME`): the context's endpoint and TLS files
//! are the builder's; an unknown context, or a context beside `endpoint` or `tls`, is an error
//! at its line and column.

use std::path::{Path, PathBuf};

use mab_plan::{BuilderTls, DockerContext, PlanEnv, PlanError, parse_plan};

/// Every file and folder exists; the docker config knows the contexts `colima` (a unix
/// socket) and `far` (tcp with TLS files), and a `${CTX}` variable names `colima`.
struct Contexts;

impl PlanEnv for Contexts {
    fn var(&self, name: &str) -> Option<String> {
        (name == "CTX").then(|| "colima".to_string())
    }
    fn is_dir(&self, _path: &Path) -> bool {
        true
    }
    fn is_file(&self, _path: &Path) -> bool {
        true
    }
    fn docker_context(&self, name: &str) -> Result<DockerContext, String> {
        let tls_dir = PathBuf::from("/home/u/.docker/contexts/tls/far/docker");
        match name {
            "colima" => Ok(DockerContext {
                endpoint: "unix:///home/u/.colima/default/docker.sock".to_string(),
                tls: None,
            }),
            "far" => Ok(DockerContext {
                endpoint: "tcp://far.internal:2376".to_string(),
                tls: Some(BuilderTls::new(
                    tls_dir.join("ca.pem"),
                    tls_dir.join("cert.pem"),
                    tls_dir.join("key.pem"),
                )),
            }),
            _ => Err(
                "no such context (no /home/u/.docker/contexts/meta/…/meta.json; `docker \
                 context ls` lists them)"
                    .to_string(),
            ),
        }
    }
}

fn plan_with_builders(builders: &str) -> String {
    format!(
        "version: 1\nbuilders:\n{builders}images:\n  - repository: 127.0.0.1:5000/demo/app\n    \
         platforms: [linux/amd64, linux/arm64]\n"
    )
}

fn errors(builders: &str) -> (String, Vec<(usize, usize, String)>) {
    let error = parse_plan(
        Path::new("ci/plan.yaml"),
        &plan_with_builders(builders),
        &Contexts,
    )
    .unwrap_err();
    assert!(matches!(error, PlanError::Invalid { .. }), "{error}");
    let found = error
        .diagnostics()
        .iter()
        .map(|d| (d.line(), d.column(), d.message().to_string()))
        .collect();
    (error.to_string(), found)
}

#[test]
fn a_context_gives_the_builder_its_endpoint_and_tls_files() {
    let plan = parse_plan(
        Path::new("ci/plan.yaml"),
        &plan_with_builders(
            "  - name: laptop\n    context: ${CTX}\n  \
             - name: arm\n    context: far\n    platforms: [linux/arm64]\n    max_jobs: 2\n  \
             - name: local\n    endpoint: unix:///var/run/docker.sock\n",
        ),
        &Contexts,
    )
    .unwrap();
    let [laptop, arm, local] = plan.builders() else {
        panic!("three builders: {:?}", plan.builders())
    };
    assert_eq!(laptop.context(), Some("colima"));
    assert_eq!(
        laptop.endpoint(),
        "unix:///home/u/.colima/default/docker.sock"
    );
    assert!(laptop.tls().is_none());
    assert_eq!(arm.context(), Some("far"));
    assert_eq!(arm.endpoint(), "tcp://far.internal:2376");
    let tls = arm.tls().expect("the context's TLS files");
    assert_eq!(
        tls.ca(),
        Path::new("/home/u/.docker/contexts/tls/far/docker/ca.pem")
    );
    assert_eq!(arm.max_jobs(), Some(2));
    assert_eq!(local.context(), None);
    assert_eq!(local.endpoint(), "unix:///var/run/docker.sock");
}

#[test]
fn an_unknown_context_is_an_error_naming_it_at_its_line_and_column() {
    let (text, found) = errors("  - name: arm\n    context: colimaa\n");
    assert_eq!(found.len(), 1, "{text}");
    let (line, column, message) = &found[0];
    assert_eq!((*line, *column), (4, 14), "{text}");
    assert!(
        message.starts_with("unknown docker context `colimaa`: no such context"),
        "{message}"
    );
    assert!(text.starts_with("error: ci/plan.yaml:4:14: unknown docker context `colimaa`"));
    assert!(text.contains("`docker context ls` lists them"), "{text}");
}

#[test]
fn a_context_comes_alone_and_a_builder_needs_one_or_an_endpoint() {
    let (text, found) =
        errors("  - name: both\n    endpoint: unix:///var/run/docker.sock\n    context: colima\n");
    assert_eq!(found.len(), 1, "{text}");
    assert_eq!((found[0].0, found[0].1), (5, 14), "{text}");
    assert!(
        found[0].2.contains("either an `endpoint` or a `context`"),
        "{text}"
    );

    let (text, found) = errors(
        "  - name: tls\n    context: far\n    tls: { ca: ca.pem, cert: cert.pem, key: key.pem }\n",
    );
    assert_eq!(found.len(), 1, "{text}");
    assert_eq!(found[0].0, 5, "{text}");
    assert!(
        found[0]
            .2
            .contains("TLS files stored with its Docker context"),
        "{text}"
    );

    let (text, found) = errors("  - name: nowhere\n    platforms: [linux/arm64]\n");
    assert_eq!(found.len(), 1, "{text}");
    assert!(found[0].2.contains("context: colima"), "{text}");

    let (text, found) = errors(
        "  - name: one\n    context: colima\n  - name: two\n    endpoint: unix:///home/u/.colima/default/docker.sock\n",
    );
    assert_eq!(found.len(), 1, "{text}");
    assert!(found[0].2.contains("same endpoint"), "{text}");
}
