//! Child processes run a few at a time, with one combined progress display.
//!
//! `trainer cv --jobs N` hands each fold to a worker process (the trainer itself with
//! `cv --fold K`). [`run`] starts at most `parallel` of them at once, shows one bar per
//! running worker (fed by the worker's [`crate::train::progress`] lines on its stdout), relays
//! the worker's stderr lines, and keeps the last of them. When a worker fails, the others
//! are killed and the error names the worker and ends with its last stderr lines.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::train::progress::Progress;

/// How many of a failed worker's last stderr lines the error shows.
pub const TAIL_LINES: usize = 20;

/// One worker process to run.
#[derive(Debug)]
pub struct Worker {
    /// Names the worker in the display and in errors, e.g. `fold 2/5`.
    pub label: String,
    /// The process; its stdout and stderr are replaced by pipes.
    pub command: Command,
}

/// What a worker's reader threads send to the loop in [`run`].
enum Message {
    Progress(usize, Progress),
    Line(usize, String),
}

/// A started worker.
struct Running {
    index: usize,
    child: Child,
    bar: ProgressBar,
    stdout: JoinHandle<()>,
    stderr: JoinHandle<Vec<String>>,
}

impl Running {
    /// Waits for the reader threads (they end at the pipes' end) and returns the stderr tail.
    fn join(self) -> (usize, Vec<String>) {
        let _ = self.stdout.join();
        let tail = self.stderr.join().unwrap_or_default();
        (self.index, tail)
    }
}

/// Runs every worker, at most `parallel` at once, in order of the list.
///
/// `done(i)` is called when worker `i` has exited successfully; an error from it fails
/// the run like a failed worker. Returns when all
/// have finished; on the first failure the running workers are killed and the error
/// names the failed one, its exit status and its last [`TAIL_LINES`] stderr lines.
pub fn run(
    workers: Vec<Worker>,
    parallel: usize,
    mut done: impl FnMut(usize) -> Result<()>,
) -> Result<()> {
    let parallel = parallel.max(1);
    let labels: Vec<String> = workers.iter().map(|w| w.label.clone()).collect();
    let mut queue: VecDeque<(usize, Command)> =
        workers.into_iter().map(|w| w.command).enumerate().collect();
    let multi = MultiProgress::new();
    let overall = multi.add(ProgressBar::new(labels.len() as u64));
    overall.set_style(
        ProgressStyle::with_template("{msg} {pos}/{len} done, {elapsed} elapsed")
            .expect("valid template"),
    );
    overall.set_message(format!("{} workers, {parallel} at once:", labels.len()));
    let say = |line: &str| {
        if multi.is_hidden() {
            eprintln!("{line}");
        } else {
            let _ = multi.println(line);
        }
    };
    let (tx, rx) = mpsc::channel();
    let mut running: Vec<Running> = Vec::new();
    loop {
        while running.len() < parallel
            && let Some((index, command)) = queue.pop_front()
        {
            match start(index, command, &labels[index], &multi, &tx) {
                Ok(r) => running.push(r),
                Err(e) => {
                    stop_all(running);
                    return Err(e);
                }
            }
        }
        if running.is_empty() {
            break;
        }
        wait_for_messages(&rx, &running, &labels, &say);
        let mut k = 0;
        while k < running.len() {
            let status = match running[k].child.try_wait() {
                Ok(None) => {
                    k += 1;
                    continue;
                }
                Ok(Some(status)) => status,
                Err(e) => {
                    let label = &labels[running[k].index];
                    let e = anyhow!(e).context(format!("waiting for {label}"));
                    stop_all(running);
                    return Err(e);
                }
            };
            let finished = running.remove(k);
            multi.remove(&finished.bar);
            let (index, tail) = finished.join();
            // Lines the readers sent before they ended, so the output keeps its order.
            drain(&rx, &running, &labels, &say);
            let outcome = if status.success() {
                done(index)
            } else {
                Err(failure(&labels[index], status, &tail))
            };
            match outcome {
                Ok(()) => overall.inc(1),
                Err(e) => {
                    stop_all(running);
                    overall.finish_and_clear();
                    return Err(e);
                }
            }
        }
    }
    overall.finish_and_clear();
    Ok(())
}

