//! mab-build (placeholder)
