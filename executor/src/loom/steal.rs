//! Steal racing pop: while a core's worker pops its queue and an idle core steals from it,
//! every task runs exactly once.

use super::{model, Tally};
use crate::queue::{self, steal_into};
use crate::sync::Arc;

#[test]
fn steal_racing_pop_runs_each_task_once() {
    model(2, || {
        const TASKS: usize = 3;
        // The victim holds three tasks; the thief's own queue (capacity 2 under loom) limits
        // how many it may take.
        let victim = Arc::new(queue::unbounded_queue());
        let tally = Tally::new();
        for _ in 0..TASKS {
            victim.push(tally.task()).unwrap();
        }
        let thief = {
            let victim = victim.clone();
            loom::thread::spawn(move || {
                let own = queue::local_queue();
                let mut ran = 0;
                if let Some(first) = steal_into(&victim, &own) {
                    first.run();
                    ran += 1;
                }
                while let Ok(r) = own.pop() {
                    r.run();
                    ran += 1;
                }
                ran
            })
        };
        let mut ran = 0;
        while let Ok(r) = victim.pop() {
            r.run();
            ran += 1;
        }
        let stolen = thief.join().unwrap();
        // Anything the thief handed back lands in the victim queue: finish it.
        while let Ok(r) = victim.pop() {
            r.run();
            ran += 1;
        }
        assert_eq!(ran + stolen, TASKS);
        assert_eq!(tally.polls(), TASKS, "each task polled exactly once");
        assert_eq!(tally.drops(), TASKS);
    });
}
