//! `hookline-dashboards`: writes the analytics dashboards of `deploy/grafana/dashboards/` from
//! the query library (`hookline_dev::dashboards`). Run it after changing a query; the tests
//! fail while the files differ from what it writes.

use std::path::PathBuf;

use anyhow::Context;
use hookline_dev::dashboards::DASHBOARDS;

fn main() -> anyhow::Result<()> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana/dashboards");
    for dashboard in DASHBOARDS {
        let path = dir.join(format!("{}.json", dashboard.uid));
        let mut text = serde_json::to_string_pretty(&dashboard.json())?;
        text.push('\n');
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        println!("{}: {} panels", path.display(), dashboard.queries().len());
    }
    Ok(())
}
