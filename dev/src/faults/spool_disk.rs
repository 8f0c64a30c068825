//! A small file system for ingest's spool, so that a fault can fill its disk.
//!
//! As root, a tmpfs of the asked size is mounted on a temporary directory and unmounted when
//! the [`SpoolDisk`] is dropped (after the stack, whose ingest holds the spool file open).
//! Where mounting is not allowed, the closest stand-in is a spool bound of that many bytes
//! (`--spool-max-bytes`): ingest then refuses hooks as it would on a full disk, through its
//! own bound rather than the file system's error, and the report says so.

use std::path::PathBuf;
use std::process::Command;

use anyhow::Context;

/// The spool's directory and how it was made small.
pub struct SpoolDisk {
    /// Where the spool lives.
    dir: tempfile::TempDir,
    /// Whether a tmpfs is mounted there (else the bound stands in for it).
    mounted: bool,
    /// The size of the file system, or the stand-in bound.
    bytes: u64,
    /// Why mounting failed, when it did.
    mount_error: Option<String>,
}

impl SpoolDisk {
    /// Mounts a tmpfs of `bytes` on a new temporary directory, or prepares the stand-in.
    pub fn create(bytes: u64) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("hookline-spool-disk-")
            .tempdir()
            .context("cannot create a directory for the spool's file system")?;
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .output();
        let (mounted, mount_error) = match output {
            Ok(out) if out.status.success() => (true, None),
            Ok(out) => (
                false,
                Some(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
            ),
            Err(error) => (false, Some(format!("cannot run mount: {error}"))),
        };
        Ok(Self {
            dir,
            mounted,
            bytes,
            mount_error,
        })
    }

    /// The spool directory.
    pub fn spool_dir(&self) -> PathBuf {
        self.dir.path().join("spool")
    }

    /// Ingest's environment: the spool on the small file system.
    pub fn ingest_env(&self) -> Vec<(String, String)> {
        vec![(
            "HOOKLINE_SPOOL_DIR".to_owned(),
            self.spool_dir().display().to_string(),
        )]
    }

    /// Ingest's arguments: the stand-in bound, when nothing is mounted.
    pub fn ingest_args(&self) -> Vec<String> {
        if self.mounted {
            Vec::new()
        } else {
            vec![format!("--spool-max-bytes={}", self.bytes)]
        }
    }

    /// How the disk was made small, for the report.
    pub fn describe(&self) -> String {
        match &self.mount_error {
            None => format!(
                "spool on a {} KiB tmpfs (`mount -t tmpfs -o size={}`): the file system's own full-disk error",
                self.bytes >> 10,
                self.bytes
            ),
            Some(error) => format!(
                "mounting a tmpfs failed ({error}); stand-in: `--spool-max-bytes={}`",
                self.bytes
            ),
        }
    }
}

impl Drop for SpoolDisk {
    fn drop(&mut self) {
        if self.mounted {
            let unmounted = Command::new("umount")
                .arg(self.dir.path())
                .status()
                .is_ok_and(|s| s.success());
            if !unmounted {
                // Something still holds it: detach it now, the kernel frees it when released.
                let _ = Command::new("umount")
                    .arg("-l")
                    .arg(self.dir.path())
                    .status();
            }
        }
    }
}
