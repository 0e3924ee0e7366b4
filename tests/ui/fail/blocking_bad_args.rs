#[baton::blocking(short)]
fn short() {}

#[baton::blocking(long = true)]
fn long_with_value() {}

#[baton::blocking(long, long)]
fn long_twice() {}

fn main() {
    short();
    long_with_value();
    long_twice();
}
