//! `jobs`: 10 000 no-op jobs enqueued and completed through apalis-redis by
//! one worker process, beside a Celery worker on the same Redis.
//!
//! Two DTX figures: the bare queue (an apalis no-op job, what Celery's no-op
//! task is) and the full DTX path (ledger row on enqueue, claim and finish
//! by the worker — three more database writes per job, group-committed).
//! End to end is measured with one producer and with `--producers N`
//! concurrent ones (a sequential loop bounds the first); the full path also
//! runs embedded (SQLite ledger, apalis-sqlite queue).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use worker::jobs::enqueue::NewJob;

use apalis::prelude::*;
use apalis_redis::RedisStorage;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::{Mode, TestApp};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Noop {
    n: u64,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram")
}

/// CPU time used so far by this process, Redis and PostgreSQL (Linux
/// `/proc`, in seconds): where a phase's work went, per job.
#[derive(Clone, Copy)]
struct CpuUse {
    bench: f64,
    redis: f64,
    postgres: f64,
}

impl CpuUse {
    fn now() -> Self {
        // utime + stime of a /proc/<pid>/stat line, in USER_HZ (100 per second on Linux).
        fn seconds(stat: &str) -> f64 {
            let fields: Vec<&str> =
                stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("").split_whitespace().collect();
            let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
            (ticks(11) + ticks(12)) / 100.0
        }
        let (mut redis, mut postgres) = (0.0, 0.0);
        for process in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let path = process.path();
            let Ok(comm) = std::fs::read_to_string(path.join("comm")) else { continue };
            let total = match comm.trim() {
                "redis-server" => &mut redis,
                "postgres" => &mut postgres,
                _ => continue,
            };
            *total += std::fs::read_to_string(path.join("stat")).map(|s| seconds(&s)).unwrap_or(0.0);
        }
        let bench = std::fs::read_to_string("/proc/self/stat").map(|s| seconds(&s)).unwrap_or(0.0);
        Self { bench, redis, postgres }
    }

    /// The CPU each process used per job since `self`.
    fn per_job(self, jobs: u64) -> CpuPerJob {
        let now = Self::now();
        let us = |a: f64, b: f64| (b - a) * 1e6 / jobs as f64;
        CpuPerJob {
            bench: us(self.bench, now.bench),
            redis: us(self.redis, now.redis),
            postgres: us(self.postgres, now.postgres),
        }
    }
}

/// CPU time per job of each process, in µs. The bench process runs the
/// producers and the worker pool (the DTX path's claims and finishes).
#[derive(Clone, Copy, Debug, Default)]
struct CpuPerJob {
    bench: f64,
    redis: f64,
    postgres: f64,
}

impl CpuPerJob {
    fn total(&self) -> f64 {
        self.bench + self.redis + self.postgres
    }
}

impl std::fmt::Display for CpuPerJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CPU/job: bench+worker {:.0} µs, Redis {:.0} µs, PostgreSQL {:.0} µs = {:.0} µs",
            self.bench,
            self.redis,
            self.postgres,
            self.total()
        )
    }
}

/// One measured phase: its rate, the enqueue p99 (0 when the phase did not
/// enqueue), and the CPU per job.
#[derive(Clone, Copy, Debug, Default)]
struct Phase {
    rate: f64,
    p99_ms: f64,
    cpu: CpuPerJob,
}

fn report(name: &str, jobs: u64, elapsed: Duration, enqueue_us: &Histogram<u64>, cpu: CpuUse) -> Phase {
    let rate = jobs as f64 / elapsed.as_secs_f64();
    let cpu = cpu.per_job(jobs);
    let p99_ms = enqueue_us.value_at_quantile(0.99) as f64 / 1000.0;
    println!(
        "{name:<34} {rate:>8.0} jobs/s  enqueue p50 {:>6.2} ms  p99 {p99_ms:>6.2} ms  ({jobs} jobs in {:.2} s; {cpu})",
        enqueue_us.value_at_quantile(0.5) as f64 / 1000.0,
        elapsed.as_secs_f64(),
    );
    Phase { rate, p99_ms, cpu }
}

