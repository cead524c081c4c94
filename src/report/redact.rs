//! The one way events reach reporters: [`EventSink`] redacts every secret
//! (database passwords) from each event's text before any reporter sees it,
//! so no caller of the runner can receive an unredacted event.

use std::sync::Arc;

use super::Reporter;
use crate::db::redact_secrets;
use crate::event::RunEvent;

/// Reporters behind a redacting front.
pub struct EventSink {
    secrets: Vec<String>,
    reporters: Vec<Arc<dyn Reporter>>,
}

impl EventSink {
    /// `secrets` are masked wherever they appear in an event's text.
    pub fn new(secrets: Vec<String>, reporters: Vec<Arc<dyn Reporter>>) -> Self {
        let secrets = secrets.into_iter().filter(|s| !s.is_empty()).collect();
        EventSink { secrets, reporters }
    }

    pub fn emit(&self, event: RunEvent) {
        let event = redact(event, &self.secrets);
        for r in &self.reporters {
            r.on_event(&event);
        }
    }

    /// The run is over with `exit_code`: every reporter's last word. The
    /// summary is built from events that passed this sink, so it is
    /// redacted already.
    pub fn finish(&self, summary: &super::RunSummary, exit_code: i32) {
        for r in &self.reporters {
            r.finish(summary, exit_code);
        }
    }
}

/// `event` with every secret masked in the text a test produced.
fn redact(event: RunEvent, secrets: &[String]) -> RunEvent {
    if secrets.is_empty() {
        return event;
    }
    let r = |s: &str| redact_secrets(s, secrets);
    match event {
        RunEvent::TestFinished(mut t) => {
            t.output = r(&t.output);
            t.reason = t.reason.map(|x| r(&x));
            RunEvent::TestFinished(t)
        }
        RunEvent::FailureOutput {
            binary,
            name,
            output,
        } => RunEvent::FailureOutput {
            binary,
            name,
            output: r(&output),
        },
        RunEvent::Output {
            worker,
            binary,
            text,
        } => RunEvent::Output {
            worker,
            binary,
            text: r(&text),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Outcome, TestResult};
    use std::sync::Mutex;

    #[derive(Default)]
    struct Seen(Mutex<Vec<String>>);
    impl Reporter for Seen {
        fn on_event(&self, event: &RunEvent) {
            let text = match event {
                RunEvent::TestFinished(t) => format!("{:?} {}", t.reason, t.output),
                RunEvent::FailureOutput { output, .. } => output.clone(),
                RunEvent::Output { text, .. } => text.clone(),
                _ => return,
            };
            self.0.lock().unwrap().push(text);
        }
    }

    #[test]
    fn no_reporter_sees_a_secret() {
        let seen = Arc::new(Seen::default());
        let sink = EventSink::new(vec!["s3cr:t".into(), String::new()], vec![seen.clone()]);
        sink.emit(RunEvent::TestFinished(
            TestResult::new("b", "t", None, "g", "gw0", Outcome::Failed)
                .because(Some("url postgres://u:s3cr:t@h/db".into()))
                .with_output("password s3cr:t".into()),
        ));
        sink.emit(RunEvent::FailureOutput {
            binary: "b".into(),
            name: "t".into(),
            output: "again s3cr:t".into(),
        });
        sink.emit(RunEvent::Output {
            worker: "gw0".into(),
            binary: "b".into(),
            text: "live s3cr:t\n".into(),
        });
        let seen = seen.0.lock().unwrap();
        assert_eq!(seen.len(), 3);
        for text in seen.iter() {
            assert!(!text.contains("s3cr:t"), "{text}");
            assert!(text.contains("****"), "{text}");
        }
    }
}
