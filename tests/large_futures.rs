//! Futures of hundreds of kilobytes (a buffer held across an `.await`) spawn and run from every
//! entry point without overflowing a thread's stack: unoptimised, each move of a future is a
//! copy on the stack, and an overflow aborts the whole process.

use std::future::Future;

/// The size of the buffer each future holds across an await: four copies of it exceed a
/// worker's default stack.
const BIG: usize = 512 * 1024;

/// A future that holds `BIG` bytes of `fill` across a yield, and returns their sum.
async fn big(fill: u8) -> usize {
    let buffer = [fill; BIG];
    baton::yield_now().await;
    buffer.iter().map(|&b| usize::from(b)).sum()
}

fn rt() -> baton::Runtime {
    baton::Runtime::builder().cores(2).build().unwrap()
}

type Spawner = Box<dyn Fn(&baton::Handle) -> baton::JoinHandle<usize> + Send>;

/// One closure per way to spawn: each makes its one large future in its own frame.
fn every_spawn() -> Vec<Spawner> {
    vec![
        Box::new(|_| baton::spawn(big(1))),
        Box::new(|_| baton::spawn_on(1, big(1))),
        Box::new(|h| h.spawn(big(1))),
        Box::new(|h| h.spawn_on(0, big(1))),
        Box::new(|_| baton::task::Builder::new().name("big").spawn(big(1))),
        Box::new(|_| baton::task::Builder::new().spawn_on(1, big(1))),
        Box::new(|h| baton::task::Builder::new().spawn_with(h, big(1))),
    ]
}

type SetSpawner = Box<dyn Fn(&mut baton::task::JoinSet<usize>, &baton::Handle) + Send>;

fn every_set_spawn() -> Vec<SetSpawner> {
    vec![
        Box::new(|set, _| set.spawn(big(1))),
        Box::new(|set, _| set.spawn_on(0, big(1))),
        Box::new(|set, h| set.spawn_with(h, big(1))),
    ]
}

#[test]
fn spawned_from_a_worker_by_every_spawn() {
    let rt = rt();
    let sum = rt
        .block_on(rt.spawn(async move {
            let handle = baton::Handle::current();
            let tasks: Vec<_> = every_spawn().iter().map(|spawn| spawn(&handle)).collect();
            let mut set = baton::task::JoinSet::new();
            for spawn in every_set_spawn() {
                spawn(&mut set, &handle);
            }
            let mut sum = 0;
            for task in tasks {
                sum += task.await.unwrap();
            }
            while let Some(out) = set.join_next().await {
                sum += out.unwrap();
            }
            sum
        }))
        .unwrap();
    assert_eq!(sum, 10 * BIG);
}

/// Each of these makes one large future in its own frame and hands it to the runtime.
#[inline(never)]
fn spawn_one(rt: &baton::Runtime) -> baton::JoinHandle<usize> {
    rt.spawn(big(2))
}

#[inline(never)]
fn block_on_one(rt: &baton::Runtime) -> usize {
    rt.block_on(big(2))
}

#[inline(never)]
fn handle_block_on_one(rt: &baton::Runtime) -> usize {
    rt.handle().block_on(big(2))
}

#[test]
fn spawned_and_blocked_on_from_a_small_stack() {
    let rt = rt();
    // Room for three buffers (the caller's, a move into the heap, the one the poll builds),
    // not for the copies of every call in between.
    let sum = std::thread::Builder::new()
        .stack_size(3 * BIG + 256 * 1024)
        .spawn(move || {
            let task = spawn_one(&rt);
            let direct = block_on_one(&rt);
            let through = handle_block_on_one(&rt);
            rt.block_on(task).unwrap() + direct + through
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(sum, 3 * 2 * BIG);
}

#[test]
fn blocked_on_in_a_section_on_a_worker() {
    let rt = rt();
    let sum = rt
        .block_on(rt.spawn(async {
            let handle = baton::Handle::current();
            baton::blocking::section(|| handle.block_on(big(3)))
        }))
        .unwrap();
    assert_eq!(sum, 3 * BIG);
}

/// Runs `body` inside a local set on a runtime.
fn in_local_set<F: Future>(body: F) -> F::Output {
    let rt = rt();
    baton::task::LocalSet::new().block_on(&rt, body)
}

#[test]
fn local_tasks_by_every_local_spawn() {
    let by_function = in_local_set(async { baton::task::spawn_local(big(4)).await.unwrap() });
    let in_a_join_set = in_local_set(async {
        let mut set = baton::task::JoinSet::new();
        set.spawn_local(big(4));
        set.join_next().await.unwrap().unwrap()
    });
    let on_a_set = in_local_set(async {
        let set = baton::task::LocalSet::new();
        set.run_until(async { set.spawn_local(big(4)).await.unwrap() })
            .await
    });
    assert_eq!(by_function + in_a_join_set + on_a_set, 3 * 4 * BIG);
}

#[test]
fn spawned_on_work_queues() {
    let rt = rt();
    let sum = rt
        .block_on(rt.spawn(async {
            let handle = baton::Handle::current();
            let plain = baton::WorkQueue::builder("big").build(&handle).unwrap();
            let ordered = baton::WorkQueue::builder("big ordered")
                .ordered()
                .build(&handle)
                .unwrap();
            type QueueSpawner = Box<dyn Fn() -> baton::JoinHandle<usize> + Send>;
            let spawners: Vec<QueueSpawner> = vec![
                Box::new({
                    let q = plain.clone();
                    move || q.spawn(big(5))
                }),
                Box::new({
                    let q = plain.clone();
                    move || q.spawn_keyed("key", big(5))
                }),
                Box::new({
                    let q = plain.clone();
                    move || q.spawn_after(std::time::Duration::from_millis(1), big(5))
                }),
                Box::new(move || ordered.spawn(big(5))),
            ];
            let tasks: Vec<_> = spawners.iter().map(|spawn| spawn()).collect();
            let mut sum = 0;
            for task in tasks {
                sum += task.await.unwrap();
            }
            sum
        }))
        .unwrap();
    assert_eq!(sum, 4 * 5 * BIG);
}