/// Starts one worker with piped output and its two reader threads.
fn start(
    index: usize,
    mut command: Command,
    label: &str,
    multi: &MultiProgress,
    tx: &Sender<Message>,
) -> Result<Running> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {label} ({:?})", command.get_program()))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    let bar = multi.add(ProgressBar::new(0));
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(format!("{label} starting"));
    let tx_out = tx.clone();
    let stdout = std::thread::spawn(move || {
        for line in lines(stdout) {
            if let Some(p) = Progress::parse(&line)
                && tx_out.send(Message::Progress(index, p)).is_err()
            {
                break;
            }
        }
    });
    let tx_err = tx.clone();
    let stderr = std::thread::spawn(move || {
        let mut tail = VecDeque::with_capacity(TAIL_LINES);
        for line in lines(stderr) {
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line.clone());
            let _ = tx_err.send(Message::Line(index, line));
        }
        tail.into()
    });
    Ok(Running {
        index,
        child,
        bar,
        stdout,
        stderr,
    })
}

/// The lines of a pipe, invalid UTF-8 replaced, until its end or a read error.
fn lines(pipe: impl Read) -> impl Iterator<Item = String> {
    let mut reader = BufReader::new(pipe);
    std::iter::from_fn(move || {
        let mut buf = Vec::new();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => None,
            Ok(_) => {
                while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    buf.pop();
                }
                Some(String::from_utf8_lossy(&buf).into_owned())
            }
        }
    })
}

/// Waits up to 100 ms for a message, then handles every one waiting.
fn wait_for_messages(
    rx: &Receiver<Message>,
    running: &[Running],
    labels: &[String],
    say: &impl Fn(&str),
) {
    match rx.recv_timeout(Duration::from_millis(100)) {
        Ok(m) => handle(m, running, labels, say),
        Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return,
    }
    drain(rx, running, labels, say);
}

/// Handles every message already waiting.
fn drain(rx: &Receiver<Message>, running: &[Running], labels: &[String], say: &impl Fn(&str)) {
    while let Ok(m) = rx.try_recv() {
        handle(m, running, labels, say);
    }
}

fn handle(m: Message, running: &[Running], labels: &[String], say: &impl Fn(&str)) {
    match m {
        Message::Progress(i, p) => {
            if let Some(r) = running.iter().find(|r| r.index == i) {
                r.bar.set_length(p.len);
                r.bar.set_position(p.pos);
                r.bar.set_message(p.message);
            }
        }
        Message::Line(i, line) => {
            // Epoch lines already start with the fold's label; tag every other line.
            if line.starts_with(&labels[i]) {
                say(&line);
            } else {
                say(&format!("[{}] {line}", labels[i]));
            }
        }
    }
}

/// The error for a worker that exited with `status`.
fn failure(label: &str, status: ExitStatus, tail: &[String]) -> anyhow::Error {
    let mut text = format!("{label} failed ({status})");
    if tail.is_empty() {
        text += "; it wrote nothing to stderr";
    } else {
        text += "; the last lines of its stderr:";
        for line in tail {
            text += "\n    ";
            text += line;
        }
    }
    anyhow!(text)
}

/// Kills every running worker (each by its own process handle) and reaps it. Its
/// reader threads are left to end by themselves when the pipes close.
fn stop_all(running: Vec<Running>) {
    for mut r in running {
        let _ = r.child.kill();
        let _ = r.child.wait();
        r.bar.finish_and_clear();
    }
}

