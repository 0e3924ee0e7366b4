#[baton::test(start_paused = 1)]
async fn not_a_bool() {}

#[baton::test(start_paused)]
async fn no_value() {}

#[baton::test(start_paused = true, start_paused = false)]
async fn twice() {}

#[baton::test(start_paused = true, cores = 2)]
async fn more_than_one_core() {}

fn main() {}
