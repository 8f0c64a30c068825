//! `hookline-report`: Hookline's engineering metrics without Grafana.
//!
//! [`run`] executes every query of the library (`hookline_schemas::queries`) for one time range
//! and scope, [`terminal`] prints the results as tables with units, and [`html`] writes them as
//! one self-contained page with a chart per query ([`chart`]: SVG drawn here, no script or
//! network needed to show it). [`units`] says how a column's values read: its name says what
//! it measures (`…_seconds`, `…_rate`, …), the way the library names columns.

pub mod chart;
pub mod cli;
pub mod html;
pub mod run;
pub mod terminal;
pub mod units;
