//! BuildKit's progress (`StatusResponse`s: vertexes, their logs) as plain lines, the way
//! `docker build --progress=plain` prints them: `#3 [build 2/4] RUN make`, `#3 CACHED`,
//! `#3 DONE 1.2s`, `#3 <a line the step printed>`.

use std::collections::{HashMap, HashSet};

use bollard_buildkit_proto::moby::buildkit::v1::StatusResponse;

/// Numbers vertexes in the order they appear and remembers what was said of each.
#[derive(Default)]
pub(crate) struct PlainProgress {
    numbers: HashMap<String, usize>,
    named: HashSet<String>,
    finished: HashSet<String>,
}

impl PlainProgress {
    /// The lines one status update adds.
    pub(crate) fn lines(&mut self, status: &StatusResponse) -> Vec<String> {
        let mut lines = Vec::new();
        for vertex in &status.vertexes {
            let n = self.number(&vertex.digest);
            if !vertex.name.is_empty() && self.named.insert(vertex.digest.clone()) {
                lines.push(format!("#{n} {}", vertex.name));
            }
            if self.finished.contains(&vertex.digest) {
                continue;
            }
            if !vertex.error.is_empty() {
                lines.push(format!("#{n} ERROR: {}", vertex.error));
                self.finished.insert(vertex.digest.clone());
            } else if vertex.cached {
                lines.push(format!("#{n} CACHED"));
                self.finished.insert(vertex.digest.clone());
            } else if let Some(completed) = &vertex.completed {
                let seconds = vertex.started.as_ref().map_or(0.0, |started| {
                    (completed.seconds - started.seconds) as f64
                        + f64::from(completed.nanos - started.nanos) / 1e9
                });
                lines.push(format!("#{n} DONE {seconds:.1}s"));
                self.finished.insert(vertex.digest.clone());
            }
        }
        for log in &status.logs {
            let n = self.number(&log.vertex);
            for line in String::from_utf8_lossy(&log.msg).lines() {
                if !line.trim().is_empty() {
                    lines.push(format!("#{n} {line}"));
                }
            }
        }
        lines
    }

    fn number(&mut self, digest: &str) -> usize {
        let next = self.numbers.len() + 1;
        *self.numbers.entry(digest.to_string()).or_insert(next)
    }
}

#[cfg(test)]
mod tests {
    use bollard_buildkit_proto::moby::buildkit::v1::{Vertex, VertexLog};

    use super::*;

    fn vertex(digest: &str, name: &str) -> Vertex {
        Vertex {
            digest: digest.to_string(),
            name: name.to_string(),
            ..Default::default()
        }
    }

    #[test]
    fn vertexes_are_numbered_named_once_and_finished_once() {
        let mut progress = PlainProgress::default();
        let started = bollard_buildkit_proto::google::protobuf::Timestamp {
            seconds: 10,
            nanos: 0,
        };
        let completed = bollard_buildkit_proto::google::protobuf::Timestamp {
            seconds: 11,
            nanos: 500_000_000,
        };
        let first = StatusResponse {
            vertexes: vec![
                vertex("sha256:a", "[internal] load build definition"),
                vertex("sha256:b", "[build 2/3] RUN make"),
            ],
            ..Default::default()
        };
        assert_eq!(
            progress.lines(&first),
            [
                "#1 [internal] load build definition",
                "#2 [build 2/3] RUN make"
            ]
        );
        let second = StatusResponse {
            vertexes: vec![
                Vertex {
                    cached: true,
                    ..vertex("sha256:a", "[internal] load build definition")
                },
                Vertex {
                    started: Some(started),
                    completed: Some(completed),
                    ..vertex("sha256:b", "[build 2/3] RUN make")
                },
            ],
            logs: vec![VertexLog {
                vertex: "sha256:b".to_string(),
                msg: b"compiling\nlinking\n".to_vec(),
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(
            progress.lines(&second),
            ["#1 CACHED", "#2 DONE 1.5s", "#2 compiling", "#2 linking"]
        );
        assert!(progress.lines(&second).iter().all(|l| !l.contains("DONE")));
    }
}
