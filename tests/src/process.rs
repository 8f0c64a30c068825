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
}

impl Supervised {
    /// Starts `command` with stdout and stderr appended to `log`.
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> anyhow::Result<Self> {
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
        })
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

impl Drop for Supervised {
    fn drop(&mut self) {
        self.stop();
    }
}
