//! With the `tracing` feature, a subscriber sees what tokio-console's `console-subscriber`
//! looks for: a `runtime.spawn` span per task (kind, name, spawn location) entered for each
//! poll, `runtime::waker` events naming the span, and baton's own events for handoffs,
//! detected blocks and stalls. A recording layer plays console-subscriber's part: it keeps
//! spans and events the way console's layer classifies them (by span name and event target).
//!
//! Run with `cargo test --features tracing --test tracing_console`.
#![cfg(feature = "tracing")]

use std::collections::HashMap;
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// How long a test waits for something the runtime must do before it fails.
const BOUND: Duration = Duration::from_secs(60);

/// The fields of a span or event, as text.
type Fields = HashMap<String, String>;

#[derive(Default)]
struct FieldText(Fields);

impl Visit for FieldText {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

/// A task span as console's layer would keep it.
#[derive(Clone, Debug)]
struct TaskSeen {
    id: u64,
    root: bool,
    fields: Fields,
    enters: usize,
    closed: bool,
}

#[derive(Default)]
struct Seen {
    tasks: Vec<TaskSeen>,
    /// `(op, task.id)` of `runtime::waker` events.
    wakes: Vec<(String, u64)>,
    /// Events of target `baton::runtime`.
    events: Vec<Fields>,
}

struct Recorder(Arc<Mutex<Seen>>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        // console-subscriber's test: the span's name, whatever its target.
        if attrs.metadata().name() != "runtime.spawn" {
            return;
        }
        let mut fields = FieldText::default();
        attrs.record(&mut fields);
        self.0.lock().unwrap().tasks.push(TaskSeen {
            id: id.into_u64(),
            root: attrs.is_root(),
            fields: fields.0,
            enters: 0,
            closed: false,
        });
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut fields = FieldText::default();
        event.record(&mut fields);
        let mut seen = self.0.lock().unwrap();
        match event.metadata().target() {
            // console-subscriber's test for waker events: the target.
            "runtime::waker" => {
                let op = fields.0.get("op").cloned().unwrap_or_default();
                let task = fields.0.get("task.id").and_then(|id| id.parse().ok());
                seen.wakes.push((op, task.unwrap_or(0)));
            }
            "baton::runtime" => seen.events.push(fields.0),
            _ => {}
        }
    }

    fn on_enter(&self, id: &Id, _: Context<'_, S>) {
        let mut seen = self.0.lock().unwrap();
        if let Some(task) = seen.tasks.iter_mut().find(|t| t.id == id.into_u64()) {
            task.enters += 1;
        }
    }

    fn on_close(&self, id: Id, _: Context<'_, S>) {
        let mut seen = self.0.lock().unwrap();
        if let Some(task) = seen.tasks.iter_mut().find(|t| t.id == id.into_u64()) {
            task.closed = true;
        }
    }
}

/// What the process-wide recorder saw (installed once: the runtime's threads need it).
fn seen() -> &'static Arc<Mutex<Seen>> {
    static SEEN: OnceLock<Arc<Mutex<Seen>>> = OnceLock::new();
    SEEN.get_or_init(|| {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let subscriber = tracing_subscriber::registry().with(Recorder(Arc::clone(&seen)));
        tracing::subscriber::set_global_default(subscriber).unwrap();
        seen
    })
}

/// The task span named `name`.
fn task_named(name: &str) -> TaskSeen {
    let seen = seen().lock().unwrap();
    let found: Vec<&TaskSeen> = seen
        .tasks
        .iter()
        .filter(|t| t.fields.get("task.name").map(String::as_str) == Some(name))
        .collect();
    assert_eq!(found.len(), 1, "one span for task {name:?}");
    found[0].clone()
}

/// The `baton::runtime` events named `event` whose `field` holds `value`.
fn events(event: &str, field: &str, value: &str) -> Vec<Fields> {
    let seen = seen().lock().unwrap();
    seen.events
        .iter()
        .filter(|e| e.get("event").map(String::as_str) == Some(event))
        .filter(|e| e.get(field).map(String::as_str) == Some(value))
        .cloned()
        .collect()
}

