//! The attribute macros at run time: `#[baton::test]` runs its body on a baton runtime with the
//! configured cores, and a `#[baton::blocking]` function runs inside a section, returns its value
//! to the task that calls it, and reports its own call site to the hook.

use std::cell::RefCell;
use std::num::ParseIntError;
use std::panic::Location;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use baton::blocking::hook::{self, Hook, Job};
use baton::blocking::in_section;

#[baton::test]
async fn the_body_runs_on_a_baton_runtime() {
    // `spawn` panics outside a runtime, so reaching the assertion proves there is one.
    let core = baton::spawn(async { baton::current_core() }).await.unwrap();
    assert!(core.is_some(), "spawned tasks run on a worker");
}

#[baton::test(cores = 1)]
async fn cores_sets_the_number_of_cores() {
    assert_eq!(baton::Handle::current().cores(), 1);
    let core = baton::spawn(async { baton::current_core() }).await.unwrap();
    assert_eq!(core, Some(0));
}

#[baton::test(cores = 1)]
#[should_panic(expected = "the body ran with 1 core")]
async fn the_body_runs_and_its_panic_fails_the_test() {
    let cores = baton::Handle::current().cores();
    panic!("the body ran with {cores} core");
}

#[baton::test]
async fn a_test_can_return_a_result() -> Result<(), ParseIntError> {
    let n: u32 = "42".parse()?;
    assert_eq!(n, 42);
    Ok(())
}

/// How many times `checksum`'s body ran.
static CHECKSUMS: AtomicUsize = AtomicUsize::new(0);

#[baton::blocking]
fn checksum(data: &[u8]) -> u32 {
    CHECKSUMS.fetch_add(1, Ordering::Relaxed);
    assert!(in_section(), "the body runs inside a section");
    if data.is_empty() {
        return 0;
    }
    data.iter().map(|&byte| u32::from(byte)).sum()
}

#[baton::test]
async fn a_blocking_fn_returns_its_value_to_a_task() {
    let (sum, empty, core) = baton::spawn(async {
        let sum = checksum(&[1, 2, 3, 250]);
        assert!(!in_section(), "the section ends with the call");
        (sum, checksum(&[]), baton::current_core())
    })
    .await
    .unwrap();

    assert_eq!((sum, empty), (256, 0));
    assert!(core.is_some(), "called from a task on a worker");
    // No other test calls `checksum`: each call ran the body exactly once.
    assert_eq!(CHECKSUMS.load(Ordering::Relaxed), 2);
}

struct Journal {
    lines: Mutex<Vec<String>>,
    flushed: usize,
}

impl Journal {
    #[baton::blocking(long)]
    fn append(&self, line: &str) -> usize {
        assert!(in_section());
        let mut lines = self.lines.lock().unwrap();
        lines.push(line.to_owned());
        lines.len()
    }

    #[baton::blocking]
    fn flushed_mut(&mut self) -> &mut usize {
        &mut self.flushed
    }
}

#[baton::test(cores = 2)]
async fn blocking_methods_keep_their_receivers() {
    let mut journal = baton::spawn(async {
        let mut journal = Journal {
            lines: Mutex::new(Vec::new()),
            flushed: 0,
        };
        assert_eq!(journal.append("first"), 1);
        assert_eq!(journal.append("second"), 2);
        *journal.flushed_mut() += 2;
        journal
    })
    .await
    .unwrap();

    assert_eq!(*journal.flushed_mut(), 2);
    assert_eq!(*journal.lines.get_mut().unwrap(), ["first", "second"]);
}

/// Records the call site and kind of each outermost section on its thread.
#[derive(Default)]
struct Sites(RefCell<Vec<(&'static Location<'static>, bool)>>);

impl Hook for Sites {
    fn enter(&self, site: &'static Location<'static>, long: bool) {
        self.0.borrow_mut().push((site, long));
    }

    fn leave(&self) {}

    fn unblock(&self, job: Job) -> Result<(), Job> {
        Err(job)
    }
}

const SHORT_LINE: u32 = line!() + 1;
#[baton::blocking]
fn short() -> &'static str {
    "short"
}

const LONG_LINE: u32 = line!() + 1;
#[baton::blocking(long)]
fn long() -> &'static str {
    "long"
}

#[test]
fn each_blocking_fn_is_its_own_call_site() {
    let sites = Rc::new(Sites::default());
    let _installed = hook::install(sites.clone());

    assert_eq!([short(), long(), short()], ["short", "long", "short"]);

    let sites = sites.0.borrow();
    let seen: Vec<_> = sites
        .iter()
        .map(|(site, long)| (site.file(), site.line(), *long))
        .collect();
    assert_eq!(
        seen,
        [
            (file!(), SHORT_LINE, false),
            (file!(), LONG_LINE, true),
            (file!(), SHORT_LINE, false),
        ]
    );
}
