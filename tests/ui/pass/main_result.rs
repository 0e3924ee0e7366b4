// The return type is kept, so `main` can return a `Result` and use `?` and early `return`.

use std::num::ParseIntError;

#[baton::main]
async fn main() -> Result<(), ParseIntError> {
    let n: u32 = "42".parse()?;
    if n == 42 {
        return Ok(());
    }
    unreachable!("returned early");
}
