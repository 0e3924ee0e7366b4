// Every mistake in the arguments is reported, each at its place.
#[baton::main(cores = 0, cores = "4", threads = 2, flavor)]
async fn main() {}
