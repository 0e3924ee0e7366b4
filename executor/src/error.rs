//! Errors from building a runtime and from looking up the current one.

use std::error::Error;
use std::fmt;
use std::io;

/// Why [`Builder::build`](crate::Builder::build) failed.
///
/// # Examples
///
/// ```
/// let err = baton::Runtime::builder().cores(0).build().unwrap_err();
/// assert!(err.is_invalid_config());
/// assert_eq!(err.to_string(), "invalid runtime configuration: cores(0): a runtime needs at least one core");
/// ```
#[derive(Debug)]
pub struct BuildError {
    kind: BuildErrorKind,
}

#[derive(Debug)]
enum BuildErrorKind {
    /// A setting is out of range; the message says which and why.
    Invalid(String),
    /// The OS would not start a worker thread.
    Spawn(io::Error),
}

impl BuildError {
    pub(crate) fn invalid(message: impl Into<String>) -> BuildError {
        BuildError {
            kind: BuildErrorKind::Invalid(message.into()),
        }
    }

    pub(crate) fn spawn(err: io::Error) -> BuildError {
        BuildError {
            kind: BuildErrorKind::Spawn(err),
        }
    }

    /// Whether a builder setting was out of range (a zero or too large core count, a thread
    /// name with a NUL byte, ...).
    pub fn is_invalid_config(&self) -> bool {
        matches!(self.kind, BuildErrorKind::Invalid(_))
    }

    /// Whether the OS refused to start a worker thread.
    pub fn is_thread_spawn(&self) -> bool {
        matches!(self.kind, BuildErrorKind::Spawn(_))
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            BuildErrorKind::Invalid(message) => {
                write!(f, "invalid runtime configuration: {message}")
            }
            BuildErrorKind::Spawn(err) => write!(f, "could not start a worker thread: {err}"),
        }
    }
}

impl Error for BuildError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match &self.kind {
            BuildErrorKind::Invalid(_) => None,
            BuildErrorKind::Spawn(err) => Some(err),
        }
    }
}

impl From<BuildError> for io::Error {
    fn from(err: BuildError) -> io::Error {
        match err.kind {
            BuildErrorKind::Invalid(_) => io::Error::new(io::ErrorKind::InvalidInput, err),
            BuildErrorKind::Spawn(_) => io::Error::other(err),
        }
    }
}

/// Returned by [`Handle::try_current`](crate::Handle::try_current) outside a runtime.
///
/// # Examples
///
/// ```
/// let err = baton::Handle::try_current().unwrap_err();
/// assert!(err.to_string().contains("no baton runtime"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryCurrentError {
    _private: (),
}

impl TryCurrentError {
    pub(crate) fn new() -> TryCurrentError {
        TryCurrentError { _private: () }
    }
}

impl fmt::Display for TryCurrentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "there is no baton runtime on this thread: call this from a task, \
             from inside `Runtime::block_on`, or while a `Handle::enter` guard is alive",
        )
    }
}

impl Error for TryCurrentError {}

/// Why [`Handle::set_cores`](crate::Handle::set_cores) refused a core count.
///
/// # Examples
///
/// ```
/// let rt = baton_executor::Runtime::builder().cores(2).build()?;
/// let err = rt.handle().set_cores(3).unwrap_err();
/// assert!(err.is_above_max());
/// assert_eq!(err.to_string(), "set_cores(3): this runtime was built with 2 cores, the most it can have online");
/// assert!(rt.handle().set_cores(0).unwrap_err().is_zero());
/// # Ok::<(), baton_executor::BuildError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCoresError {
    kind: SetCoresErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum SetCoresErrorKind {
    /// Asked for no core at all.
    Zero,
    /// Asked for more cores than the runtime was built with.
    AboveMax { asked: usize, max: usize },
}

impl SetCoresError {
    pub(crate) fn zero() -> SetCoresError {
        SetCoresError {
            kind: SetCoresErrorKind::Zero,
        }
    }

    pub(crate) fn above_max(asked: usize, max: usize) -> SetCoresError {
        SetCoresError {
            kind: SetCoresErrorKind::AboveMax { asked, max },
        }
    }

    /// Whether zero cores were asked for: a runtime keeps at least one core online.
    pub fn is_zero(&self) -> bool {
        self.kind == SetCoresErrorKind::Zero
    }

    /// Whether more cores were asked for than the runtime was built with
    /// ([`Builder::cores`](crate::Builder::cores)), the most it can have online.
    pub fn is_above_max(&self) -> bool {
        matches!(self.kind, SetCoresErrorKind::AboveMax { .. })
    }
}

impl fmt::Display for SetCoresError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            SetCoresErrorKind::Zero => {
                f.write_str("set_cores(0): a runtime keeps at least one core online")
            }
            SetCoresErrorKind::AboveMax { asked, max } => write!(
                f,
                "set_cores({asked}): this runtime was built with {max} cores, the most it can \
                 have online"
            ),
        }
    }
}

impl Error for SetCoresError {}