#[test]
fn a_task_is_a_runtime_spawn_span_entered_per_poll_and_woken_by_waker_events() {
    seen();
    let rt = baton::Runtime::builder().cores(2).build().unwrap();
    let line = line!() + 3;
    let task = baton::task::Builder::new()
        .name("console-named")
        .spawn_with(&rt.handle(), async {
            for _ in 0..3 {
                baton::yield_now().await;
            }
        });
    rt.block_on(task).unwrap();
    let q = baton::WorkQueue::builder("console-queue")
        .build(&rt.handle())
        .unwrap();
    rt.block_on(q.spawn(async {})).unwrap();
    drop(rt);

    let task = task_named("console-named");
    assert!(task.root, "a task span has no parent");
    assert_eq!(task.fields["kind"], "task");
    assert!(task.fields["loc.file"].ends_with("tracing_console.rs"));
    assert_eq!(task.fields["loc.line"], line.to_string());
    assert!(task.fields.contains_key("loc.col"));
    assert!(task.fields.contains_key("task.id"));
    assert!(
        task.enters >= 4,
        "entered for each of its 4 polls: {task:?}"
    );
    assert!(task.closed, "closed once the task is done");
    let wakes = seen()
        .lock()
        .unwrap()
        .wakes
        .iter()
        .filter(|(op, id)| op == "waker.wake_by_ref" && *id == task.id)
        .count();
    assert!(
        wakes >= 3,
        "a waker event per yield, naming the span: {wakes}"
    );

    let seen = seen().lock().unwrap();
    let job = seen
        .tasks
        .iter()
        .find(|t| t.fields.get("queue").map(String::as_str) == Some("console-queue"));
    assert!(
        job.is_some_and(|j| j.enters >= 1),
        "a work queue's job span names its queue"
    );
}

#[test]
fn handoffs_detected_blocks_and_stalls_are_events() {
    seen();
    // A section known to be long hands its core off at once.
    let rt = baton::Runtime::builder().cores(1).build().unwrap();
    let before = events("handoff", "core", "0").len();
    rt.block_on(rt.spawn(async {
        baton::blocking::section_long(|| std::thread::sleep(Duration::from_millis(1)));
    }))
    .unwrap();
    assert!(
        events("handoff", "core", "0").len() > before,
        "a handoff event"
    );

    // A named task that blocks outside any section until the task behind it ran: only the
    // monitor's takeover lets it finish.
    let finished = rt.block_on(async {
        baton::task::Builder::new()
            .name("console-sleeper")
            .spawn(async {
                let (tx, rx) = mpsc::channel();
                baton::spawn_on(0, async move { tx.send(()).unwrap() });
                rx.recv_timeout(BOUND).is_ok()
            })
            .await
            .unwrap()
    });
    assert!(finished, "the task behind the blocked poll ran");
    let detected = events("detected_block", "task.name", "console-sleeper");
    assert_eq!(detected.len(), 1, "{detected:?}");
    assert!(detected[0]["site"].contains("tracing_console.rs"));
    drop(rt);

    // With detection off, a named task stuck in one poll stalls its core: the stall report
    // is a `WARN` event that names it.
    let rt = baton::Runtime::builder()
        .cores(1)
        .detect_blocking(false)
        .stall_timeout(Some(Duration::from_millis(50)))
        .build()
        .unwrap();
    let handle = rt.handle();
    let stalled = rt.block_on(async move {
        baton::task::Builder::new()
            .name("console-stuck")
            .spawn(async move {
                let queued = baton::spawn_on(0, async {});
                let start = Instant::now();
                while handle.stats().cores[0].stalls == 0 && start.elapsed() < BOUND {
                    std::thread::sleep(Duration::from_millis(1));
                }
                (handle.stats().cores[0].stalls, queued)
            })
            .await
            .unwrap()
    });
    assert_eq!(stalled.0, 1);
    rt.block_on(stalled.1).unwrap();
    let stalls = events("stall", "core", "0");
    assert!(
        stalls
            .iter()
            .any(|e| e["message"].contains("of task \"console-stuck\" spawned at")),
        "{stalls:?}"
    );
}
