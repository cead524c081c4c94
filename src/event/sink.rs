//! The one way events reach reporters: [`EventSink`] redacts every secret
//! (database passwords) from each event's text before any reporter sees it,
//! so no caller of the runner can receive an unredacted event. What is
//! masked where is [`Redactor`]'s rule: a short or plain-word password
//! (`postgres`) only where it stands as a password.

use std::sync::Arc;

use super::{Reporter, RunEvent, RunSummary};
use crate::secrets::Redactor;

/// Reporters behind a redacting front.
pub struct EventSink {
    redactor: Redactor,
    reporters: Vec<Arc<dyn Reporter>>,
}

impl EventSink {
    /// `secrets` are masked in an event's text (see [`Redactor`]).
    pub fn new(secrets: Vec<String>, reporters: Vec<Arc<dyn Reporter>>) -> Self {
        EventSink {
            redactor: Redactor::new(&secrets),
            reporters,
        }
    }

    /// What masks the secrets, for text that must be masked before it
    /// is cut (a cut secret would no longer be recognised here).
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    pub fn emit(&self, event: RunEvent) {
        let event = redact(event, &self.redactor);
        for r in &self.reporters {
            r.on_event(&event);
        }
    }

    /// The run is over with `exit_code`: every reporter's last word. The
    /// summary is built from events that passed this sink, so it is
    /// redacted already.
    pub fn finish(&self, summary: &RunSummary, exit_code: i32) {
        for r in &self.reporters {
            r.finish(summary, exit_code);
        }
    }
}

/// `event` with every secret masked in the text a test produced.
fn redact(event: RunEvent, redactor: &Redactor) -> RunEvent {
    if redactor.is_empty() {
        return event;
    }
    let r = |s: &str| redactor.redact(s);
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
        RunEvent::Leaked {
            worker,
            binary,
            tests,
            mut processes,
            fails,
        } => {
            // A command line may hold a password.
            for p in &mut processes {
                p.command = r(&p.command);
            }
            RunEvent::Leaked {
                worker,
                binary,
                tests,
                processes,
                fails,
            }
        }
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

    #[test]
    fn a_plain_word_password_is_masked_only_where_it_is_a_password() {
        let seen = Arc::new(Seen::default());
        let sink = EventSink::new(vec!["postgres".into()], vec![seen.clone()]);
        sink.emit(RunEvent::FailureOutput {
            binary: "b".into(),
            name: "t".into(),
            output: "cannot connect to postgres://postgres:postgres@db/postgres as user postgres"
                .into(),
        });
        assert_eq!(
            seen.0.lock().unwrap()[0],
            "cannot connect to postgres://postgres:****@db/postgres as user postgres"
        );
    }
}
