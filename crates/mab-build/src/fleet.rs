//! A fleet of builders: ordinary Docker daemons, each reached at its own endpoint, sharing the
//! (image, platform) jobs of a run.
//!
//! Which builder takes a job for platform P:
//! 1. one that builds P natively (its declared platforms, else the daemon's own platform);
//! 2. only when none does: one that can emulate P — as the daemon's BuildKit workers report
//!    their platforms (the QEMU handlers of the daemon's own kernel, be it this machine, a
//!    laptop's VM or a remote host), or, for a daemon without BuildKit on this machine, this
//!    machine's binfmt handlers (or P is the daemon's own platform while the plan declared others
//!    for it);
//! 3. only when neither exists: a daemon whose emulation cannot be known (remote, no BuildKit),
//!    which *may* emulate P.
//!
//! Within the best tier that has any usable builder, the least busy builder with a free slot
//! (`max_jobs`) takes the job (ties go to the first in the plan); when all of them are full the
//! job waits for one rather than falling back to a slower tier. When a slot frees, the waiting
//! jobs that would be emulated there go first (they are the long ones: starting the longest jobs
//! first makes the whole run shortest), then the jobs in the order they started waiting. A builder that was unreachable
//! at the start, or that was lost during the run, is never chosen.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mab_platform::Platform;
use tokio::sync::Notify;

use crate::daemon::{Daemon, DaemonInfo};
use crate::endpoint::DaemonEndpoint;
use crate::error::BuildError;

/// How long connecting to a builder and asking what it is may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a builder has to answer after a failed job before it is considered lost.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// One builder as configured.
#[derive(Debug, Clone)]
pub struct BuilderConfig {
    /// Its name in messages.
    pub name: String,
    /// Where its daemon listens.
    pub endpoint: DaemonEndpoint,
    /// The platforms it builds natively; empty: the daemon's own platform.
    pub platforms: Vec<Platform>,
    /// How many jobs it runs at once; `None`: as many as its daemon has CPUs, at least 2.
    pub max_jobs: Option<usize>,
}

/// How a builder would build a platform, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fit {
    /// It is that platform.
    Native,
    /// It runs that platform under QEMU user emulation (known: the daemon said so).
    Emulated,
    /// A daemon of another platform whose emulation cannot be known: it may emulate it
    /// (unknown until it tries).
    MayEmulate,
}

impl Fit {
    /// `native`, `emulated`, `emulated if it can`.
    pub fn describe(self) -> &'static str {
        match self {
            Fit::Native => "native",
            Fit::Emulated => "emulated",
            Fit::MayEmulate => "emulated if it can",
        }
    }
}

/// What is known of one builder of a fleet.
#[derive(Debug, Clone)]
pub struct BuilderStatus {
    /// Its name.
    pub name: String,
    /// Its endpoint, as shown (`tcp://host:2376 (tls)`); never with credentials.
    pub endpoint: String,
    /// What its daemon said, or why it could not be reached.
    pub info: Result<DaemonInfo, String>,
    /// The platforms it builds natively (declared, else the daemon's).
    pub native: Vec<Platform>,
    /// The platforms it can emulate; `None` when that cannot be known (a remote daemon).
    pub emulated: Option<Vec<Platform>>,
    /// Whether `native` comes from the plan rather than from the daemon.
    pub declared: bool,
    /// How many jobs it runs at once.
    pub max_jobs: usize,
}

impl BuilderStatus {
    /// Whether it answered.
    pub fn reachable(&self) -> bool {
        self.info.is_ok()
    }
}

struct Member {
    status: BuilderStatus,
    daemon: Option<Daemon>,
    /// Why it could not be reached, until someone takes it.
    connect_error: Mutex<Option<BuildError>>,
}

#[derive(Default, Clone)]
struct Load {
    running: usize,
    /// Why the builder is not used any more, after it failed during the run.
    lost: Option<String>,
}

/// A job waiting for a builder.
struct Waiter {
    ticket: u64,
    platform: Platform,
    excluded: Vec<usize>,
}