/// `args` without the options named in `valued` (each with its value, written as
/// `--name value` or `--name=value`) and without the flags named in `flags`.
///
/// Used to rebuild a worker's command line from the user's: every other argument is
/// passed through untouched, so options added to the trainer later reach the workers too.
pub fn without_options(args: &[OsString], valued: &[&str], flags: &[&str]) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let text = arg.to_string_lossy();
        if text == "--" {
            out.push(arg.clone());
            out.extend(it.cloned());
            break;
        }
        if flags.iter().any(|f| text == *f) {
            continue;
        }
        if valued.iter().any(|v| text == *v) {
            it.next();
            continue;
        }
        if valued
            .iter()
            .any(|v| text.strip_prefix(v).is_some_and(|r| r.starts_with('=')))
        {
            continue;
        }
        out.push(arg.clone());
    }
    out
}

/// Appends `--name value` to an argument list.
pub fn push_option(args: &mut Vec<OsString>, name: &str, value: impl AsRef<OsStr>) {
    args.push(name.into());
    args.push(value.as_ref().to_owned());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn options_are_removed_in_both_spellings_and_the_rest_kept_in_order() {
        let args = os(&[
            "cv",
            "--jobs",
            "4",
            "--epochs",
            "1",
            "--threads=2",
            "--out",
            "runs/x",
            "--progress-lines",
            "--jobsite",
            "--lr=0.1",
        ]);
        let got = without_options(
            &args,
            &["--jobs", "--threads", "--out"],
            &["--progress-lines"],
        );
        assert_eq!(got, os(&["cv", "--epochs", "1", "--jobsite", "--lr=0.1"]));
        let mut with = got;
        push_option(&mut with, "--fold", "3");
        assert_eq!(with[with.len() - 2..], os(&["--fold", "3"]));
        let after = os(&["cv", "--", "--jobs", "2"]);
        assert_eq!(without_options(&after, &["--jobs"], &[]), after);
    }

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    }

    #[test]
    fn workers_run_in_parallel_and_report_done_in_any_order() {
        let workers = (0..3)
            .map(|i| Worker {
                label: format!("w{i}"),
                command: sh(&format!("echo '@progress 1 2 w{i}'; echo note >&2; exit 0")),
            })
            .collect();
        let mut seen = Vec::new();
        run(workers, 2, |i| {
            seen.push(i);
            Ok(())
        })
        .unwrap();
        seen.sort_unstable();
        assert_eq!(seen, vec![0, 1, 2]);
    }

    #[test]
    fn a_failed_worker_stops_the_others_and_names_itself_with_its_stderr() {
        let start = Instant::now();
        let workers = vec![
            Worker {
                label: "fold 1/3".into(),
                command: sh("exec sleep 60"),
            },
            Worker {
                label: "fold 2/3".into(),
                command: sh("echo first >&2; echo 'error: it broke' >&2; exit 3"),
            },
            Worker {
                label: "fold 3/3".into(),
                command: sh("echo never started > /dev/null"),
            },
        ];
        let mut done = Vec::new();
        let e = run(workers, 2, |i| {
            done.push(i);
            Ok(())
        })
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("fold 2/3 failed (exit status: 3)"), "{e}");
        assert!(e.ends_with("first\n    error: it broke"), "{e}");
        assert!(done.is_empty(), "{done:?}");
        // The sleeping worker was killed, not waited for.
        assert!(start.elapsed() < Duration::from_secs(30));
    }

    #[test]
    fn a_failing_done_callback_fails_the_run_and_a_missing_program_is_named() {
        let one = |c| {
            vec![Worker {
                label: "fold 1/1".into(),
                command: c,
            }]
        };
        let e = run(one(sh("exit 0")), 1, |_| Err(anyhow!("no fold file"))).unwrap_err();
        assert_eq!(e.to_string(), "no fold file");
        let e = run(one(Command::new("/nonexistent/trainer")), 1, |_| Ok(())).unwrap_err();
        assert!(format!("{e:#}").contains("starting fold 1/1"), "{e:#}");
    }
}
