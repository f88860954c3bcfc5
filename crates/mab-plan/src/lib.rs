//! mab-plan (placeholder)
