//! mab-registry (placeholder)
