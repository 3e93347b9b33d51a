//! The one error type of the engine. The Python bindings map each variant to one exception class.

/// Where in the user's input a problem was found: the whole input, the offending item and its
/// character offset, so that a message can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputSpan {
    pub input: String,
    pub item: String,
    pub offset: usize,
}

impl std::fmt::Display for InputSpan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.input == self.item {
            write!(f, "{:?}", self.item)
        } else {
            write!(f, "{:?} (at character {} of {:?})", self.item, self.offset, self.input)
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("invalid target {span}: {reason}")]
    Target { span: InputSpan, reason: String },

    #[error("target {span} covers {count} addresses, more than the limit of {limit}; narrow it or allow large targets explicitly")]
    TooLarge { span: InputSpan, count: u128, limit: u128 },

    #[error("cannot resolve hostname {host:?}: {reason}")]
    Resolve { host: String, reason: String },

    #[error("target {target} is outside the authorised scope ({scope}); nothing was sent")]
    OutOfScope { target: String, scope: String },

    #[error("invalid port specification {span}: {reason}")]
    Ports { span: InputSpan, reason: String },

    #[error("invalid option {name}: {reason}")]
    Option { name: String, reason: String },

    #[error("no targets left to scan{0}")]
    Empty(String),

    #[error("scan failed: {0}")]
    Io(#[from] std::io::Error),

    /// A bug: a task of the engine panicked. The scan fails rather than end "complete" with
    /// that task's results silently missing.
    #[error("scan failed: internal error: {0}")]
    Internal(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn target(input: &str, item: &str, offset: usize, reason: impl Into<String>) -> Self {
        Error::Target { span: span(input, item, offset), reason: reason.into() }
    }

    pub(crate) fn ports(input: &str, item: &str, offset: usize, reason: impl Into<String>) -> Self {
        Error::Ports { span: span(input, item, offset), reason: reason.into() }
    }

    pub(crate) fn option(name: &str, reason: impl Into<String>) -> Self {
        Error::Option { name: name.to_string(), reason: reason.into() }
    }

    /// The offending input span, when the error is about user input.
    pub fn span(&self) -> Option<&InputSpan> {
        match self {
            Error::Target { span, .. } | Error::TooLarge { span, .. } | Error::Ports { span, .. } => Some(span),
            _ => None,
        }
    }
}

/// Shortens `s` to at most `max` characters for messages: `abc… (6 characters)`.
pub(crate) fn clip(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => std::borrow::Cow::Borrowed(s),
        Some((cut, _)) => std::borrow::Cow::Owned(format!("{}… ({} characters)", &s[..cut], s.chars().count())),
    }
}

pub(crate) fn span(input: &str, item: &str, offset: usize) -> InputSpan {
    InputSpan { input: input.to_string(), item: item.to_string(), offset }
}
