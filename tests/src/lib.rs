//! End-to-end tests of the whole Hookline pipeline, driven from outside as GitLab and an
//! analyst would: the tests are in `tests/tests/`, each on a local stack of its own
//! (`hookline_dev::stack`). The library holds only what the tests alone need: [`raw_http`],
//! requests only a bare TCP client can send.

pub mod raw_http;
