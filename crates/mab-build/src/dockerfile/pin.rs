//! Pinning: the Dockerfile's text with the image word of each `FROM` line replaced by an image
//! id, everything else kept byte for byte (flags, `AS name`, comments, heredoc bodies), and line
//! numbers kept even when the word was broken over lines.
//!
//! It must not know how the ids were found, nor re-read the text: it uses where the parser
//! found each image word.

use std::collections::BTreeMap;

use super::lines::WordLayout;
use super::{BaseImage, Dockerfile, StageBase};

impl Dockerfile {
    /// The Dockerfile text with each external base image replaced by `pinned[base]` (an image id
    /// like `sha256:...`); everything else kept byte for byte.
    ///
    /// Only the image word of a `FROM` line changes (the `--platform=` flag and `AS name` stay).
    /// In the rare case of an image word broken over lines by a continuation, the replaced word
    /// starts with as many escape-only continuation lines as it spanned, so line numbers stay the
    /// same. A base missing from `pinned` leaves its lines unchanged.
    pub fn pinned(&self, pinned: &BTreeMap<BaseImage, String>) -> String {
        let mut out = String::with_capacity(self.text.len() + 64 * self.stages.len());
        let mut copied_up_to = 0;
        for (stage, word) in self.stages.iter().zip(&self.image_words) {
            let StageBase::Image(image) = &stage.base else {
                continue;
            };
            let Some(id) = pinned.get(image) else {
                continue;
            };
            out.push_str(&self.text[copied_up_to..word.range.start]);
            if word.layout == WordLayout::SpansLines {
                let line_breaks = self.text[word.range.clone()].matches('\n').count();
                for _ in 0..line_breaks {
                    out.push(self.escape);
                    out.push('\n');
                }
            }
            out.push_str(id);
            copied_up_to = word.range.end;
        }
        out.push_str(&self.text[copied_up_to..]);
        out
    }
}
