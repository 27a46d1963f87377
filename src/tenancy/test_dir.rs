//! (tests only) A fresh directory under the system temp dir, removed when
//! dropped.

use std::path::{Path, PathBuf};

/// A unique temporary directory for one test.
pub(crate) struct TestDir(PathBuf);

impl TestDir {
    /// Create `<tmp>/weir-tenancy-<tag>-<pid>-<n>`.
    pub(crate) fn new(tag: &str) -> TestDir {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "weir-tenancy-{tag}-{}-{n}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).unwrap();
        TestDir(path)
    }

    /// The directory.
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
