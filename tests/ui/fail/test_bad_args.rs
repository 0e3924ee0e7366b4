#[baton::test(cores = 0)]
async fn zero_cores() {}

#[baton::test(cores = -1)]
async fn negative_cores() {}

#[baton::test(cores = n)]
async fn not_a_literal() {}

#[baton::test(cores)]
async fn no_value() {}

#[baton::test(cores = 1, cores = 2)]
async fn twice() {}

#[baton::test(core = 1)]
async fn unknown() {}

#[baton::test(cores = 99999999999999999999999)]
async fn too_large() {}

fn main() {}
