//! Pins what `#[baton::main]`, `#[baton::test]` and `#[baton::blocking]` accept and how they
//! report mistakes: every file under `tests/ui/pass` must compile and run, every file under
//! `tests/ui/fail` must fail with the errors in the `.stderr` file beside it.
//!
//! After a deliberate change to the messages, regenerate the expectations with
//! `TRYBUILD=overwrite cargo test --test macros_ui` and review the diff.

#[test]
fn macros_ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