/// The builders of a run and their current load.
pub struct Fleet {
    members: Vec<Member>,
    /// Locked before `waiting` when both are.
    loads: Mutex<Vec<Load>>,
    waiting: Mutex<Vec<Waiter>>,
    next_ticket: AtomicU64,
    changed: Notify,
}

impl Fleet {
    /// Connects to every builder at once (each within [`CONNECT_TIMEOUT`]) and asks what it
    /// is. Builders that cannot be reached are kept, with the reason, but never chosen.
    pub async fn connect(configs: Vec<BuilderConfig>) -> Arc<Self> {
        let members = futures::future::join_all(configs.into_iter().map(connect_member)).await;
        let loads = Mutex::new(vec![Load::default(); members.len()]);
        Arc::new(Self {
            members,
            loads,
            waiting: Mutex::new(Vec::new()),
            next_ticket: AtomicU64::new(0),
            changed: Notify::new(),
        })
    }

    /// Every builder, in the order they were configured.
    pub fn statuses(&self) -> impl Iterator<Item = &BuilderStatus> {
        self.members.iter().map(|m| &m.status)
    }

    /// The error that made builder `index` unreachable, once (the status keeps its reason).
    pub fn take_connect_error(&self, index: usize) -> Option<BuildError> {
        self.members
            .get(index)?
            .connect_error
            .lock()
            .expect("fleet lock")
            .take()
    }

    /// How builder `index` would build `platform`, if it is usable at all (reachable, not
    /// lost).
    fn fit(&self, index: usize, platform: &Platform, loads: &[Load]) -> Option<Fit> {
        let member = &self.members[index];
        if !member.status.reachable() || loads[index].lost.is_some() {
            return None;
        }
        fit_of(&member.status, platform)
    }

    /// Checks that some usable builder can build `platform`; the error names every builder
    /// and why it cannot.
    pub fn check(&self, platform: &Platform) -> Result<Fit, BuildError> {
        let loads = self.loads.lock().expect("fleet lock").clone();
        self.best_fit(platform, &[], &loads)
            .ok_or_else(|| self.no_builder(platform, &[], &loads))
    }

