//! Hookline consumers: from raw hooks in Kafka to analytics tables in ClickHouse.
//!
//! [`consumer`] reads the family topics in a consumer group and batches records;
//! [`projection`] turns each raw hook into the rows of every table it feeds; [`clickhouse`]
//! applies the schema migrations and inserts batches; [`dead_letter`] keeps what cannot be
//! projected; [`group`] follows the consumer group's rebalances, [`lag`] measures how far
//! behind the consumer is and [`membership`] notices a replica the group left without work. Configuration is in [`config`], metrics in [`prometheus`]; [`reproject`] rebuilds
//! typed tables from the raw hooks.

pub mod clickhouse;
pub mod config;
pub mod consumer;
pub mod dead_letter;
pub mod group;
pub mod lag;
pub mod membership;
pub mod projection;
pub mod prometheus;
pub mod reproject;
