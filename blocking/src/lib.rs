//! Annotate blocking code so that a baton executor can keep its cores busy while it runs.
//!
//! A *blocking section* is code announced as possibly blocking: synchronous file I/O, a
//! synchronous database driver, a contended [`std::sync::Mutex`], a long computation. On a baton
//! worker thread, the executor passes the worker's core to a spare worker if the section outlives
//! a short grace period (or at once, for the `_long` forms), so the tasks queued behind the
//! blocking call keep running. Code that turns out not to block pays a few nanoseconds.
//!
//! This crate has no dependency on the executor: any library can annotate its blocking calls by
//! depending on it alone. Off a baton worker (on any thread where no [`hook`] is installed) a
//! section simply runs its code.
//!
//! - [`section`] and [`section_long`] run a closure inside a section.
//! - [`section_async`] waits for the call site's turn without holding the thread, then runs a
//!   closure inside a section: for blocking calls that contend with each other.
//! - [`enter`] and [`enter_long`] return a [`Guard`]; the section lasts until the guard drops.
//! - [`in_section`] tells whether the current thread is inside a section.
//! - [`unblock`] runs a closure on another thread; its [`UnblockHandle`] gives the value or
//!   detaches, like `spawn_blocking`'s.
//! - [`hook`] is the contract an executor implements to learn about sections on its threads.
//!
//! # Examples
//!
//! ```
//! let config = baton_blocking::section(|| std::fs::read_to_string("Cargo.toml"));
//! # let _ = config;
//! ```
#![forbid(unsafe_code)]

pub mod hook;
mod local;
mod section;
#[cfg(test)]
mod testing;
mod turn;
mod unblock;

pub use section::{enter, enter_long, in_section, section, section_long, Guard};
pub use turn::{section_async, SectionAsync};
pub use unblock::{unblock, UnblockHandle};
