//! Attribute macros for [baton](https://docs.rs/baton): `#[baton::main]`, `#[baton::test]` and
//! `#[baton::blocking]`.
//!
//! Use them through the `baton` facade crate; the generated code refers to it as `::baton`.
//! This file only forwards: the entry points live in `entry.rs`, the blocking attribute in
//! `blocking.rs`.
#![forbid(unsafe_code)]

use proc_macro::TokenStream;

mod blocking;
mod entry;
mod item;

/// Runs an `async fn main` on a baton runtime.
///
/// The function becomes a synchronous `fn` that builds a [`baton::Runtime`] and blocks on the
/// body. The return type and attributes are kept, so `main` can return a `Result`. The optional
/// `cores = N` argument (`N` a positive integer literal) sets the number of cores; by default the
/// runtime uses the CPUs the process may use.
///
/// ```
/// #[baton::main]
/// async fn main() {
///     let answer = baton::spawn(async { 6 * 7 }).await.unwrap();
///     assert_eq!(answer, 42);
/// }
/// ```
///
/// expands to
///
/// ```text
/// fn main() {
///     let body = async move {
///         let answer = baton::spawn(async { 6 * 7 }).await.unwrap();
///         assert_eq!(answer, 42);
///     };
///     ::baton::Runtime::builder()
///         .build()
///         .expect("failed to build the baton runtime")
///         .block_on(body)
/// }
/// ```
///
/// # Examples
///
/// ```
/// #[baton::main(cores = 2)]
/// async fn main() -> std::io::Result<()> {
///     let text = baton::blocking::unblock(|| std::fs::read_to_string("Cargo.toml")).await?;
///     assert!(!text.is_empty());
///     Ok(())
/// }
/// ```
///
/// # Panics
///
/// The generated `main` panics if the runtime cannot be built (for example if no thread can be
/// spawned).
///
/// [`baton::Runtime`]: https://docs.rs/baton/latest/baton/struct.Runtime.html
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::main(args.into(), item.into()).into()
}

/// Runs an `async fn` test on a fresh baton runtime.
///
/// Like [`macro@main`], plus the `#[test]` attribute: each test builds its own runtime, with
/// `cores = N` cores if given. Other attributes (`#[should_panic]`, `#[ignore]`) and a `Result`
/// return type are kept. The test must take no arguments.
///
/// `start_paused = true` starts the runtime with its clock paused (`Builder::start_paused`, see
/// `baton::time::pause`): sleeps, timeouts and intervals then wait on a clock that jumps to the
/// next timer whenever the runtime is idle, so they complete at once and in order. Such a runtime
/// has one core (`cores`, if given, must be 1).
///
/// # Examples
///
/// ```
/// #[baton::test(cores = 1)]
/// async fn spawned_tasks_run() {
///     let handle = baton::spawn(async { 1 + 1 });
///     assert_eq!(handle.await.unwrap(), 2);
/// }
/// # fn main() {}
/// ```
///
/// ```
/// use std::time::Duration;
///
/// #[baton::test(start_paused = true)]
/// async fn an_hour_passes_at_once() {
///     let start = baton::time::Instant::now();
///     baton::time::sleep(Duration::from_secs(3600)).await;
///     assert_eq!(start.elapsed(), Duration::from_secs(3600));
/// }
/// # fn main() {}
/// ```
///
/// # Panics
///
/// The generated test panics if the runtime cannot be built.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::test(args.into(), item.into()).into()
}

/// Runs the body of a synchronous function or method inside a blocking section.
///
/// The body is wrapped in `::baton::blocking::section(|| { body })`, so on a baton worker the
/// executor hands the core off if the call blocks; `return` and `?` keep their meaning. With the
/// `long` argument, `#[baton::blocking(long)]`, the body runs in `section_long`: the core is handed
/// off at once. The attribute rejects an `async fn`: a section must not span an `.await`, so use
/// `baton::blocking::unblock` or a section around the blocking call inside the body instead.
///
/// # Examples
///
/// ```
/// use std::io;
///
/// #[baton::blocking]
/// fn load(path: &str) -> io::Result<Vec<u8>> {
///     let bytes = std::fs::read(path)?;
///     Ok(bytes)
/// }
///
/// struct Store(std::sync::Mutex<Vec<u8>>);
///
/// impl Store {
///     #[baton::blocking(long)]
///     fn append(&self, bytes: &[u8]) -> usize {
///         let mut data = self.0.lock().unwrap();
///         data.extend_from_slice(bytes);
///         data.len()
///     }
/// }
///
/// # fn main() -> io::Result<()> {
/// let store = Store(Default::default());
/// assert!(store.append(&load("Cargo.toml")?) > 0);
/// # Ok(())
/// # }
/// ```
#[proc_macro_attribute]
pub fn blocking(args: TokenStream, item: TokenStream) -> TokenStream {
    blocking::blocking(args.into(), item.into()).into()
}
