//! Registering a service's metrics in the registry it owns.
//!
//! Each metric is created and registered in one expression ([`register`]), so a metrics
//! struct names each of its metrics once instead of once to build it and once more to
//! register it.

use prometheus::core::Collector;
use prometheus::Registry;

/// Registers `metric` in `registry` and hands it back, for a metrics struct's field.
pub fn register<M>(registry: &Registry, metric: M) -> prometheus::Result<M>
where
    M: Collector + Clone + 'static,
{
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registered_metric_is_gathered_and_cannot_be_registered_twice() {
        let registry = Registry::new();
        let counter = prometheus::IntCounter::new("hookline_test_total", "A test.").unwrap();
        let counter = register(&registry, counter).unwrap();
        counter.inc();
        assert_eq!(registry.gather()[0].name(), "hookline_test_total");
        let again = prometheus::IntCounter::new("hookline_test_total", "A test.").unwrap();
        assert!(register(&registry, again).is_err());
    }
}
