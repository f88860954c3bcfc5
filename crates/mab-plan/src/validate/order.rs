//! `depends_on`: each entry names an image of the plan, no image depends on itself, and the
//! images are put in an order in which each comes after those it depends on (cycles reported).

use super::repositories::Identity;
use super::{Validator, shown};
use crate::Repository;
use crate::raw::{Field, RawImage};
use crate::tree::Position;

impl Validator<'_, '_, '_, '_> {
    /// Each image's `depends_on`, resolved to (image index, where it was written).
    pub(super) fn dependencies(
        &mut self,
        images: &[RawImage],
        identities: &[Option<Identity>],
    ) -> Vec<Vec<(usize, Position)>> {
        let all_known = identities.iter().all(Option::is_some);
        let mut out = Vec::new();
        for (index, image) in images.iter().enumerate() {
            let mut resolved: Vec<(usize, Position)> = Vec::new();
            let Field::Given(list) = &image.depends_on else {
                out.push(resolved);
                continue;
            };
            for text in list.iter().flatten() {
                let Some(wanted) = self.expand(text) else {
                    continue;
                };
                let as_repository = Repository::parse(&wanted).ok();
                let found = identities.iter().position(|identity| {
                    identity.as_ref().is_some_and(|identity| {
                        identity.name.as_deref() == Some(wanted.as_str())
                            || as_repository
                                .as_ref()
                                .is_some_and(|r| identity.repositories.iter().any(|(x, ..)| x == r))
                    })
                });
                match found {
                    Some(found) if found == index => self.diagnostics.error(
                        text.at,
                        format!(
                            "an image cannot depend on itself ({})",
                            shown(text, &wanted)
                        ),
                    ),
                    Some(found) => {
                        if let Some((_, first)) = resolved.iter().find(|(i, _)| *i == found) {
                            self.diagnostics.error(
                                text.at,
                                format!(
                                    "{} is listed twice in `depends_on` (first at line {}, column {})",
                                    shown(text, &wanted),
                                    first.line,
                                    first.column
                                ),
                            );
                        } else {
                            resolved.push((found, text.at));
                        }
                    }
                    // Some image's repositories are unknown (already reported): it may be that one.
                    None if !all_known => {}
                    None => {
                        let images: Vec<String> = identities
                            .iter()
                            .flatten()
                            .map(|identity| match &identity.name {
                                Some(name) => format!("`{name}`"),
                                None => format!("`{}`", identity.label()),
                            })
                            .collect();
                        self.diagnostics.error(
                            text.at,
                            format!(
                                "`depends_on` names {}, which is no image of this plan; name an \
                                 image by one of its repositories or its `name`: {}",
                                shown(text, &wanted),
                                images.join(", ")
                            ),
                        );
                    }
                }
            }
            out.push(resolved);
        }
        out
    }

    /// The images in an order where each comes after those it depends on; reports cycles.
    pub(super) fn order(
        &mut self,
        images: &[RawImage],
        dependencies: &[Vec<(usize, Position)>],
        identities: &[Option<Identity>],
    ) -> Option<Vec<usize>> {
        let label = |index: usize| {
            identities[index]
                .as_ref()
                .map(Identity::label)
                .unwrap_or_default()
        };
        // Depth-first search for cycles; each back edge is one cycle, reported where it is written.
        #[derive(Clone, Copy, PartialEq)]
        enum State {
            New,
            Open,
            Done,
        }
        let mut state = vec![State::New; images.len()];
        let mut cycles = Vec::new();
        fn visit(
            node: usize,
            dependencies: &[Vec<(usize, Position)>],
            state: &mut [State],
            stack: &mut Vec<usize>,
            cycles: &mut Vec<(Vec<usize>, Position)>,
        ) {
            state[node] = State::Open;
            stack.push(node);
            for &(next, at) in &dependencies[node] {
                match state[next] {
                    State::New => visit(next, dependencies, state, stack, cycles),
                    State::Open => {
                        let start = stack.iter().position(|&n| n == next).unwrap_or(0);
                        let mut cycle = stack[start..].to_vec();
                        cycle.push(next);
                        cycles.push((cycle, at));
                    }
                    State::Done => {}
                }
            }
            stack.pop();
            state[node] = State::Done;
        }
        for node in 0..images.len() {
            if state[node] == State::New {
                visit(node, dependencies, &mut state, &mut Vec::new(), &mut cycles);
            }
        }
        for (cycle, at) in &cycles {
            let path: Vec<String> = cycle.iter().map(|&n| label(n)).collect();
            self.diagnostics.error(
                *at,
                format!(
                    "`depends_on` makes a cycle: {} (each image is built after the ones it \
                     depends on, so none of these could start)",
                    path.join(" -> ")
                ),
            );
        }
        if !cycles.is_empty() {
            return None;
        }
        // Kahn's algorithm, taking the first ready image in plan order each time.
        let mut remaining: Vec<usize> = dependencies.iter().map(Vec::len).collect();
        let mut order = Vec::with_capacity(images.len());
        let mut done = vec![false; images.len()];
        while order.len() < images.len() {
            let next = (0..images.len()).find(|&n| !done[n] && remaining[n] == 0)?;
            done[next] = true;
            order.push(next);
            for (n, deps) in dependencies.iter().enumerate() {
                remaining[n] -= deps.iter().filter(|(d, _)| *d == next).count();
            }
        }
        Some(order)
    }
}
