//! The JSON Schema committed at `docs/plan.schema.json` is the one the code generates.

use std::path::Path;

#[test]
fn the_committed_schema_is_up_to_date() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/plan.schema.json");
    let generated = mab_plan::json_schema();
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/plan.schema.json is stale (or missing); regenerate it with `cargo xtask schema` \
         (or `cargo run -p mab-cli -- plan schema > docs/plan.schema.json`)"
    );
}

#[test]
fn the_schema_is_a_draft_2020_12_schema_with_a_title() {
    let schema: serde_json::Value = serde_json::from_str(&mab_plan::json_schema()).unwrap();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(schema["title"], "mab plan");
}