/// Both rates of one system: end to end (enqueue and run together) and drain
/// (jobs already queued; one worker from its first completion to its last).
pub struct Rates {
    pub end_to_end: f64,
    pub drain: f64,
}

fn start_noop_worker(
    storage: RedisStorage<Noop>,
    concurrency: usize,
    done: Arc<AtomicU64>,
) -> (tokio::sync::watch::Sender<bool>, tokio::task::JoinHandle<Result<(), apalis::prelude::MonitorError>>) {
    let (stop, mut rx) = tokio::sync::watch::channel(false);
    let monitor = tokio::spawn(async move {
        Monitor::new()
            .register(move |_| {
                let counter = done.clone();
                WorkerBuilder::new(worker::runtime::pool::worker_name())
                    .backend(storage.clone().poll_with_interval(Duration::from_millis(50)))
                    .concurrency(concurrency)
                    .build(move |_job: Noop| {
                        let counter = counter.clone();
                        async move {
                            counter.fetch_add(1, Ordering::Relaxed);
                            Ok::<(), BoxDynError>(())
                        }
                    })
            })
            .run_with_signal(async move {
                let _ = rx.wait_for(|s| *s).await;
                Ok(())
            })
            .await
    });
    (stop, monitor)
}

/// Waits for `target` completions; returns the time from the first to the
/// last, and the CPU used meanwhile per job.
async fn drained(done: &AtomicU64, target: u64) -> anyhow::Result<(Duration, CpuPerJob)> {
    let start = Instant::now();
    while done.load(Ordering::Relaxed) < 1 {
        anyhow::ensure!(start.elapsed() < Duration::from_secs(120), "no job completed");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let (first, cpu) = (Instant::now(), CpuUse::now());
    while done.load(Ordering::Relaxed) < target {
        anyhow::ensure!(
            first.elapsed() < Duration::from_secs(600),
            "drain stalled at {}",
            done.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok((first.elapsed(), cpu.per_job(target)))
}

async fn bare_queue_drain(prefix: &str, jobs: u64, concurrency: usize, batch: usize) -> anyhow::Result<Phase> {
    let conn = worker::infra::db::connect_redis(&crate::redis_url()).await?;
    let cfg = worker::infra::queue::redis_config(&format!("{prefix}:noop-drain"), batch);
    let storage: RedisStorage<Noop> = RedisStorage::new(conn).with_config(cfg);
    let mut sink = storage.clone();
    for n in 0..jobs {
        sink.push(Noop { n }).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let done = Arc::new(AtomicU64::new(0));
    // The same guard the DTX pool runs (see worker::infra::queue::promote_due_forever).
    let (stop_promoter, promoter_rx) = tokio::sync::watch::channel(false);
    let promoter = tokio::spawn(worker::infra::queue::promote_due_forever(
        Some(worker::infra::db::connect_redis(&crate::redis_url()).await?),
        vec![format!("{prefix}:noop-drain")],
        Duration::from_millis(200),
        async move {
            let mut rx = promoter_rx;
            let _ = rx.wait_for(|s| *s).await;
        },
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (stop, monitor) = start_noop_worker(storage, concurrency, done.clone());
    let (elapsed, cpu) = drained(&done, jobs).await?;
    let _ = stop.send(true);
    let _ = stop_promoter.send(true);
    let _ = monitor.await;
    let _ = promoter.await;
    Ok(Phase { rate: (jobs - 1) as f64 / elapsed.as_secs_f64(), p99_ms: 0.0, cpu })
}

/// Runs `producers` tasks that together call `enqueue` `jobs` times, each
/// waiting for its call before the next; returns the enqueue latencies.
async fn produce<F, Fut>(jobs: u64, producers: usize, enqueue: F) -> anyhow::Result<Histogram<u64>>
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let producers = producers.max(1) as u64;
    let tasks: Vec<_> = (0..producers)
        .map(|p| {
            let enqueue = enqueue.clone();
            tokio::spawn(async move {
                let mut latency = histogram();
                for n in (p..jobs).step_by(producers as usize) {
                    let t = Instant::now();
                    enqueue(n).await?;
                    latency.record(t.elapsed().as_micros() as u64).ok();
                }
                Ok::<_, anyhow::Error>(latency)
            })
        })
        .collect();
    let mut all = histogram();
    for task in tasks {
        all.add(task.await??).ok();
    }
    Ok(all)
}

fn producers_label(producers: usize) -> String {
    if producers == 1 { "1 producer".to_owned() } else { format!("{producers} producers") }
}

async fn bare_queue(
    prefix: &str,
    jobs: u64,
    concurrency: usize,
    batch: usize,
    producers: usize,
) -> anyhow::Result<Phase> {
    let conn = worker::infra::db::connect_redis(&crate::redis_url()).await?;
    let queue = format!("{prefix}:noop{producers}");
    let cfg = worker::infra::queue::redis_config(&queue, batch);
    let storage: RedisStorage<Noop> = RedisStorage::new(conn).with_config(cfg);
    let done = Arc::new(AtomicU64::new(0));
    let (stop, monitor) = start_noop_worker(storage.clone(), concurrency, done.clone());
    let (started, cpu) = (Instant::now(), CpuUse::now());
    let sink = storage.clone();
    let latency = produce(jobs, producers, move |n| {
        let mut sink = sink.clone();
        async move { sink.push(Noop { n }).await.map_err(|e| anyhow::anyhow!("{e}")) }
    })
    .await?;
    while done.load(Ordering::Relaxed) < jobs {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(600),
            "bare queue stalled at {}",
            done.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let name = format!("DTX apalis-redis, bare ({})", producers_label(producers));
    let rate = report(&name, jobs, started.elapsed(), &latency, cpu);
    let _ = stop.send(true);
    let _ = monitor.await;
    Ok(rate)
}

/// Counts a phase's succeeded runs by walking their ids (ULIDs, sorted) in
/// the ledger from the first not yet seen succeeded: a poll reads the rows
/// around that frontier instead of counting the whole phase (a count over
/// every row every few milliseconds took CPU from the jobs measured).
struct Finished {
    ids: Vec<String>,
    done: usize,
}

impl Finished {
    fn new(mut ids: Vec<String>) -> Self {
        ids.sort();
        Self { ids, done: 0 }
    }

    fn all(&self) -> bool {
        self.done == self.ids.len()
    }

    /// Whether any of the runs succeeded yet (the first to finish need not
    /// be the oldest).
    async fn any(&self, app: &TestApp) -> anyhow::Result<bool> {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let Some(oldest) = self.ids.first() else { return Ok(true) };
        Ok(entity::job_run::Entity::find()
            .filter(entity::job_run::Column::Id.gte(oldest.as_str()))
            .filter(entity::job_run::Column::Status.eq(entity::JobStatus::Succeeded))
            .one(app.db())
            .await?
            .is_some())
    }

    async fn poll(&mut self, app: &TestApp) -> anyhow::Result<usize> {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
        const PAGE: u64 = 256;
        while !self.all() {
            let rows: Vec<(String, entity::JobStatus)> = entity::job_run::Entity::find()
                .select_only()
                .column(entity::job_run::Column::Id)
                .column(entity::job_run::Column::Status)
                .filter(entity::job_run::Column::Id.gte(self.ids[self.done].as_str()))
                .order_by_asc(entity::job_run::Column::Id)
                .limit(PAGE)
                .into_tuple()
                .all(app.db())
                .await?;
            let page = rows.len() as u64;
            for (id, status) in rows {
                if self.all() || id != self.ids[self.done] || status != entity::JobStatus::Succeeded {
                    return Ok(self.done);
                }
                self.done += 1;
            }
            if page < PAGE {
                break;
            }
        }
        Ok(self.done)
    }
}

fn check_scheduled_events() -> worker::jobs::Job {
    worker::jobs::Job::CheckScheduledEvents(worker::jobs::payload::CheckScheduledEvents {})
}

/// The full path: enqueue (ledger row + push), then the pool claims, runs
/// and finishes each job; until every one is `succeeded` in the ledger.
async fn ledger_jobs(app: &TestApp, jobs: u64, producers: usize, name: &str) -> anyhow::Result<Phase> {
    let ctx = app.state.jobs.clone();
    let (stop, mut rx) = tokio::sync::watch::channel(false);
    let until = async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let pool = tokio::spawn(worker::runtime::pool::run(ctx.clone(), until, std::future::pending()));
    let (started, cpu) = (Instant::now(), CpuUse::now());
    let enqueuer = ctx.enqueuer.clone();
    let ids = Arc::new(std::sync::Mutex::new(Vec::with_capacity(jobs as usize)));
    let made = ids.clone();
    let latency = produce(jobs, producers, move |_| {
        let (enqueuer, made) = (enqueuer.clone(), made.clone());
        async move {
            let (run, _) = enqueuer.enqueue(NewJob::new(check_scheduled_events())).await?;
            made.lock().expect("ids").push(run.id);
            Ok(())
        }
    })
    .await?;
    let mut finished = Finished::new(std::mem::take(&mut *ids.lock().expect("ids")));
    while !finished.all() {
        let done = finished.poll(app).await?;
        anyhow::ensure!(started.elapsed() < Duration::from_secs(900), "ledger jobs stalled at {done}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let name = format!("{name} ({})", producers_label(producers));
    let rate = report(&name, jobs, started.elapsed(), &latency, cpu);
    let _ = stop.send(true);
    let _ = pool.await;
    Ok(rate)
}

async fn ledger_drain(app: &TestApp, jobs: u64) -> anyhow::Result<Phase> {
    let ctx = app.state.jobs.clone();
    let batch: Vec<NewJob> = (0..jobs).map(|_| NewJob::new(check_scheduled_events())).collect();
    let mut ids = Vec::with_capacity(jobs as usize);
    for chunk in batch.chunks(1000) {
        ids.extend(ctx.enqueuer.enqueue_many(chunk.to_vec()).await?.into_iter().map(|(run, _)| run.id));
    }
    // A backlog as the workers find it after an outage: its `queued` rows
    // written (the journal keeps a young run's record until its claim).
    ctx.enqueuer.ledger.settle().await?;
    let mut finished = Finished::new(ids);
    let (stop, mut rx) = tokio::sync::watch::channel(false);
    let until = async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let pool = tokio::spawn(worker::runtime::pool::run(ctx.clone(), until, std::future::pending()));
    let start = Instant::now();
    while !finished.any(app).await? {
        anyhow::ensure!(start.elapsed() < Duration::from_secs(120), "no ledger job completed");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let (first, cpu) = (Instant::now(), CpuUse::now());
    while !finished.all() {
        let done = finished.poll(app).await?;
        anyhow::ensure!(first.elapsed() < Duration::from_secs(900), "ledger drain stalled at {done}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let rate = (jobs - 1) as f64 / first.elapsed().as_secs_f64();
    let cpu = cpu.per_job(jobs);
    let _ = stop.send(true);
    let _ = pool.await;
    Ok(Phase { rate, p99_ms: 0.0, cpu })
}

/// Runs the Celery side in a venv under the cache dir (installed on first use).
fn celery(jobs: u64) -> anyhow::Result<Rates> {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/tmp".into());
    let venv = std::path::PathBuf::from(home).join(".cache/dtx-celery-venv");
    let python = venv.join("bin/python");
    if !python.exists() {
        println!("installing celery into {} …", venv.display());
        let ok = std::process::Command::new("python3").arg("-m").arg("venv").arg(&venv).status()?.success()
            && std::process::Command::new(&python)
                .args(["-m", "pip", "install", "-q", "celery==5.4.0", "redis==6.4.0", "packaging"])
                .status()?
                .success();
        anyhow::ensure!(ok, "could not install celery");
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("celery_bench.py");
    let out = std::process::Command::new(&python).arg(&script).arg(jobs.to_string()).output()?;
    anyhow::ensure!(out.status.success(), "celery bench failed: {}", String::from_utf8_lossy(&out.stderr));
    let line = String::from_utf8(out.stdout)?;
    let figures: serde_json::Value = serde_json::from_str(line.lines().last().unwrap_or("{}"))?;
    let rate = figures["jobs_per_s"].as_f64().unwrap_or(0.0);
    let drain = figures["drain_jobs_per_s"].as_f64().unwrap_or(0.0);
    println!(
        "{:<34} {rate:>8.0} jobs/s  enqueue p50 {:>6.2} ms  p99 {:>6.2} ms  ({jobs} jobs in {:.2} s)",
        "Celery 5.4 worker (prefork)",
        figures["enqueue_p50_ms"].as_f64().unwrap_or(0.0),
        figures["enqueue_p99_ms"].as_f64().unwrap_or(0.0),
        figures["seconds"].as_f64().unwrap_or(0.0)
    );
    Ok(Rates { end_to_end: rate, drain })
}

/// The figures of one run of the comparison.
#[derive(Clone, Copy, Debug, Default)]
struct RunFigures {
    dtx_one: Phase,
    dtx_many: Phase,
    dtx_drain: Phase,
    celery_end_to_end: f64,
    celery_drain: f64,
}

/// The median of `values` (the lower middle of an even count).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len().saturating_sub(1) / 2).copied().unwrap_or(0.0)
}

fn ratio(dtx: f64, celery: f64) -> String {
    if celery > 0.0 { format!("{:.1}x", dtx / celery) } else { "n/a".to_owned() }
}

/// Each run's line, then the median of each figure across the runs.
fn summarise(runs: &[RunFigures], producers: usize) {
    println!(
        "\nrun  DTX 1 prod  DTX {producers} prod  DTX drain  p99 1 prod  CPU/job e2e  CPU/job drain  Celery e2e  \
         Celery drain  ratio e2e  ratio drain"
    );
    let line = |label: &str, r: &RunFigures| {
        println!(
            "{label:<4} {:>10.0}  {:>10.0}  {:>9.0}  {:>7.2} ms  {:>8.0} µs  {:>10.0} µs  {:>10.0}  {:>12.0}  {:>9}  {:>11}",
            r.dtx_one.rate,
            r.dtx_many.rate,
            r.dtx_drain.rate,
            r.dtx_one.p99_ms,
            r.dtx_one.cpu.total(),
            r.dtx_drain.cpu.total(),
            r.celery_end_to_end,
            r.celery_drain,
            ratio(r.dtx_one.rate, r.celery_end_to_end),
            ratio(r.dtx_drain.rate, r.celery_drain),
        )
    };
    for (i, r) in runs.iter().enumerate() {
        line(&format!("{}", i + 1), r);
    }
    let of = |f: &dyn Fn(&RunFigures) -> f64| median(runs.iter().map(f).collect());
    let phase = |f: &dyn Fn(&RunFigures) -> Phase| Phase {
        rate: of(&|r| f(r).rate),
        p99_ms: of(&|r| f(r).p99_ms),
        cpu: CpuPerJob {
            bench: of(&|r| f(r).cpu.bench),
            redis: of(&|r| f(r).cpu.redis),
            postgres: of(&|r| f(r).cpu.postgres),
        },
    };
    let med = RunFigures {
        dtx_one: phase(&|r| r.dtx_one),
        dtx_many: phase(&|r| r.dtx_many),
        dtx_drain: phase(&|r| r.dtx_drain),
        celery_end_to_end: of(&|r| r.celery_end_to_end),
        celery_drain: of(&|r| r.celery_drain),
    };
    line("med", &med);
    println!(
        "median CPU per DTX job — end to end, 1 producer: {}; {producers} producers: {}; drained: {}",
        med.dtx_one.cpu, med.dtx_many.cpu, med.dtx_drain.cpu
    );
}

/// What one run measures, besides the app it runs on.
struct Setup {
    jobs: u64,
    concurrency: usize,
    batch: usize,
    producers: usize,
    with_celery: bool,
}

/// One run: the bare queue, the full DTX path, and Celery beside them.
async fn one_run(app: &TestApp, setup: &Setup, n: usize) -> anyhow::Result<RunFigures> {
    let Setup { jobs, concurrency, batch, producers, with_celery } = *setup;
    let prefix = format!("{}:run{n}", app.redis_prefix.clone().unwrap_or_else(|| "bench".into()));
    bare_queue(&prefix, jobs, concurrency, batch, 1).await?;
    let bare = bare_queue(&prefix, jobs, concurrency, batch, producers).await?;
    let bare_drain = bare_queue_drain(&prefix, jobs, concurrency, batch).await?;
    let dtx_one = ledger_jobs(app, jobs, 1, "DTX job, ledger + apalis-redis").await?;
    let dtx_many = ledger_jobs(app, jobs, producers, "DTX job, ledger + apalis-redis").await?;
    let dtx_drain = ledger_drain(app, jobs).await?;
    println!(
        "drain (queued first, one worker, first to last completion): bare {:.0} jobs/s ({}), DTX job {:.0} jobs/s ({})",
        bare_drain.rate, bare_drain.cpu, dtx_drain.rate, dtx_drain.cpu
    );
    println!(
        "DTX job / bare: end to end {:.0} %, drain {:.0} %",
        100.0 * dtx_many.rate / bare.rate,
        100.0 * dtx_drain.rate / bare_drain.rate
    );
    let (celery_end_to_end, celery_drain) = if with_celery {
        let celery = celery(jobs)?;
        println!("Celery drain {:.0} jobs/s", celery.drain);
        println!(
            "ratio to Celery — end to end: bare {}, DTX job {}; drain: bare {}, DTX job {}",
            ratio(bare.rate, celery.end_to_end),
            ratio(dtx_one.rate, celery.end_to_end),
            ratio(bare_drain.rate, celery.drain),
            ratio(dtx_drain.rate, celery.drain)
        );
        (celery.end_to_end, celery.drain)
    } else {
        (0.0, 0.0)
    };
    Ok(RunFigures { dtx_one, dtx_many, dtx_drain, celery_end_to_end, celery_drain })
}

/// `batch`: tasks the bare worker fetches per poll (the DTX pool fetches as
/// many as its concurrency, so a long job never holds back queued ones).
/// `runs` repeats the distributed comparison and prints the median of each
/// figure; the embedded figure is measured once, after.
pub async fn run(
    jobs: u64,
    concurrency: usize,
    batch: Option<usize>,
    producers: usize,
    runs: usize,
    with_celery: bool,
    with_embedded: bool,
) -> anyhow::Result<()> {
    let setup = Setup { jobs, concurrency, batch: batch.unwrap_or(concurrency), producers, with_celery };
    let args = vec!["--worker-concurrency".to_owned(), concurrency.to_string()];
    let app = TestApp::spawn_with(Mode::Distributed.backend(), Mode::Distributed.options(args.clone(), false)).await;
    println!(
        "bench jobs: {jobs} no-op jobs, one worker process, concurrency {concurrency}, fetch batch {}, \
         1 and {producers} producers, PostgreSQL + Redis 127.0.0.1, {runs} run(s)",
        setup.batch
    );
    let mut figures = Vec::with_capacity(runs);
    for n in 1..=runs.max(1) {
        println!("\n— run {n} —");
        figures.push(one_run(&app, &setup, n).await?);
    }
    summarise(&figures, producers);
    drop(app);
    if with_embedded {
        let embedded = TestApp::spawn_with(Mode::Embedded.backend(), Mode::Embedded.options(args, false)).await;
        // SQLite takes one writer at a time: under many producers a push can
        // wait past the 5 s busy timeout, which a client sees as a 503. Say so
        // instead of losing the rest of the run.
        if let Err(err) = ledger_jobs(&embedded, jobs, producers, "DTX job embedded, SQLite + apalis-sqlite").await {
            println!("DTX job embedded, SQLite + apalis-sqlite: stopped after a refused enqueue ({err})");
        }
    }
    Ok(())
}
