//! The bounded buffer of a deployment's recent output, and the tasks that fill it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::task::JoinHandle;

/// Lines longer than this many bytes are split, so one line cannot grow without bound.
const MAX_LINE_BYTES: u64 = 8 * 1024;

/// The last `capacity` output lines of a deployment, oldest first.
#[derive(Debug)]
pub(crate) struct LogBuffer {
    capacity: usize,
    lines: Mutex<VecDeque<String>>,
}

impl LogBuffer {
    /// A buffer keeping the last `capacity` lines (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            lines: Mutex::new(VecDeque::with_capacity(capacity)),
        }
    }

    /// Appends a line, forgetting the oldest one when full.
    pub(crate) fn push(&self, line: String) {
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        if lines.len() == self.capacity {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// The last `n` lines, oldest first.
    pub(crate) fn tail(&self, n: usize) -> Vec<String> {
        let lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        lines
            .iter()
            .skip(lines.len().saturating_sub(n))
            .cloned()
            .collect()
    }

    /// All buffered lines, oldest first.
    pub(crate) fn all(&self) -> Vec<String> {
        self.tail(self.capacity)
    }
}

/// Reads `pipe` line by line into `logs` (and into `debug` events) until it closes.
pub(crate) fn pump(
    pipe: impl AsyncRead + Unpin + Send + 'static,
    stream: &'static str,
    deployment: Arc<str>,
    logs: Arc<LogBuffer>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut reader = BufReader::new(pipe);
        let mut bytes = Vec::new();
        loop {
            bytes.clear();
            match (&mut reader)
                .take(MAX_LINE_BYTES)
                .read_until(b'\n', &mut bytes)
                .await
            {
                Ok(0) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&bytes);
                    let line = line.trim_end_matches(['\n', '\r']);
                    tracing::debug!(deployment = %deployment, stream, "{line}");
                    logs.push(line.to_owned());
                }
                Err(error) => {
                    tracing::debug!(deployment = %deployment, stream, %error, "output pipe failed");
                    break;
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_last_lines() {
        let logs = LogBuffer::new(3);
        for i in 0..5 {
            logs.push(i.to_string());
        }
        assert_eq!(logs.all(), ["2", "3", "4"]);
        assert_eq!(logs.tail(2), ["3", "4"]);
        assert_eq!(logs.tail(10), ["2", "3", "4"]);
    }

    #[tokio::test]
    async fn splits_lines_and_long_lines() {
        let logs = Arc::new(LogBuffer::new(10));
        let long = "x".repeat(MAX_LINE_BYTES as usize + 5);
        let input = format!("one\r\ntwo\n{long}\nlast without newline");
        pump(
            std::io::Cursor::new(input.into_bytes()),
            "stdout",
            Arc::from("test"),
            Arc::clone(&logs),
        )
        .await
        .expect("pump task");
        let lines = logs.all();
        assert_eq!(lines[..2], ["one", "two"]);
        assert_eq!(lines[2].len(), MAX_LINE_BYTES as usize);
        assert_eq!(lines[3], "xxxxx");
        assert_eq!(lines[4], "last without newline");
        assert_eq!(lines.len(), 5);
    }
}
