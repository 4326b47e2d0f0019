//! Where log lines go and how they look. On a terminal or a file: a timestamp, the level, the
//! message and its fields. Under systemd (stderr is the journal's stream, `JOURNAL_STREAM`):
//! no timestamp of our own, journald adds one, and a `<N>` syslog priority prefix that journald
//! turns into the entry's priority (`journalctl -p warning`). `--log-format json`: one JSON
//! object a line, with its timestamp, for log shippers. `HAVIP_LOG` filters (default `info`).

use std::{
    fmt,
    io::{self, IsTerminal as _},
    os::fd::AsFd as _,
    os::unix::fs::MetadataExt as _,
};

use clap::ValueEnum;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::{
    fmt::{
        format::{self, FormatEvent, FormatFields, Writer},
        FmtContext,
    },
    registry::LookupSpan,
    EnvFilter,
};

/// `--log-format`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Lines for people: a timestamp (none under systemd, whose journal adds it), the level,
    /// the message and its fields.
    #[default]
    Text,
    /// One JSON object a line (timestamp, level, target, message and fields).
    Json,
}

/// How [`init`] set logging up, for [`fatal`].
static MODE: std::sync::OnceLock<Mode> = std::sync::OnceLock::new();

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Text,
    Journal,
    Json,
}

/// The error that ends the command, in the log's own form: JSON for shippers, with the error
/// priority for the journal, `havip: error: ...` otherwise.
pub fn fatal(message: &str) {
    match MODE.get().copied().unwrap_or(Mode::Text) {
        Mode::Json => tracing::error!("{message}"),
        Mode::Journal => eprintln!("<3>havip: error: {message}"),
        Mode::Text => eprintln!("havip: error: {message}"),
    }
}

/// Installs the global subscriber; call once, first.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_env("HAVIP_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(false);
    let mode = match format {
        LogFormat::Json => Mode::Json,
        LogFormat::Text if stderr_is_journal() => Mode::Journal,
        LogFormat::Text => Mode::Text,
    };
    let _ = MODE.set(mode);
    match mode {
        Mode::Json => builder.json().flatten_event(true).init(),
        Mode::Journal => builder
            .event_format(JournalPrefix(format::format().without_time()))
            .init(),
        Mode::Text => builder.init(),
    }
}

/// Whether stderr is the stream systemd connected to the journal: `JOURNAL_STREAM` names its
/// device and inode (systemd.exec(5)), so a stderr redirected elsewhere by a script started
/// from a unit keeps its timestamps.
fn stderr_is_journal() -> bool {
    let Some(want) = std::env::var("JOURNAL_STREAM")
        .ok()
        .and_then(|v| parse_journal_stream(&v))
    else {
        return false;
    };
    if io::stderr().is_terminal() {
        return false;
    }
    let Ok(fd) = io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    std::fs::File::from(fd)
        .metadata()
        .is_ok_and(|m| (m.dev(), m.ino()) == want)
}

/// "DEVICE:INODE", both decimal.
fn parse_journal_stream(value: &str) -> Option<(u64, u64)> {
    let (dev, ino) = value.split_once(':')?;
    Some((dev.parse().ok()?, ino.parse().ok()?))
}

/// sd-daemon(3)'s priority prefix for journald: `<3>` error ... `<7>` debug.
fn syslog_priority(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// A format with the syslog priority prefix in front.
struct JournalPrefix<F>(F);

impl<S, N, F> FormatEvent<S, N> for JournalPrefix<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "<{}>", syslog_priority(*event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_stream_parses_device_and_inode() {
        assert_eq!(parse_journal_stream("8:12345"), Some((8, 12345)));
        assert_eq!(parse_journal_stream("8"), None);
        assert_eq!(parse_journal_stream("x:1"), None);
    }

    #[test]
    fn priorities_follow_syslog() {
        assert_eq!(syslog_priority(Level::ERROR), 3);
        assert_eq!(syslog_priority(Level::WARN), 4);
        assert_eq!(syslog_priority(Level::INFO), 6);
        assert_eq!(syslog_priority(Level::DEBUG), 7);
    }
}
