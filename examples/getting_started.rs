//! Getting started: spawn tasks, run blocking code in a section, use a work queue, print the
//! stats. The README's "Getting started" shows this file word for word (tests/readme.rs
//! checks it).

use baton::{Handle, WorkQueue};

#[baton::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Tasks run on any core; a JoinHandle is a future of the task's output.
    let squares: Vec<_> = (1..=4u64)
        .map(|i| baton::spawn(async move { i * i }))
        .collect();
    let mut sum = 0;
    for square in squares {
        sum += square.await?;
    }
    println!("sum of squares: {sum}");

    // Blocking code goes in a section: if it blocks, a spare worker takes the core over,
    // so the tasks queued behind it go on.
    let entries = baton::blocking::section(|| std::fs::read_dir("."))?.count();
    println!("{entries} entries in the current directory");

    // A work queue built from the current runtime: here one job at a time, in order.
    let journal = WorkQueue::builder("journal")
        .ordered()
        .build(&Handle::current())?;
    for n in 1..=3 {
        journal.spawn(async move { println!("journal entry {n}") });
    }
    journal.flush().await; // waits for the three jobs

    println!("{}", Handle::current().stats());
    Ok(())
}