    /// Waits for a builder for `platform` (see the module's rules), skipping those in
    /// `excluded` (indexes of builders that already failed this job), and reserves one of its
    /// job slots until the lease is dropped.
    pub async fn acquire(
        self: &Arc<Self>,
        platform: &Platform,
        excluded: &[usize],
    ) -> Result<Lease, BuildError> {
        let ticket = self.next_ticket.fetch_add(1, Ordering::Relaxed);
        let _waiting = WaitingGuard::enter(
            self,
            Waiter {
                ticket,
                platform: platform.clone(),
                excluded: excluded.to_vec(),
            },
        );
        // Jobs of a run start together: let the others that start in this same turn take
        // their places first, so the first free slots already go by rank.
        tokio::task::yield_now().await;
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let mut loads = self.loads.lock().expect("fleet lock");
                let Some(best) = self.best_fit(platform, excluded, &loads) else {
                    return Err(self.no_builder(platform, excluded, &loads));
                };
                let rank = rank(best, ticket);
                let waiting = self.waiting.lock().expect("fleet lock");
                let free = (0..self.members.len())
                    .filter(|index| {
                        !excluded.contains(index)
                            && self.fit(*index, platform, &loads) == Some(best)
                            && loads[*index].running < self.members[*index].status.max_jobs
                            && !self.outranked(*index, rank, &loads, &waiting)
                    })
                    .min_by_key(|index| (loads[*index].running, *index));
                drop(waiting);
                if let Some(index) = free {
                    loads[index].running += 1;
                    return Ok(Lease {
                        fleet: Arc::clone(self),
                        index,
                        fit: best,
                        holds_slot: AtomicBool::new(true),
                    });
                }
            }
            changed.await;
        }
    }

    /// The best way any usable builder (but those in `excluded`) builds `platform`.
    fn best_fit(&self, platform: &Platform, excluded: &[usize], loads: &[Load]) -> Option<Fit> {
        (0..self.members.len())
            .filter(|index| !excluded.contains(index))
            .filter_map(|index| self.fit(index, platform, loads))
            .min()
    }

    /// Whether another waiting job goes before the one of `rank` on builder `index`: one that
    /// would get its best fit there and ranks first.
    fn outranked(&self, index: usize, rank: (u8, u64), loads: &[Load], waiting: &[Waiter]) -> bool {
        waiting.iter().any(|other| {
            if other.ticket == rank.1 || other.excluded.contains(&index) {
                return false;
            }
            let Some(best) = self.best_fit(&other.platform, &other.excluded, loads) else {
                return false;
            };
            self.fit(index, &other.platform, loads) == Some(best)
                && self::rank(best, other.ticket) < rank
        })
    }

    /// After a job failed on `lease`'s builder with a builder failure: asks the daemon whether
    /// it is still there. If it is not, the builder is lost for the rest of the run and the
    /// reason is returned.
    pub async fn probe_after_failure(&self, lease: &Lease) -> Option<String> {
        let daemon = self.members[lease.index].daemon.as_ref()?;
        let reason = match tokio::time::timeout(PROBE_TIMEOUT, daemon.describe()).await {
            Ok(Ok(_)) => return None,
            Ok(Err(e)) => error_chain(&e),
            Err(_) => format!("no answer within {} s", PROBE_TIMEOUT.as_secs()),
        };
        let mut loads = self.loads.lock().expect("fleet lock");
        loads[lease.index].lost = Some(reason.clone());
        drop(loads);
        self.changed.notify_waiters();
        Some(reason)
    }

    /// The error when no builder (but those `excluded`) can take `platform`.
    fn no_builder(&self, platform: &Platform, excluded: &[usize], loads: &[Load]) -> BuildError {
        let tried: Vec<String> = self
            .members
            .iter()
            .enumerate()
            .map(|(index, member)| {
                let status = &member.status;
                let why = if let Err(reason) = &status.info {
                    format!("unreachable ({reason})")
                } else if let Some(reason) = &loads[index].lost {
                    format!("lost during the run ({reason})")
                } else if excluded.contains(&index) {
                    "failed this job".to_string()
                } else {
                    let native = if status.native.is_empty() {
                        "of an unknown platform".to_string()
                    } else {
                        format!("native {}", join(&status.native))
                    };
                    format!(
                        "{native} and cannot emulate {platform} (the daemon has no QEMU binfmt \
                         handler for it)"
                    )
                };
                format!("builder `{}` ({}): {why}", status.name, status.endpoint)
            })
            .collect();
        BuildError::NoBuilder {
            platform: platform.to_string(),
            tried: tried.join("\n  "),
        }
    }
}

/// A job slot on one builder, held while the job builds there; the lease itself (the daemon)
/// outlives the slot while the image is exported.
pub struct Lease {
    fleet: Arc<Fleet>,
    index: usize,
    fit: Fit,
    holds_slot: AtomicBool,
}

impl Lease {
    /// The builder's daemon.
    pub fn daemon(&self) -> &Daemon {
        self.fleet.members[self.index]
            .daemon
            .as_ref()
            .expect("only reachable builders are leased")
    }

    /// The builder's name.
    pub fn name(&self) -> &str {
        &self.fleet.members[self.index].status.name
    }

    /// The builder's position in the fleet (for `excluded`).
    pub fn index(&self) -> usize {
        self.index
    }

    /// How the builder builds the job's platform.
    pub fn fit(&self) -> Fit {
        self.fit
    }

    /// Gives the job slot back (the build is done: another job may build there while this one
    /// exports and pushes); the daemon stays usable. Dropping the lease does it too.
    pub fn release_slot(&self) {
        if self.holds_slot.swap(false, Ordering::AcqRel) {
            if let Ok(mut loads) = self.fleet.loads.lock() {
                loads[self.index].running -= 1;
            }
            self.fleet.changed.notify_waiters();
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.release_slot();
    }
}

/// The order in which waiting jobs get a builder: emulated ones (slow) first, then by arrival.
fn rank(fit: Fit, ticket: u64) -> (u8, u64) {
    (u8::from(fit == Fit::Native), ticket)
}

/// A job's place among the waiting ones, given up when it gets a builder, fails, or is
/// cancelled.
struct WaitingGuard<'a> {
    fleet: &'a Fleet,
    ticket: u64,
}

