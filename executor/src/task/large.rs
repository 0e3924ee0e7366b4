//! Futures too large to pass around by value: boxed where they enter the runtime.
//!
//! A future is moved by value through every call between a spawn (or `block_on`) and the
//! task's allocation, and without optimisation each move is a copy on the stack. A future of a
//! few hundred kilobytes (a large buffer held across an `.await`) then overflows a worker's
//! stack in a debug build, which aborts the process. So every public entry point boxes a
//! future above [`LARGE_FUTURE`] bytes first, as tokio does, and only a pointer travels on.

/// The size above which a future is boxed at a spawn or `block_on`: smaller in debug builds,
/// where every move is a copy.
pub(crate) const LARGE_FUTURE: usize = if cfg!(debug_assertions) {
    2048
} else {
    16 * 1024
};

/// Evaluates `$body` with `$future` boxed and pinned if it is larger than [`LARGE_FUTURE`],
/// as it is otherwise (the body is expanded for both types).
macro_rules! boxed_if_large {
    ($future:ident => $body:expr) => {
        if ::std::mem::size_of_val(&$future) > $crate::task::large::LARGE_FUTURE {
            let $future = ::std::boxed::Box::pin($future);
            $body
        } else {
            $body
        }
    };
}

pub(crate) use boxed_if_large;
