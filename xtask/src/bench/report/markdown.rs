//! One engine's report in BENCHMARKS.md: the machine, the summary, how each benchmark is
//! measured and its runs one by one.

use std::fmt::Write as _;

use super::figures::{fmt_ratio, human, med_opt, median, mib_s, ratio, secs};
use super::measured::{DockerFlow, Results};
use super::summary::{Headline, rows};
use crate::bench::registry_side::Activity;
use crate::bench::workload::HALF;
use crate::bench::{buildx, cross};

pub fn markdown(r: &Results) -> String {
    let m = &r.machine;
    let h = Headline::of(r);
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "# Benchmarks\n");
    let _ = writeln!(
        w,
        "Written by `{}` on {} (medians of {} runs, {} for the scale benchmark; the whole \
         benchmark took {:.1} min, environment and release build included). Reproduce with:\n\n\
         ```sh\ncargo xtask bench            # both engines, medians of 5 runs\n\
         cargo xtask bench --quick    # 2 runs, 1 for scale\n\
         cargo xtask bench --engine newest   # Docker 28.5 only\n```\n",
        r.command,
        m.date,
        r.runs,
        r.scale_runs,
        r.took.as_secs_f64() / 60.0
    );
    let _ = writeln!(
        w,
        "Absolute times on these machines are noise; compare the ratios, which come from runs \
         interleaved on the same daemon and registry within the same minutes (the order of the \
         two tools alternates from run to run).\n"
    );
    let _ = writeln!(
        w,
        "**Machine**: {}, {} cores ({}), {} memory, kernel {}; {}; registry: {} on 127.0.0.1 \
         (plain HTTP, filesystem storage); arm64 under QEMU user emulation (binfmt). Load average \
         (1/5/15 min) {} at the start, {} at the end.  ",
        m.os, m.nproc, m.cpu, m.mem, m.kernel, m.docker, m.registry, m.load_start, m.load_end
    );
    let _ = writeln!(w, "**mab**: {}.\n", m.mab);

    let _ = writeln!(w, "## Summary\n");
    let _ = writeln!(
        w,
        "| benchmark | figure | median | ratio | target | result |"
    );
    let _ = writeln!(w, "|---|---|---:|---:|---|---|");
    for x in rows(r) {
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} |",
            x.bench,
            x.figure.trim(),
            x.value,
            x.ratio,
            x.target,
            if x.result == "PASS" || x.result == "MISS" {
                format!("**{}**", x.result)
            } else {
                x.result.clone()
            }
        );
    }
    let _ = writeln!(w);

    let _ = writeln!(w, "## What is measured, and how\n");
    let _ = writeln!(
        w,
        "Everything runs on xtask's test environment (`cargo xtask env`): the daemon at \
         DOCKER_HOST, a throwaway `docker-registry` on a free 127.0.0.1 port, the busybox base \
         images `REG/mab-base/busybox` (one multi-arch tag, plus `:amd64` and `:arm64`). mab is \
         `target/release/mab` (`cargo build --release -p mab-cli` first), run with `MAB_HOME` in \
         the benchmark's work folder and stderr not a terminal (plain progress lines, each \
         stamped on arrival to split build from push). Peak RSS and CPU time of mab come from \
         `wait4`'s rusage; dockerd's and the registry's CPU time from /proc. Bytes uploaded are \
         counted on the registry side: its log has one line per request (method, URI, status); \
         every committed blob upload (PUT or POST with `digest=` answered 201) is sized with a \
         HEAD. The logs of every measured command are in `target/mab-bench/logs/`.\n"
    );
    let _ = writeln!(
        w,
        "1. **Article flow** — the Dockerfile (`xtask/src/bench/workload.rs`) does a \
         little real work: a 20000-iteration shell loop (slow under QEMU) and 4 MiB of random \
         data in a second RUN. Caches: both tools run against the same warm daemon, base image \
         cached, and every build gets a fresh `NONCE` build arg used by the first RUN, so both \
         tools really run every RUN step every time (no `docker builder prune`, which would also \
         hit other users of the daemon). Both use the classic builder (mab drives it; the CLI \
         with `DOCKER_BUILDKIT=0`). docker CLI, timed as one script: per image, `docker build \
         --platform linux/ARCH -t REG/bench/cli-appN-ARCH` for amd64 then arm64, `docker push` \
         of each, `docker manifest create --insecure` and `docker manifest push --insecure` \
         (`docker manifest rm`, untimed, before and after). The CLI gets the per-architecture \
         base tags (`BASE=REG/mab-base/busybox:amd64|arm64`): given the one multi-arch tag, the \
         20.10 classic builder silently builds the arm64 image on the amd64 base it has locally \
         (checked, and it does), so that is the fastest correct CLI flow. mab: `mab build` of a \
         plan with both images, both platforms, the multi-arch base tag (mab resolves it per \
         platform), and no per-arch tags."
    );
    let _ = writeln!(
        w,
        "2. **Rerun** — right after each first run of 1, `mab build` again with the \
         identical plan and MAB_HOME (nothing changed: mab builds nothing while the daemon still \
         has the images its build keys name, and uploads nothing). Bytes: the committed blob uploads the \
         registry logged during the rerun; also the growth of the registry's storage folder \
         (`du`), which alone would not do: the registry keeps one copy of a blob, so an \
         identical blob uploaded again does not grow it."
    );
    let _ = writeln!(
        w,
        "3. **512 MiB push** — `FROM scratch` with two 256 MiB layers \
         (`head -c 256M /dev/urandom` and repeated text, made in a build stage), built once \
         for linux/amd64 with `docker build`. Per run: `docker push` of it tagged into a fresh \
         repository, and `mab build --no-engine-push` of a one-platform plan of the same Dockerfile \
         into another fresh repository, with a fresh MAB_HOME (and on the containerd store \
         `mab build`, where the engine pushes, its default) (mab's build is a cache hit, so this is mostly \
         export + compress + upload; the whole `mab build` is timed, and split at its `built \
         …; pushing` line). After each push, every blob it stored is unlinked from its \
         repository (`DELETE /v2/REPO/blobs/DIGEST`), so no later run can skip or \
         cross-mount it: each run really uploads (the registry-side counts below show \
         it). Raw ingest: `POST /v2/REPO/blobs/uploads/` then `curl -T` (PUT `?digest=`) of a \
         256 MiB random file. Also `docker save` of the image into /dev/null: what exporting \
         alone costs."
    );
    let _ = writeln!(
        w,
        "4. **Peak RSS** — mab's maximum resident set size in the runs of 3."
    );
    let _ = writeln!(
        w,
        "5. **Scale** — a plan of 16 images (the small Dockerfile with 1 MiB of data, \
         fresh NONCE per image and run) x 2 platforms, vs the longest single (image, platform) \
         job: `mab build` of a plan with one image and only linux/arm64 (the slowest, under \
         QEMU); the same for linux/amd64 gives a rough floor for {} cores: \
         16 x (arm64 + amd64) / {}.\n",
        m.nproc, m.nproc
    );

    if let Some(f) = &r.flow {
        let _ = writeln!(w, "## 1 and 2: per run\n");
        let _ = writeln!(
            w,
            "| run | docker CLI (build / push / manifest) | mab (all built at / all pushed at) | mab rerun (built at / pushed at) | rerun / first | rerun: blobs committed, bytes, manifests stored | rerun: storage growth |"
        );
        let _ = writeln!(w, "|---:|---|---|---|---:|---|---:|");
        for i in 0..f.mab.len().min(f.docker.len()) {
            let d = &f.docker[i];
            let (a, b) = (&f.mab[i], &f.rerun[i]);
            let ra = &f.rerun_activity[i];
            let _ = writeln!(
                w,
                "| {} | {:.2} s ({:.2} / {:.2} / {:.2}) | {:.2} s ({} / {}) | {:.2} s ({} / {}) | {} | {}, {}, {} | {} |",
                i + 1,
                d.total,
                d.build,
                d.push,
                d.manifest,
                a.wall,
                secs(a.split.build_end),
                secs(a.split.push_end),
                b.wall,
                secs(b.split.build_end),
                secs(b.split.push_end),
                fmt_ratio(ratio(Some(b.wall), Some(a.wall))),
                ra.committed.len(),
                human(ra.blob_bytes),
                ra.manifest_puts,
                f.rerun_du[i].map_or("n/a".into(), |d| if d < 0 {
                    format!("-{}", human(d.unsigned_abs()))
                } else {
                    human(d as u64)
                }),
            );
        }
        let sum = |v: &[Activity]| -> (usize, u64, usize) {
            (
                v.iter().map(|a| a.committed.len()).sum(),
                v.iter().map(|a| a.blob_bytes).sum(),
                v.iter().map(|a| a.mounted.len()).sum(),
            )
        };
        let (dc, db, dm) = sum(&f
            .docker
            .iter()
            .map(|d| d.activity.clone())
            .collect::<Vec<_>>());
        let (mc, mb, mm) = sum(&f.mab_activity);
        let n = f.mab.len().max(1);
        let _ = writeln!(
            w,
            "\nPer first run, the registry received: docker CLI {} blobs ({}; {} mounts), \
             mab {} blobs ({}; {} mounts). The rerun printed {} line(s) saying something was \
             reused, cached or already present (median).\n",
            dc / n,
            human(db / n as u64),
            dm / n,
            mc / n,
            human(mb / n as u64),
            mm / n,
            median(
                &f.rerun
                    .iter()
                    .map(|x| x.reuse_lines as f64)
                    .collect::<Vec<_>>()
            )
            .unwrap_or(0.0)
        );
    }

    if let Some(f) = &r.flow {
        let built = med_opt(&f.mab.iter().map(|m| m.split.build_end).collect::<Vec<_>>());
        let done = med_opt(&f.mab.iter().map(|m| m.split.push_end).collect::<Vec<_>>());
        let col = |g: fn(&DockerFlow) -> f64| median(&f.docker.iter().map(g).collect::<Vec<_>>());
        let _ = writeln!(
            w,
            "Where the time goes in 1 (medians): mab had built every platform at {} and pushed \
             every platform at {} of its {}; the docker CLI spent {} in `docker build` (one \
             platform after the other), {} in `docker push` and {} in `docker manifest`. mab's \
             CPU time: {}.\n",
            secs(built),
            secs(done),
            secs(h.flow_mab),
            secs(col(|d| d.build)),
            secs(col(|d| d.push)),
            secs(col(|d| d.manifest)),
            secs(median(&f.mab.iter().map(|m| m.cpu).collect::<Vec<_>>())),
        );
    }

    if let Some(p) = &r.push {
        let _ = writeln!(w, "## 3 and 4: per run\n");
        let _ = writeln!(
            w,
            "| run | docker push | mab build (build / push phase) | mab peak RSS | mab CPU | dockerd CPU during docker push / mab | curl -T 256 MiB | docker save |"
        );
        let _ = writeln!(w, "|---:|---:|---|---:|---:|---|---:|---:|");
        for i in 0..p.mab.len().min(p.docker.len()) {
            let m = &p.mab[i];
            let _ = writeln!(
                w,
                "| {} | {:.2} s | {:.2} s ({} / {}){} | {} | {:.2} s | {} / {} | {:.2} s | {:.2} s |",
                i + 1,
                p.docker[i],
                m.wall,
                secs(m.split.build_end),
                secs(m.push_phase()),
                if p.mab_cache_hit.get(i).copied().unwrap_or(false) {
                    ""
                } else {
                    " (build not a cache hit)"
                },
                human(m.maxrss_kib * 1024),
                m.cpu,
                secs(p.docker_dockerd_cpu[i]),
                secs(p.mab_dockerd_cpu[i]),
                p.curl[i],
                p.save[i],
            );
        }
        let _ = writeln!(w, "\nWhat the registry saw per push (run 1):\n");
        let _ = writeln!(
            w,
            "| client | upload sessions | PATCH requests | blobs committed | bytes committed | mounts | bytes per PATCH | time inside upload requests |"
        );
        let _ = writeln!(w, "|---|---:|---:|---:|---:|---:|---:|---:|");
        for (name, a) in [
            ("docker push", p.docker_activity.first()),
            ("mab build", p.mab_activity.first()),
        ] {
            if let Some(a) = a {
                let _ = writeln!(
                    w,
                    "| {name} | {} | {} | {} | {} | {} | {} | {:.2} s |",
                    a.sessions,
                    a.patches,
                    a.committed.len(),
                    human(a.blob_bytes),
                    a.mounted.len(),
                    if a.patches > 0 {
                        human(a.blob_bytes / a.patches as u64)
                    } else {
                        "n/a".into()
                    },
                    a.upload_secs
                );
            }
        }
        let _ = writeln!(w);
        if let Some(m) = p.mab.first().filter(|m| !m.blobs.is_empty()) {
            let _ = writeln!(
                w,
                "mab's blob lines in run 1 (seconds since `mab build` started; it said `built` at {}):\n",
                secs(m.split.build_end)
            );
            let _ = writeln!(w, "```");
            for (t, l) in &m.blobs {
                let _ = writeln!(w, "{t:7.2} s  {l}");
            }
            let _ = writeln!(w, "```\n");
        }
        let _ = writeln!(w, "## Where mab's push time goes\n");
        let push_phase = h.push_phase;
        let cpu = median(&p.mab.iter().map(|m| m.cpu).collect::<Vec<_>>());
        let save = median(&p.save);
        let dcpu = med_opt(&p.mab_dockerd_cpu);
        let gcpu = med_opt(&p.mab_registry_cpu);
        let build = med_opt(&p.mab.iter().map(|m| m.split.build_end).collect::<Vec<_>>());
        let patches = median(
            &p.mab_activity
                .iter()
                .map(|a| a.patches as f64)
                .collect::<Vec<_>>(),
        );
        let wire = median(
            &p.mab_activity
                .iter()
                .map(|a| a.blob_bytes as f64)
                .collect::<Vec<_>>(),
        );
        let dwire = median(
            &p.docker_activity
                .iter()
                .map(|a| a.blob_bytes as f64)
                .collect::<Vec<_>>(),
        );
        let _ = writeln!(
            w,
            "Medians. `mab build` of the 512 MiB image: {} in all; the (cached) build phase \
             until `built …; pushing` {}; the push phase (export, compress and upload, streamed \
             together) {}; the rest (index, tags, exit) {}.",
            secs(h.push_mab),
            secs(build),
            secs(push_phase),
            secs(med_opt(
                &p.mab
                    .iter()
                    .map(|m| m.split.push_end.map(|e| m.wall - e))
                    .collect::<Vec<_>>()
            ))
        );
        let _ = writeln!(
            w,
            "- Export alone (`docker save` into /dev/null) takes {} ({}): the floor for any \
             client that reads the image through the daemon's export; the push phase is {} that.",
            secs(save),
            mib_s(p.image_bytes, save),
            fmt_ratio(ratio(push_phase, save))
        );
        if !p.save_first_byte.is_empty() {
            let first = median(&p.save_first_byte);
            let _ = writeln!(
                w,
                "- Of that, the daemon sends nothing for {} ({} of the export) (the classic \
                 image store, as Docker 20.10's, writes the whole export to a temporary folder \
                 first, then streams it; the containerd image store streams it as it goes). \
                 No client of the export can start before its first byte; the push phase is {} \
                 of the time the daemon keeps the image to itself.",
                secs(first),
                ratio(first, save).map_or("n/a".into(), |x| format!("{:.0}%", x * 100.0)),
                fmt_ratio(ratio(push_phase, first))
            );
        }
        let _ = writeln!(
            w,
            "- CPU: mab used {} of CPU for the whole run ({} of one core over its wall time); \
             dockerd {} (export); the registry {}. docker push: dockerd {} (export + gzip), registry {}.",
            secs(cpu),
            ratio(cpu, h.push_mab).map_or("n/a".into(), |x| format!("{:.0}%", x * 100.0)),
            secs(dcpu),
            secs(gcpu),
            secs(med_opt(&p.docker_dockerd_cpu)),
            secs(med_opt(&p.docker_registry_cpu))
        );
        let _ = writeln!(
            w,
            "- On the wire: mab sent {} of blobs in {} PATCH requests; docker push sent {}. \
             Raw ingest of 256 MiB by `curl -T`: {} ({}).",
            wire.map_or("n/a".into(), |b| human(b as u64)),
            patches.map_or("n/a".into(), |p| format!("{p:.0}")),
            dwire.map_or("n/a".into(), |b| human(b as u64)),
            secs(h.curl),
            mib_s(HALF, h.curl)
        );
        let inside = median(
            &p.mab_activity
                .iter()
                .map(|a| a.upload_secs)
                .collect::<Vec<_>>(),
        );
        let dinside = median(
            &p.docker_activity
                .iter()
                .map(|a| a.upload_secs)
                .collect::<Vec<_>>(),
        );
        let _ = writeln!(
            w,
            "- Time inside upload requests, from the registry's per-request durations (which \
             include receiving each body): mab {} of its {} push phase ({}); the rest of the \
             push phase, {}, no upload request was open (waiting for the export's first byte, \
             then reading and compressing ahead). docker push: {}. Both send the layers of an \
             image at the same time, one streamed PATCH each, so this can exceed the wall time.",
            secs(inside),
            secs(push_phase),
            ratio(inside, push_phase).map_or("n/a".into(), |x| format!("{:.0}%", x * 100.0)),
            secs(push_phase.zip(inside).map(|(p, i)| (p - i).max(0.0))),
            secs(dinside),
        );
        let per_patch = median(
            &p.mab_activity
                .iter()
                .filter(|a| a.patches > 0)
                .map(|a| a.upload_secs / a.patches as f64)
                .collect::<Vec<_>>(),
        );
        let _ = writeln!(
            w,
            "- Per upload request, mab's median cost inside the registry was {}; mab and docker \
             push stream each layer in one PATCH, curl sends the blob in one PUT.",
            per_patch.map_or("n/a".into(), |x| format!("{:.1} ms", x * 1000.0)),
        );
        let _ = writeln!(
            w,
            "- Rates over the whole 512 MiB: mab {} (push phase alone: {}), docker push {}.\n",
            mib_s(p.image_bytes, h.push_mab),
            mib_s(p.image_bytes, push_phase),
            mib_s(p.image_bytes, h.push_docker)
        );
    }

    if let Some(sc) = &r.scale {
        let _ = writeln!(w, "## 5: per run\n");
        let _ = writeln!(
            w,
            "| run | 16 x 2 with mab | single arm64 | single amd64 | total / single arm64 | mab peak RSS | mab CPU |"
        );
        let _ = writeln!(w, "|---:|---:|---:|---:|---:|---:|---:|");
        for i in 0..sc.total.len().min(sc.single_arm64.len()) {
            let t = &sc.total[i];
            let _ = writeln!(
                w,
                "| {} | {:.2} s | {:.2} s | {:.2} s | {} | {} | {:.2} s |",
                i + 1,
                t.wall,
                sc.single_arm64[i],
                sc.single_amd64[i],
                fmt_ratio(ratio(Some(t.wall), Some(sc.single_arm64[i]))),
                human(t.maxrss_kib * 1024),
                t.cpu
            );
        }
        let _ = writeln!(
            w,
            "\nThe issue asks that N images x M platforms take about as long as the slowest \
             build plus one push. Every job here spends most of its time in the daemon \
             (containers for the RUN steps, QEMU for arm64, commits), so on {} cores the 32 jobs \
             cannot overlap much; the rough floor above (the single jobs' times summed and divided \
             by the cores) is the fairer yardstick on this machine.\n",
            r.machine.nproc
        );
    }
    if let Some(c) = &r.cross {
        cross::markdown(w, c);
    }
    if let Some(b) = &r.buildx {
        buildx::markdown(w, b);
    }
    s
}