impl<'a> WaitingGuard<'a> {
    fn enter(fleet: &'a Fleet, waiter: Waiter) -> Self {
        let ticket = waiter.ticket;
        fleet.waiting.lock().expect("fleet lock").push(waiter);
        Self { fleet, ticket }
    }
}

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut waiting) = self.fleet.waiting.lock() {
            waiting.retain(|w| w.ticket != self.ticket);
        }
        // A job that stepped aside for this one may go now.
        self.fleet.changed.notify_waiters();
    }
}

async fn connect_member(config: BuilderConfig) -> Member {
    let endpoint = config.endpoint.to_string();
    let connected = tokio::time::timeout(CONNECT_TIMEOUT, async {
        let daemon = Daemon::connect(&config.endpoint).await?;
        let info = daemon.describe().await?;
        Ok::<_, BuildError>((daemon, info))
    })
    .await;
    let (daemon, info, connect_error) = match connected {
        Ok(Ok((daemon, info))) => (Some(daemon), Ok(info), None),
        Ok(Err(e)) => (None, Err(root_cause(&e)), Some(e)),
        Err(_) => (
            None,
            Err(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs())),
            None,
        ),
    };
    let declared = !config.platforms.is_empty();
    let reported = info.as_ref().ok().and_then(|i| i.native_platform.clone());
    let native = if declared {
        config.platforms.clone()
    } else {
        reported.iter().cloned().collect()
    };
    let emulated = info
        .as_ref()
        .ok()
        .and_then(|i| i.emulated_platforms.clone())
        .map(|mut emulated| {
            // A daemon declared to be another platform still runs its own natively.
            emulated.extend(reported);
            emulated.retain(|p| !native.contains(p));
            emulated.sort();
            emulated.dedup();
            emulated
        });
    let cpus = info.as_ref().map(|i| i.cpus as usize).unwrap_or(0);
    let max_jobs = config.max_jobs.unwrap_or(cpus.max(2)).max(1);
    Member {
        status: BuilderStatus {
            name: config.name,
            endpoint,
            info,
            native,
            emulated,
            declared,
            max_jobs,
        },
        daemon,
        connect_error: Mutex::new(connect_error),
    }
}

/// How a builder of `status` would build `platform`, if at all.
fn fit_of(status: &BuilderStatus, platform: &Platform) -> Option<Fit> {
    if status.native.contains(platform) {
        return Some(Fit::Native);
    }
    match &status.emulated {
        Some(emulated) if emulated.contains(platform) => Some(Fit::Emulated),
        Some(_) => None,
        None => Some(Fit::MayEmulate),
    }
}

