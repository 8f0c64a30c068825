//! Supervised child processes that never outlive the test or `make run` that started them.
//!
//! Each child runs in its own process group with its output in a log file. It is stopped
//! when its [`Supervised`] handle is dropped — on success, on a panicking test, and on
//! Ctrl-C — with SIGTERM to the whole group, then SIGKILL if it has not exited within a grace
//! period. On Linux the child also gets `PR_SET_PDEATHSIG`, so even a parent killed with -9
//! takes its children along.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// How long a child may take to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// A running child process and where its output goes.
pub struct Supervised {
    /// What the process is, for messages.
    name: String,
    child: Option<Child>,
    /// Standard output and error of the process, for the failure messages of tests.
    log: PathBuf,
    /// How the process was started, so that a supervisor can start it again as it was
    /// ([`Supervised::respawn`]).
    command: Command,
}

impl Supervised {
    /// Starts `command` with stdout and stderr appended to `log`.
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> anyhow::Result<Self> {
        let recipe = copy_command(&command);
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("cannot open log file {}", log.display()))?;
        let err = out.try_clone()?;
        command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = crate::ports::spawn_excluding_probes(|| command.spawn())
            .with_context(|| format!("cannot start {name} ({command:?})"))?;
        Ok(Self {
            name: name.to_owned(),
            child: Some(child),
            log: log.to_owned(),
            command: recipe,
        })
    }

    /// Starts the process again with the command it was first started with, appending to the
    /// same log; a process still running is stopped first.
    pub fn respawn(&mut self) -> anyhow::Result<()> {
        self.stop();
        *self = Self::spawn(&self.name, copy_command(&self.command), &self.log)?;
        Ok(())
    }

    /// The exit status once the process has exited (reaping it); `None` while it runs or
    /// after it was stopped through this handle.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last `lines` lines of the process's output.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Fails with the process's output if it has already exited.
    pub fn ensure_running(&mut self) -> anyhow::Result<()> {
        let child = self.child.as_mut().context("process already stopped")?;
        if let Some(status) = child.try_wait()? {
            bail!(
                "{} exited with {status}; its last output ({}):\n{}",
                self.name,
                self.log.display(),
                self.log_tail(40)
            );
        }
        Ok(())
    }

    /// The process id, while the process runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends `signal` to the process group.
    pub fn signal(&self, signal: i32) {
        if let Some(child) = &self.child {
            self.signal_child(child, signal);
        }
    }

    /// Stops the process: SIGTERM, then SIGKILL after the grace period. Returns its exit status.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        self.signal_child(&child, libc::SIGTERM);
        let deadline = Instant::now() + STOP_GRACE;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => break,
            }
        }
        self.signal_child(&child, libc::SIGKILL);
        child.wait().ok()
    }

    /// Kills the process at once with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            self.signal_child(&child, libc::SIGKILL);
            let _ = child.wait();
        }
    }

    fn signal_child(&self, child: &Child, signal: i32) {
        // The group id is the child's pid (process_group(0)).
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe {
            libc::kill(-(child.id() as i32), signal);
        }
    }
}

/// A new command with the program, arguments, environment and directory of `command` (its
/// standard streams and pre-exec hooks are not copied: [`Supervised::spawn`] sets its own).
pub fn copy_command(command: &Command) -> Command {
    let mut copy = Command::new(command.get_program());
    copy.args(command.get_args());
    for (name, value) in command.get_envs() {
        match value {
            Some(value) => copy.env(name, value),
            None => copy.env_remove(name),
        };
    }
    if let Some(dir) = command.get_current_dir() {
        copy.current_dir(dir);
    }
    copy
}

/// When a supervisor starts a component again after it exited: at once the first time, then
/// after a delay that doubles with every exit that follows quickly, up to a bound, so that a
/// component that cannot start (a port taken, a broken configuration) does not spin and fill
/// its log. A component that ran long enough before exiting starts again at once.
#[derive(Debug, Clone)]
pub struct RestartBackoff {
    /// The delay after the second quick exit in a row; doubled after each further one.
    initial: Duration,
    /// The longest delay.
    max: Duration,
    /// How long a component must have run for its exit to count as a new failure rather
    /// than one more of a series.
    stable: Duration,
    /// Quick exits in a row so far.
    failures: u32,
}

impl RestartBackoff {
    pub fn new(initial: Duration, max: Duration, stable: Duration) -> Self {
        Self {
            initial,
            max,
            stable,
            failures: 0,
        }
    }

    /// The delay before starting again a component that exited after running for `ran`.
    pub fn after_exit(&mut self, ran: Duration) -> Duration {
        if ran >= self.stable {
            self.failures = 0;
        }
        self.failures += 1;
        if self.failures == 1 {
            return Duration::ZERO;
        }
        let doublings = (self.failures - 2).min(16);
        self.initial.saturating_mul(1 << doublings).min(self.max)
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    #[test]
    fn an_exited_process_reports_its_status_and_runs_again_when_respawned() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("child.log");
        let mut child = Supervised::spawn("child", sh("echo bye; exit 3"), &log).unwrap();
        let status = wait_for_exit(&mut child);
        assert_eq!(status.code(), Some(3));
        assert_eq!(child.log_tail(1), "bye");
        child.respawn().unwrap();
        assert_eq!(wait_for_exit(&mut child).code(), Some(3));
        assert_eq!(child.log_tail(5), "bye\nbye");
    }

    #[test]
    fn a_running_process_has_no_exit_status() {
        let dir = tempfile::tempdir().unwrap();
        let mut child =
            Supervised::spawn("sleeper", sh("sleep 600"), &dir.path().join("log")).unwrap();
        assert!(child.exit_status().is_none());
        assert!(child.stop().is_some(), "stopped by SIGTERM");
        assert!(
            child.exit_status().is_none(),
            "a stopped process is not an exit to report"
        );
    }

    fn wait_for_exit(child: &mut Supervised) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.exit_status() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the child did not exit within 30 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn quick_exits_back_off_up_to_the_bound_and_a_stable_run_resets_it() {
        let second = Duration::from_secs(1);
        let mut backoff = RestartBackoff::new(second, 8 * second, 60 * second);
        let quick = Duration::from_millis(500);
        let delays: Vec<u64> = (0..7)
            .map(|_| backoff.after_exit(quick).as_secs())
            .collect();
        assert_eq!(delays, [0, 1, 2, 4, 8, 8, 8]);
        assert_eq!(backoff.after_exit(120 * second), Duration::ZERO);
        assert_eq!(backoff.after_exit(quick), second);
    }
}
