//! Other ecosystems' runtime contexts and traits over baton, each behind a feature.
//!
//! - `tokio` (feature `tokio`): a small tokio runtime owned by the baton runtime,
//!   whose context every baton thread that runs tasks enters, so `tokio::spawn`, `tokio::time`,
//!   `tokio::net` and the libraries built on them work inside baton tasks. Without the feature
//!   the same names are empty shims, so the worker loop and `block_on` call them
//!   unconditionally and pay nothing.
//! - `hyper` (feature `hyper`, a public module): hyper 1.x's executor, timer
//!   and I/O traits, and hyper-util's connector, over baton.

#[cfg(feature = "tokio")]
#[path = "tokio.rs"]
mod tokio_context;
#[cfg(not(feature = "tokio"))]
#[path = "no_tokio.rs"]
mod tokio_context;

#[cfg(feature = "tokio")]
pub use tokio_context::TOKIO_WORKER_THREADS;
pub(crate) use tokio_context::{leave_foreign_runtime, ThreadStart, TokioRuntime, WorkerContext};