fn join(platforms: &[Platform]) -> String {
    platforms
        .iter()
        .map(Platform::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The innermost cause of an error (the top message names the endpoint, which the caller
/// shows anyway; the cause says what happened), for one-line reasons.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string().trim().to_string()
}

/// An error and its causes on one line, `: `-separated.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(source) = cause {
        let message = source.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        cause = source.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(native: &[&str], emulated: Option<&[&str]>) -> BuilderStatus {
        let platforms = |list: &[&str]| list.iter().map(|p| p.parse().unwrap()).collect();
        BuilderStatus {
            name: "b".into(),
            endpoint: "unix:///b.sock".into(),
            info: Err("not connected in this test".into()),
            native: platforms(native),
            emulated: emulated.map(platforms),
            declared: true,
            max_jobs: 1,
        }
    }

    #[test]
    fn native_beats_emulated_beats_maybe() {
        let arm64: Platform = "linux/arm64".parse().unwrap();
        let local_amd = status(&["linux/amd64"], Some(&["linux/arm64"]));
        let remote_amd = status(&["linux/amd64"], None);
        let remote_arm = status(&["linux/arm64/v8"], None);
        let local_no_qemu = status(&["linux/amd64"], Some(&[]));
        assert_eq!(fit_of(&remote_arm, &arm64), Some(Fit::Native));
        assert_eq!(fit_of(&local_amd, &arm64), Some(Fit::Emulated));
        assert_eq!(fit_of(&remote_amd, &arm64), Some(Fit::MayEmulate));
        assert_eq!(fit_of(&local_no_qemu, &arm64), None);
        assert!(Fit::Native < Fit::Emulated && Fit::Emulated < Fit::MayEmulate);
    }

    #[test]
    fn unreachable_builders_are_named_with_their_reason() {
        let fleet = fleet_of(status(&["linux/s390x"], None));
        let platform: Platform = "linux/s390x".parse().unwrap();
        let error = fleet.check(&platform).unwrap_err().to_string();
        assert_eq!(
            error,
            "no builder can build linux/s390x:\n  builder `b` (unix:///b.sock): unreachable \
             (not connected in this test)"
        );
    }

    /// One reachable builder on this machine: native amd64, emulates arm64, one job at a time.
    fn one_slot_fleet() -> Arc<Fleet> {
        let mut builder = status(&["linux/amd64"], Some(&["linux/arm64"]));
        builder.info = Ok(DaemonInfo {
            endpoint: "unix:///b.sock".into(),
            engine_version: "20.10.24".into(),
            native_platform: Some("linux/amd64".parse().unwrap()),
            emulated_platforms: Some(vec!["linux/arm64".parse().unwrap()]),
            containers_running: 0,
            cpus: 1,
        });
        fleet_of(builder)
    }

    /// A fleet of one builder with that status (and no daemon: nothing is built).
    fn fleet_of(status: BuilderStatus) -> Arc<Fleet> {
        Arc::new(Fleet {
            members: vec![Member {
                status,
                daemon: None,
                connect_error: Mutex::new(None),
            }],
            loads: Mutex::new(vec![Load::default()]),
            waiting: Mutex::new(Vec::new()),
            next_ticket: AtomicU64::new(0),
            changed: Notify::new(),
        })
    }

    async fn waiting(fleet: &Fleet, count: usize) {
        while fleet.waiting.lock().unwrap().len() < count {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn a_freed_slot_goes_to_the_waiting_emulated_job_first() {
        let fleet = one_slot_fleet();
        let amd64: Platform = "linux/amd64".parse().unwrap();
        let arm64: Platform = "linux/arm64".parse().unwrap();
        let running = fleet.acquire(&amd64, &[]).await.unwrap();
        let native = tokio::spawn({
            let (fleet, amd64) = (fleet.clone(), amd64.clone());
            async move { fleet.acquire(&amd64, &[]).await.unwrap() }
        });
        waiting(&fleet, 1).await;
        let emulated = tokio::spawn({
            let fleet = fleet.clone();
            async move { fleet.acquire(&arm64, &[]).await.unwrap() }
        });
        waiting(&fleet, 2).await;

        running.release_slot();
        let lease = tokio::time::timeout(Duration::from_secs(10), emulated)
            .await
            .expect("the emulated job got the freed slot")
            .unwrap();
        assert_eq!(lease.fit(), Fit::Emulated);
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(
            !native.is_finished(),
            "the native job waits: the one slot is taken"
        );
        drop(running);
        drop(lease);
        assert_eq!(native.await.unwrap().fit(), Fit::Native);
    }

    #[tokio::test]
    async fn a_released_slot_is_not_given_back_twice() {
        let fleet = one_slot_fleet();
        let amd64: Platform = "linux/amd64".parse().unwrap();
        let lease = fleet.acquire(&amd64, &[]).await.unwrap();
        lease.release_slot();
        lease.release_slot();
        drop(lease);
        assert_eq!(fleet.loads.lock().unwrap()[0].running, 0);
    }
}
