//! `mab plan check PLAN`: validate, and say what the plan builds.

use std::path::Path;

use mab_plan::{ImageSpec, Plan};
use serde::Serialize;

use crate::exit::SUCCESS;

#[derive(Serialize)]
struct Summary {
    plan: String,
    images: usize,
    builds: usize,
    published_tags: usize,
    order: Vec<ImageSummary>,
}

#[derive(Serialize)]
struct ImageSummary {
    repositories: Vec<String>,
    platforms: Vec<String>,
    tags: Vec<String>,
    format: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    depends_on: Vec<String>,
}

/// Validates the plan (a bad plan is an error, exit code 2) and prints a summary.
pub fn run(path: &Path, json: bool) -> anyhow::Result<u8> {
    let plan = super::load(path)?;
    let summary = summarise(&plan);
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(SUCCESS);
    }
    println!(
        "{}: valid; {} {} x platforms = {} {}, published under {} {}",
        summary.plan,
        summary.images,
        plural(summary.images, "image", "images"),
        summary.builds,
        plural(summary.builds, "build", "builds"),
        summary.published_tags,
        plural(summary.published_tags, "tag", "tags (repository:tag)"),
    );
    for (n, image) in summary.order.iter().enumerate() {
        println!(
            "{}. {}: {} {} x {} {} [{}] ({})",
            n + 1,
            image.repositories.join(", "),
            image.platforms.len(),
            plural(image.platforms.len(), "platform", "platforms"),
            image.tags.len(),
            plural(image.tags.len(), "tag", "tags"),
            image.tags.join(", "),
            image.platforms.join(", "),
        );
        if !image.depends_on.is_empty() {
            println!("   after {}", image.depends_on.join(", "));
        }
    }
    Ok(SUCCESS)
}

fn summarise(plan: &Plan) -> Summary {
    let images = plan.images();
    let order: Vec<ImageSummary> = plan
        .images_in_order()
        .map(|(_, image)| image_summary(plan, image))
        .collect();
    Summary {
        plan: plan.file().display().to_string(),
        images: images.len(),
        builds: images.iter().map(|i| i.platforms().len()).sum(),
        published_tags: images
            .iter()
            .map(|i| i.tags().len() * i.repositories().len())
            .sum(),
        order,
    }
}

fn image_summary(plan: &Plan, image: &ImageSpec) -> ImageSummary {
    ImageSummary {
        repositories: image.repositories().iter().map(|r| r.to_string()).collect(),
        platforms: image.platforms().iter().map(|p| p.to_string()).collect(),
        tags: image.tags().to_vec(),
        format: image.format().as_str(),
        depends_on: image
            .depends_on()
            .iter()
            .map(|&i| plan.images()[i].repository().to_string())
            .collect(),
    }
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}
